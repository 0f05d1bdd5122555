import { BatonError } from './core/errors.ts'
import type { SinkKind, SinkTx, SourceRecord } from './ports.ts'

/** One decoded event of a batch, with the record it came from (topic, partition, offset, key, time). */
export interface PipelineEvent<E> {
  readonly record: SourceRecord
  readonly value: E
}

/** The events a pipeline handles in one transaction: consecutive offsets of one partition, in order. */
export interface Batch<E> {
  readonly topic: string
  readonly partition: number
  readonly events: readonly PipelineEvent<E>[]
  /**
   * True for events released from a key's quarantine (onPoison 'quarantine-key'): they are in offset order
   * for their key, but come after later events of other keys of the partition.
   */
  readonly released?: boolean
}

/** Which partition a hook or a state loader is called for, and the epoch its actor took it with. */
export interface PartitionInfo {
  readonly topic: string
  readonly partition: number
  readonly epoch: number
}

/**
 * A validating schema in the Standard Schema form (https://standardschema.dev), which zod, valibot and
 * arktype schemas all are: `schema: z.object({...})` works as it is.
 */
export interface StandardSchema<Output> {
  readonly '~standard': {
    readonly version: 1
    readonly vendor: string
    validate(
      value: unknown,
    ):
      | { readonly value: Output; readonly issues?: undefined }
      | { readonly issues: readonly { readonly message: string; readonly path?: readonly unknown[] }[] }
      | Promise<unknown>
  }
}

/**
 * Per-partition state a pipeline keeps in memory between batches. `load` builds it from the sink (never
 * from memory) when the partition's actor starts, restarts or takes the partition over from another
 * node, in a transaction of its own. `handle` may change it as it writes a batch; if that batch's
 * transaction does not commit, baton throws the state away and calls `load` again before it retries,
 * so the state always matches what the sink holds.
 */
export interface PipelineState<S> {
  load(partition: PartitionInfo, tx: SinkTx): Promise<S> | S
}

/** A stateless pipeline's `handle(batch, tx)` needs no third argument; a stateful one gets its state. */
export type StateArgument<S> = undefined extends S ? [state?: S] : [state: S]

/**
 * What a pipeline module exports (through `definePipeline`).
 *
 * - `schema` validates each record's value, parsed as JSON; a value that is not JSON or fails the
 *   schema is a poison event, dead-lettered with the schema's message. `decode(record)` does the same
 *   job by hand (it wins over `schema`). Either runs once per record, outside any transaction, before
 *   batching, and is deterministic: a failure is not retried.
 * - `handle(batch, tx, state)` writes the batch's effects through `tx`, inside the transaction that also
 *   moves the partition's watermark: the effects of a batch commit exactly once or not at all. It may
 *   run more than once for the same events (after a rollback, or on a smaller split of the batch while
 *   baton isolates a failing event), so it must not have effects outside `tx`. Throwing
 *   `PoisonEventError` dead-letters the events at once; any other error is retried with backoff,
 *   `BATON_MAX_RETRIES` times, then dead-letters the one event that keeps failing while the rest of the
 *   batch is stored.
 * - `state` (see PipelineState): in-memory per-partition state, rebuilt from the sink.
 * - `onAssign(partition, state)` runs when this node's actor has taken the partition (epoch claimed, state
 *   loaded), before its first batch. `onRevoke(partition, state)` runs when the partition leaves the
 *   actor in an orderly way (revoke, node stop), after its last batch committed; it does not run when the
 *   actor crashes or is fenced, so it must not be needed for correctness. Both run on the partition
 *   actor's turn: while they run, the partition's batches wait. Neither gets a transaction.
 * - `migrations[kind]` are idempotent DDL statements run at start-up, before any partition is taken.
 * - `onPoison` (default 'dead-letter'): what a dead-lettered event does to the events of its key after it.
 *   'dead-letter': nothing, they are handled at once. 'quarantine-key': they are held (table
 *   `baton_quarantine`) until an operator retries or skips the letter, then released to `handle` in offset
 *   order (`batch.released`); other keys flow meanwhile. Choose it only when the state is per key: order
 *   then holds per key, not per partition. Keyless events are never held.
 * - `sinks` lists the sinks the pipeline's SQL supports (default: both); baton refuses to start a
 *   pipeline on a sink it does not list, and says so.
 * - `copyOnly`: on PostgreSQL, `handle` only hands rows to `tx.copy` and runs no statement (the event
 *   store). Batches of such a pipeline that share a transaction need no savepoint each: their rows are
 *   made first, their watermarks move in one round trip, and only the rows of those that moved are sent.
 *   `tx.sql` throws there. A pipeline with `state` cannot be copyOnly (its `handle` would change the state
 *   of a batch that may still be refused).
 */
