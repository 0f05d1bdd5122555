import type { Cancellable, Clock } from '../core/clock.ts'
import { realClock } from '../core/clock.ts'
import { type TopicPartition, tpString } from '../ports.ts'
import type { KafkaLog } from './kafka-client.ts'

/** An offset to commit: the next offset to read, as Kafka's group offsets mean it. */
export interface OffsetToCommit extends TopicPartition {
  readonly offset: number
}

/** What became of one partition's commit: done, worth another try, or refused for good. */
export type CommitOutcome = 'ok' | 'retry' | 'drop'

/** Sends one batch of commits to the group coordinator; answers per partition (key: `tpString`). */
export type CommitSender = (offsets: readonly OffsetToCommit[]) => Promise<Map<string, CommitOutcome>>

interface Pending {
  readonly tp: TopicPartition
  offset: number
  readonly waiters: (() => void)[]
}

/**
 * Coalesces the commits of all partitions of a node into at most one OffsetCommit request per
 * `intervalMs`: only the latest offset per partition is sent. Committing is best effort (the sink's
 * watermark is the record of progress; Kafka's group offsets are for lag tooling), so `commit` never
 * rejects: its promise settles once a request carrying this offset (or a later one) was answered, and a
 * partition whose commit can be retried stays pending for the next round.
 */
export class OffsetCommitter {
  readonly #send: CommitSender
  readonly #intervalMs: number
  readonly #log: KafkaLog
  readonly #pending = new Map<string, Pending>()
  readonly #clock: Clock
  #timer: Cancellable | null = null
  #flushing: Promise<void> = Promise.resolve()
  #warned = false

  constructor(send: CommitSender, intervalMs: number, log: KafkaLog, clock: Clock = realClock) {
    this.#send = send
    this.#clock = clock
    this.#intervalMs = intervalMs
    this.#log = log
  }

  commit(tp: TopicPartition, nextOffset: number): Promise<void> {
    return new Promise((resolve) => {
      const key = tpString(tp)
      const pending = this.#pending.get(key)
      if (pending) {
        pending.offset = nextOffset
        pending.waiters.push(resolve)
      } else {
        this.#pending.set(key, {
          tp: { topic: tp.topic, partition: tp.partition },
          offset: nextOffset,
          waiters: [resolve],
        })
      }
      this.#timer ??= this.#clock.schedule(this.#intervalMs, () => {
        this.#timer = null
        void this.flush()
      })
    })
  }

  /** Sends what is pending now (for `partitions` only, when given) and waits for the answer. */
  flush(partitions?: readonly TopicPartition[]): Promise<void> {
    const keys = partitions ? new Set(partitions.map(tpString)) : null
    this.#flushing = this.#flushing.then(() => this.#flushOnce(keys)).catch((err) => this.#warnOnce(err))
    return this.#flushing
  }

  /** Drops pending commits of partitions this node no longer owns (their waiters settle). */
  forget(partitions: readonly TopicPartition[]): void {
    for (const tp of partitions) {
      const pending = this.#pending.get(tpString(tp))
      if (!pending) continue
      this.#pending.delete(tpString(tp))
      for (const settle of pending.waiters) settle()
    }
  }

  /** Flushes everything pending once more, then drops what still failed. */
  async close(): Promise<void> {
    this.#timer?.cancel()
    this.#timer = null
    await this.flush()
    this.forget([...this.#pending.values()].map((pending) => pending.tp))
  }

  async #flushOnce(keys: Set<string> | null): Promise<void> {
    const batch: Pending[] = []
    for (const [key, pending] of this.#pending) {
      if (keys && !keys.has(key)) continue
      batch.push(pending)
      this.#pending.delete(key)
    }
    if (batch.length === 0) return
    let outcomes: Map<string, CommitOutcome>
    try {
      outcomes = await this.#send(batch.map(({ tp, offset }) => ({ ...tp, offset })))
    } catch (err) {
      outcomes = new Map(batch.map((pending) => [tpString(pending.tp), 'retry' as const]))
      this.#warnOnce(err)
    }
    let retry = false
    for (const pending of batch) {
      const key = tpString(pending.tp)
      for (const settle of pending.waiters) settle()
      pending.waiters.length = 0
      if (outcomes.get(key) !== 'retry' || this.#pending.has(key)) continue
      this.#pending.set(key, pending)
      retry = true
    }
    if (!retry) this.#warned = false
    if (retry && !this.#timer && this.#pending.size > 0) {
      this.#timer = this.#clock.schedule(Math.max(this.#intervalMs, 1_000), () => {
        this.#timer = null
        void this.flush()
      })
    }
  }

  #warnOnce(err: unknown): void {
    if (this.#warned) return
    this.#warned = true
    this.#log('warn', 'committing group offsets failed; retrying (lag tooling lags behind meanwhile)', {
      error: err instanceof Error ? err.message : String(err),
    })
  }
}
