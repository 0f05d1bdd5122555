import type { Clock } from '../core/clock.ts'
import { errorMessage } from '../core/errors.ts'
import type { Pipeline } from '../pipeline.ts'
import type { DeadLetter, PartitionKey, Sink, SinkTx } from '../ports.ts'
import type { BatchItem } from './batcher.ts'
import { classifyFailure, endsInstance, type FailureKind, failureCode } from './failure.ts'
import { QuarantinedKeys } from './quarantined-keys.ts'

export interface CommitContext<E> {
  readonly key: PartitionKey
  readonly epoch: number
  readonly sink: Sink
  readonly pipeline: Pipeline<E>
  /** How many times an isolated event is retried before it is dead-lettered. */
  readonly maxRetries: number
  /** Times the pipeline's `handle` and the commit (the actor's clock). */
  readonly clock: Clock
  /** Waits before retry `attempt` (1-based) of an isolated event. */
  readonly retryDelay: (attempt: number) => Promise<void>
  /** Called after every transaction that committed, in offset order, with the new watermark. */
  readonly onCommitted: (progress: Committed) => void
  /** The pipeline's per-partition state, handed to `handle`. */
  readonly state: () => unknown
  /**
   * Called after a transaction failed, before anything is retried: the pipeline's state may hold
   * changes of the batch that did not commit, so it is rebuilt from the sink.
   */
  readonly afterFailure: () => Promise<void>
  /** The partition's quarantined keys (onPoison 'quarantine-key'); none when omitted. */
  readonly quarantine?: QuarantinedKeys
}

const noQuarantine = new QuarantinedKeys('dead-letter', 0)

/** Failures that the caller handles: no split or retry of the items can cure them. */
const passesUp = (kind: FailureKind) => endsInstance(kind) || kind === 'unavailable' || kind === 'full'

export interface Committed {
  readonly fromOffset: number | null
  readonly toOffset: number
  readonly events: number
  readonly deadLetters: readonly DeadLetter[]
  /** Events of quarantined keys held in `baton_quarantine` instead of handled. */
  readonly held: number
  /** Offsets of this transaction's dead letters that quarantined their key. */
  readonly quarantinedAt: readonly number[]
  readonly handleMs: number
  readonly commitMs: number
  /** Event time of the first record committed: the oldest, so the batch's worst end-to-end latency. */
  readonly firstEventTime: number
  /** Event time of the last record committed (for lag in seconds). */
  readonly lastEventTime: number
}

/**
 * Commits `items` (consecutive records of one partition, in offset order) starting at watermark `from`,
 * and returns the new watermark. Normally that is one transaction. When the pipeline or the database
 * refuses the batch, the batch is split in halves and each half committed in turn, down to the one event
 * at fault, which is retried `maxRetries` times and then dead-lettered in the transaction that moves the
 * watermark past it; the events around it are stored in order. FENCED, WATERMARK_MISMATCH and
 * SINK_UNAVAILABLE errors are thrown as they are: the caller decides (stop, restart, or back off and call
 * again with the items past the watermark reported through `onCommitted`).
 */
export async function commitItems<E>(
  ctx: CommitContext<E>,
  from: number | null,
  items: readonly BatchItem<E>[],
): Promise<number> {
  try {
    return await commitOnce(ctx, from, items, null)
  } catch (err) {
    const kind = classifyFailure(err)
    if (passesUp(kind)) throw err
    await ctx.afterFailure()
    if (items.length > 1) {
      const mid = items.length >>> 1
      const left = await commitItems(ctx, from, items.slice(0, mid))
      return commitItems(ctx, left, items.slice(mid))
    }
    return isolate(ctx, from, items[0] as BatchItem<E>, err)
  }
}

async function isolate<E>(ctx: CommitContext<E>, from: number | null, item: BatchItem<E>, first: unknown) {
  let error = first
  let attempts = 1
  while (classifyFailure(error) === 'event' && attempts <= ctx.maxRetries) {
    await ctx.retryDelay(attempts)
    attempts++
    try {
      return await commitOnce(ctx, from, [item], null)
    } catch (err) {
      const kind = classifyFailure(err)
      if (passesUp(kind)) throw err
      await ctx.afterFailure()
      error = err
    }
  }
  const letter: DeadLetter = {
    record: item.record,
    error: errorMessage(error),
    code: failureCode(error),
    attempts,
  }
  return commitOnce(ctx, from, [], letter, item)
}

async function commitOnce<E>(
  ctx: CommitContext<E>,
  from: number | null,
  items: readonly BatchItem<E>[],
  extraDead: DeadLetter | null,
  deadItem?: BatchItem<E>,
): Promise<number> {
  const plan = (ctx.quarantine ?? noQuarantine).plan(items, extraDead)
  const { events, deadLetters, quarantine } = plan
  const first = (items[0] ?? deadItem) as BatchItem<E>
  const last = (items[items.length - 1] ?? deadItem) as BatchItem<E>
  const toOffset = last.record.offset + 1
  let handleMs = 0
  const work =
    events.length === 0
      ? null
      : async (tx: SinkTx) => {
          const started = ctx.clock.now()
          await ctx.pipeline.handle(
            { topic: ctx.key.topic, partition: ctx.key.partition, events },
            tx,
            ctx.state(),
          )
          handleMs = ctx.clock.now() - started
        }
  const started = ctx.clock.now()
  await ctx.sink.commit({
    key: ctx.key,
    epoch: ctx.epoch,
    fromOffset: from,
    toOffset,
    deadLetters,
    work,
    copyOnly: ctx.pipeline.copyOnly === true,
    ...(quarantine && { quarantine }),
  })
  plan.committed()
  const commitMs = ctx.clock.now() - started - handleMs
  ctx.onCommitted({
    fromOffset: from,
    toOffset,
    events: events.length,
    deadLetters,
    held: quarantine?.held.length ?? 0,
    quarantinedAt: quarantine?.newKeys.map((k) => k.letterOffset) ?? [],
    handleMs,
    commitMs,
    firstEventTime: first.record.timestamp,
    lastEventTime: last.record.timestamp,
  })
  return toOffset
}