export interface PipelineDefinition<E, S = undefined> {
  readonly name: string
  readonly sinks?: readonly SinkKind[]
  readonly onPoison?: 'dead-letter' | 'quarantine-key'
  readonly migrations?: Partial<Record<SinkKind, readonly string[]>>
  readonly schema?: StandardSchema<E>
  decode?(record: SourceRecord): E
  readonly state?: PipelineState<S>
  handle(batch: Batch<E>, tx: SinkTx, ...state: StateArgument<S>): Promise<void> | void
  onAssign?(partition: PartitionInfo, state: S): Promise<void> | void
  onRevoke?(partition: PartitionInfo, state: S): Promise<void> | void
  readonly copyOnly?: boolean
}

export interface Pipeline<E = unknown, S = unknown> extends PipelineDefinition<E, S> {
  readonly sinks: readonly SinkKind[]
  readonly decode: (record: SourceRecord) => E
}

/**
 * Declares a pipeline. A module named by `BATON_PIPELINE` exports it as `default` (or as `pipeline`).
 *
 * @example
 * export default definePipeline({
 *   name: 'orders',
 *   schema: z.object({ id: z.string(), total: z.number() }),
 *   migrations: { postgres: ['create table if not exists orders (id text primary key, total numeric)'] },
 *   async handle(batch, tx) {
 *     if (tx.kind !== 'postgres') throw new Error('orders needs PostgreSQL')
 *     const ids = batch.events.map((e) => e.value.id)
 *     const totals = batch.events.map((e) => e.value.total)
 *     await tx.sql`insert into orders select * from unnest(${ids}::text[], ${totals}::numeric[])
 *                  on conflict (id) do update set total = excluded.total`
 *   },
 * })
 */
export function definePipeline<E, S = undefined>(definition: PipelineDefinition<E, S>): Pipeline<E, S> {
  if (typeof definition?.name !== 'string' || definition.name.length === 0) {
    throw new BatonError('PIPELINE_INVALID', 'definePipeline needs a non-empty `name`.')
  }
  if (typeof definition.handle !== 'function') {
    throw new BatonError(
      'PIPELINE_INVALID',
      `Pipeline '${definition.name}' has no \`handle(batch, tx)\` function.`,
    )
  }
  if (definition.onPoison !== undefined && !['dead-letter', 'quarantine-key'].includes(definition.onPoison)) {
    throw new BatonError(
      'PIPELINE_INVALID',
      `Pipeline '${definition.name}' has onPoison '${String(definition.onPoison)}'; use 'dead-letter' (the default) or 'quarantine-key'.`,
    )
  }
  if (definition.copyOnly && definition.state) {
    throw new BatonError(
      'PIPELINE_INVALID',
      `Pipeline '${definition.name}' has \`state\` and \`copyOnly\`: a copy-only handle runs before its ` +
        "batch's watermark is checked, so a refused batch would have changed the state. Drop `copyOnly`.",
    )
  }
  const { schema } = definition
  const decode =
    definition.decode?.bind(definition) ??
    (schema
      ? (record: SourceRecord) => validate(schema, record)
      : (record: SourceRecord) => record as unknown as E)
  return { ...definition, sinks: definition.sinks ?? ['postgres', 'sqlite'], decode }
}

function validate<E>(schema: StandardSchema<E>, record: SourceRecord): E {
  let json: unknown
  try {
    json = JSON.parse(record.value?.toString('utf8') ?? 'null')
  } catch (err) {
    throw new PoisonEventError(
      `The value at offset ${record.offset} is not valid JSON: ${(err as Error).message}`,
      {
        cause: err,
      },
    )
  }
  const result = schema['~standard'].validate(json)
  if (result instanceof Promise) {
    throw new BatonError(
      'PIPELINE_INVALID',
      'The pipeline schema validates asynchronously; baton needs a synchronous schema.',
    )
  }
  const { issues } = result as { issues?: readonly { message: string; path?: readonly unknown[] }[] }
  if (issues) {
    const first = issues
      .slice(0, 3)
      .map((i) =>
        i.path?.length
          ? `${i.path.map((p) => (typeof p === 'object' && p ? (p as { key: unknown }).key : p)).join('.')}: ${i.message}`
          : i.message,
      )
      .join('; ')
    throw new PoisonEventError(`The value at offset ${record.offset} fails the schema: ${first}`)
  }
  return (result as { value: E }).value
}

/**
 * Thrown by `decode` or `handle` for an event that can never succeed (bad schema, unknown reference):
 * the event is dead-lettered at once, without retries.
 */
export class PoisonEventError extends BatonError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('POISON_EVENT', message, options)
    this.name = 'PoisonEventError'
  }
}
