import { type Cancellable, type Clock, realClock } from '../core/clock.ts'
import { errorMessage } from '../core/errors.ts'
import type { PartitionFeed, PartitionKey, SourceRecord } from '../ports.ts'
import type { SqliteLog } from './log.ts'

type Deliver = (records: SourceRecord[]) => void | Promise<void>

export interface SqliteFeedOptions {
  /** Most records per delivery (default 500). */
  readonly maxRecords?: number
  /** Most key + value bytes per delivery, though a delivery always holds at least one record (default 1 MiB). */
  readonly maxBytes?: number
  /**
   * When caught up, the feed waits for the log's append signal, and reads again after this long anyway
   * (default 1,000 ms), which picks up appends made by another process. Also the pause after an error.
   */
  readonly idleMs?: number
  /** Called when a read fails or `deliver` rejects; the feed retries after `idleMs`. Default: console.error. */
  readonly onError?: (err: unknown, key: PartitionKey) => void
  /** Times the idle wait (default: the process clock); tests pass counting or manual ones. */
  readonly clock?: Clock
}

/**
 * The `PartitionFeed` of one partition of the embedded log, for one consumer group. It reads chunks from
 * its position and hands each to `deliver`, waiting for the returned promise before reading on (the
 * backpressure), and waits for the log's append signal when caught up rather than polling. Reads are
 * synchronous and delivered at once, so a seek never has fetched records to drop; a delivery already
 * handed over when `seek`, `pause` or `stop` is called stays handed over.
 *
 * `start` may be called again after `stop` (a restarted actor reuses its feed); a delivery of the previous
 * run that never settles does not hold up the new one. `deliver` rejecting means the records were not
 * taken: the feed reports it and offers them again after `idleMs`, unless a seek moved it elsewhere.
 * `commit` records the group's position in the log, which lets retention delete what it has passed.
 */
export class SqliteFeed implements PartitionFeed {
  readonly #log: SqliteLog
  readonly #key: PartitionKey
  readonly #maxRecords: number
  readonly #maxBytes: number
  readonly #idleMs: number
  readonly #onError: (err: unknown, key: PartitionKey) => void
  readonly #clock: Clock
  #state: 'new' | 'running' | 'paused' | 'stopped' = 'new'
  #deliver: Deliver | null = null
  #position = 0
  /** Bumped by start and stop: a loop of an older run exits at its next step and touches nothing. */
  #run = 0
  /** The run whose loop is active, if any. */
  #looping: number | null = null
  /** Bumped by start and seek: a failed delivery from before a seek does not move the position back. */
  #generation = 0
  #wake: (() => void) | null = null
  #timer: Cancellable | null = null
  #unsubscribe: (() => void) | null = null

  constructor(log: SqliteLog, key: PartitionKey, options: SqliteFeedOptions = {}) {
    this.#log = log
    this.#key = key
    this.#maxRecords = options.maxRecords ?? 500
    this.#maxBytes = options.maxBytes ?? 1024 * 1024
    this.#idleMs = options.idleMs ?? 1_000
    this.#onError =
      options.onError ??
      ((err, k) =>
        console.error(`embedded feed ${k.topic}/${k.partition} (${k.group}): ${errorMessage(err)}`))
    this.#clock = options.clock ?? realClock
  }

  start(offset: number, deliver: Deliver): void {
    this.#run++
    this.#generation++
    this.#state = 'running'
    this.#deliver = deliver
    this.#position = offset
    this.#unsubscribe ??= this.#log.onAppend(this.#key.topic, this.#key.partition, () => this.#kick())
    this.#interrupt()
    this.#kick()
  }

  pause(): void {
    if (this.#state !== 'running') return
    this.#state = 'paused'
    this.#interrupt()
  }

  resume(): void {
    if (this.#state !== 'paused') return
    this.#state = 'running'
    this.#kick()
  }

  seek(offset: number): void {
    this.#position = offset
    this.#generation++
    this.#kick()
  }

  stop(): void {
    this.#run++
    this.#state = 'stopped'
    this.#deliver = null
    this.#unsubscribe?.()
    this.#unsubscribe = null
    this.#interrupt()
  }

  endOffset(): number | undefined {
    try {
      return this.#log.endOffset(this.#key.topic, this.#key.partition)
    } catch {
      return undefined
    }
  }

  async initialOffset(): Promise<number> {
    return this.#log.startOffset(this.#key.topic, this.#key.partition)
  }

  async commit(nextOffset: number): Promise<void> {
    this.#log.commitConsumer(this.#key.group, this.#key.topic, this.#key.partition, nextOffset)
  }

  /** Makes a running feed read now: wakes its waiting loop, or starts one. */
  #kick(): void {
    if (this.#state !== 'running') return
    if (this.#looping === this.#run) this.#interrupt()
    else void this.#loop(this.#run)
  }

  async #loop(run: number): Promise<void> {
    this.#looping = run
    const live = () => this.#run === run && this.#state === 'running'
    try {
      while (live()) {
        const deliver = this.#deliver as Deliver
        const generation = this.#generation
        const from = this.#position
        let records: SourceRecord[]
        try {
          records = this.#log.read(
            this.#key.topic,
            this.#key.partition,
            from,
            this.#maxRecords,
            this.#maxBytes,
          )
        } catch (err) {
          this.#onError(err, this.#key)
          await this.#idle()
          continue
        }
        const last = records.at(-1)
        if (!last) {
          await this.#idle()
          continue
        }
        this.#position = last.offset + 1
        try {
          await deliver(records)
        } catch (err) {
          if (this.#run !== run) return
          this.#onError(err, this.#key)
          if (this.#generation === generation) this.#position = from
          await this.#idle()
          continue
        }
        // A deliver that never makes us wait would otherwise keep this loop in microtasks until the
        // partition is drained, starving timers and I/O.
        await new Promise<void>((resolve) => setImmediate(resolve))
      }
    } finally {
      if (this.#looping === run) this.#looping = null
    }
  }

  /** Waits for an append, a state change or `idleMs`, whichever comes first. */
  #idle(): Promise<void> {
    if (this.#state !== 'running') return Promise.resolve()
    return new Promise<void>((resolve) => {
      this.#wake = resolve
      this.#timer = this.#clock.schedule(this.#idleMs, () => {
        this.#timer = null
        this.#wake = null
        resolve()
      })
    })
  }

  #interrupt(): void {
    if (this.#timer !== null) {
      this.#timer.cancel()
      this.#timer = null
    }
    const wake = this.#wake
    this.#wake = null
    wake?.()
  }
}
