import { BatonError } from '../runtime/errors.ts'
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
}

/**
 * What a pipeline module exports (through `definePipeline`).
 *
 * - `decode(record)` runs once per record, outside any transaction, before batching. It validates and
 *   maps the record; throwing makes the record a poison event: it goes to the dead-letter topic at once
 *   (decoding is deterministic, so retrying it would only repeat the failure).
 * - `handle(batch, tx)` writes the batch's effects through `tx`, inside the transaction that also moves
 *   the partition's watermark: the effects of a batch commit exactly once or not at all. It may run more
 *   than once for the same events (after a rollback, or on a smaller split of the batch while baton
 *   isolates a failing event), so it must not have effects outside `tx`. Throwing `PoisonEventError`
 *   dead-letters the events at once; any other error is retried with backoff, `BATON_MAX_RETRIES` times,
 *   then dead-letters the one event that keeps failing while the rest of the batch is stored.
 * - `migrations[kind]` are idempotent DDL statements run at start-up, before any partition is taken.
 * - `sinks` lists the sinks the pipeline's SQL supports (default: both); baton refuses to start a
 *   pipeline on a sink it does not list, and says so.
 */
export interface PipelineDefinition<E> {
  readonly name: string
  readonly sinks?: readonly SinkKind[]
  readonly migrations?: Partial<Record<SinkKind, readonly string[]>>
  decode?(record: SourceRecord): E
  handle(batch: Batch<E>, tx: SinkTx): Promise<void> | void
}

export interface Pipeline<E = unknown> extends PipelineDefinition<E> {
  readonly sinks: readonly SinkKind[]
  readonly decode: (record: SourceRecord) => E
}

/**
 * Declares a pipeline. A module named by `BATON_PIPELINE` exports it as `default` (or as `pipeline`).
 *
 * @example
 * export default definePipeline({
 *   name: 'orders',
 *   migrations: { postgres: ['create table if not exists orders (id text primary key, total numeric)'] },
 *   decode: (record) => JSON.parse(record.value?.toString() ?? 'null') as { id: string; total: number },
 *   async handle(batch, tx) {
 *     if (tx.kind !== 'postgres') throw new Error('orders needs PostgreSQL')
 *     const ids = batch.events.map((e) => e.value.id)
 *     const totals = batch.events.map((e) => e.value.total)
 *     await tx.sql`insert into orders select * from unnest(${ids}::text[], ${totals}::numeric[])
 *                  on conflict (id) do nothing`
 *   },
 * })
 */
export function definePipeline<E>(definition: PipelineDefinition<E>): Pipeline<E> {
  if (typeof definition?.name !== 'string' || definition.name.length === 0) {
    throw new BatonError('PIPELINE_INVALID', 'definePipeline needs a non-empty `name`.')
  }
  if (typeof definition.handle !== 'function') {
    throw new BatonError(
      'PIPELINE_INVALID',
      `Pipeline '${definition.name}' has no \`handle(batch, tx)\` function.`,
    )
  }
  return {
    ...definition,
    sinks: definition.sinks ?? ['postgres', 'sqlite'],
    decode: definition.decode ?? ((record) => record as unknown as E),
  }
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
