import { BatonError, errorMessage } from '../core/errors.ts'
import type { Pipeline } from '../pipeline.ts'
import type { PartitionKey, SinkTx, SourceRecord } from '../ports.ts'
import type { QuarantineStore, ReleaseOutcome } from '../quarantine.ts'
import { classifyFailure, failureCode } from './failure.ts'
import type { QuarantinedKeys } from './quarantined-keys.ts'

/** Held rows one release transaction takes: big enough to amortise the commit, small enough to retry. */
const TAKE = 500

export interface ReleaseContext<E> {
  readonly key: PartitionKey
  readonly epoch: number
  readonly store: QuarantineStore
  readonly pipeline: Pipeline<E>
  readonly keys: QuarantinedKeys
  /** The pipeline's per-partition state, handed to `handle`. */
  readonly state: () => unknown
  /** Called after a transaction failed: `handle` may have changed the state, which is rebuilt. */
  readonly afterFailure: () => Promise<void>
}

export interface ReleaseRequest {
  readonly letterId: number
  readonly recordKey: Buffer
  readonly outcome: ReleaseOutcome
  /** The dead-lettered event, applied again for `retried`. */
  readonly letter: SourceRecord
}

/** How far a release went: `done` when the key flows normally again. */
export interface ReleaseProgress {
  readonly done: boolean
  readonly released: number
  /** Set when a released event failed: it is the key's new head letter, and the rest stay held. */
  readonly newHeadLetterId?: number
}

/**
 * The first transaction of a release: marks the letter retried or skipped and its key `releasing`, and for
 * a retry applies the letter's event through `decode`/`handle` (`batch.released`). Throws
 * QUARANTINE_CONFLICT when the key is not held by this letter any more, and the event's own error (nothing
 * changed) when the retried event fails again; FENCED and SINK_UNAVAILABLE as the store throws them.
 */
export async function markRelease<E>(ctx: ReleaseContext<E>, req: ReleaseRequest): Promise<ReleaseProgress> {
  if (ctx.keys.state(req.recordKey) !== 'quarantined') {
    throw new BatonError(
      'QUARANTINE_CONFLICT',
      `Dead letter ${req.letterId} holds no quarantined key of ${ctx.key.topic}/${ctx.key.partition} any more: it was retried or skipped already.`,
    )
  }
  try {
    const result = await ctx.store.release({
      key: ctx.key,
      epoch: ctx.epoch,
      recordKey: req.recordKey,
      mark: { letterId: req.letterId, outcome: req.outcome, letter: req.letter },
      take: 0,
      apply: (records, tx) =>
        req.outcome === 'retried' ? handleReleased(ctx, records, tx) : Promise.resolve(),
    })
    ctx.keys.setState(req.recordKey, result.done ? null : 'releasing')
    return { done: result.done, released: 0 }
  } catch (err) {
    if (handleFailed(err)) await ctx.afterFailure()
    throw err
  }
}

/**
 * Releases up to `maxSteps` transactions of `recordKey`'s held events in offset order, each fenced by the
 * epoch; the last one un-quarantines the key. A transaction that fails is tried again with the head row
 * alone; when that row fails it becomes the key's new head letter and the key is `quarantined` again.
 */
export async function releaseHeld<E>(
  ctx: ReleaseContext<E>,
  recordKey: Buffer,
  maxSteps: number,
): Promise<ReleaseProgress> {
  let released = 0
  let take = TAKE
  for (let step = 0; step < maxSteps; step++) {
    let taken: readonly SourceRecord[] = []
    try {
      const result = await ctx.store.release({
        key: ctx.key,
        epoch: ctx.epoch,
        recordKey,
        mark: null,
        take,
        apply: (records, tx) => {
          taken = records
          return handleReleased(ctx, records, tx)
        },
      })
      released += result.applied.length
      ctx.keys.events -= result.applied.length
      if (result.done) {
        ctx.keys.setState(recordKey, null)
        return { done: true, released }
      }
    } catch (err) {
      if (!handleFailed(err)) throw err
      await ctx.afterFailure()
      if (taken.length > 1) {
        take = 1
        continue
      }
      const record = taken[0]
      if (!record) throw err
      const newHeadLetterId = await ctx.store.newHead({
        key: ctx.key,
        epoch: ctx.epoch,
        record,
        error: errorMessage(err),
        code: failureCode(err),
        attempts: 1,
      })
      ctx.keys.events -= 1
      ctx.keys.setState(recordKey, 'quarantined')
      return { done: false, released, newHeadLetterId }
    }
  }
  return { done: false, released }
}

/** True when `handle` or `decode` refused (the event's fault), not the sink or the fence. */
function handleFailed(err: unknown): boolean {
  const kind = classifyFailure(err)
  return kind === 'event' || kind === 'poison'
}

async function handleReleased<E>(
  ctx: ReleaseContext<E>,
  records: readonly SourceRecord[],
  tx: SinkTx,
): Promise<void> {
  if (records.length === 0) return
  const events = records.map((record) => ({ record, value: ctx.pipeline.decode(record) }))
  await ctx.pipeline.handle(
    { topic: ctx.key.topic, partition: ctx.key.partition, events, released: true },
    tx,
    ctx.state(),
  )
}
