import { retries } from '../core/backoff.ts'
import type { Clock } from '../core/clock.ts'
import type { BatonError } from '../core/errors.ts'
import type { PartitionFeed, SourceRecord, TopicPartition } from '../ports.ts'
import type { FetchBudget } from './fetch-budget.ts'
import { brokerBackoff, type KafkaLog } from './kafka-client.ts'
import { corruptBatchError, type DecodedPartition } from './record-decoder.ts'

type Deliver = (records: SourceRecord[], taken: () => void) => void | Promise<void>
type OnCorrupt = (error: BatonError | null) => void

/** What a feed needs from the source that owns it. */
export interface FeedHost {
  /** The partition may have become fetchable (started, resumed, moved, or its delivery settled). */
  wake(feed: KafkaPartitionFeed): void
  initialOffset(tp: TopicPartition): Promise<number>
  commit(feed: KafkaPartitionFeed, nextOffset: number): Promise<void>
  readonly log: KafkaLog
  /** The source's clock: retry times are readings of it. */
  readonly clock: Clock
  /** The node's budget of fetched, untaken bytes: every chunk the feed hands over holds its bytes there. */
  readonly budget: FetchBudget
}

/** Fetched records on their way to the actor, and the bytes they hold in the budget until it committed them. */
interface Chunk {
  readonly records: SourceRecord[]
  readonly bytes: number
  readonly release: () => void
}

/** A partition's fetch request as the fetcher snapshots it; the generation tells a stale answer apart. */
export interface FeedRequest {
  readonly feed: KafkaPartitionFeed
  readonly generation: number
  readonly offset: number
}

/** How long a partition waits before it is fetched again after its `deliver` failed. */
const REDELIVER_AFTER_MS = 1_000
/**
 * How long a partition waits before it fetches a corrupt batch again: soon at first (a flip on the way
 * heals by itself), then up to every 10 s (a batch damaged on the broker's disk stays so until an
 * operator acts), so a corrupt partition costs the broker little.
 */
const CORRUPT_RETRY = brokerBackoff(200, 10_000)

/**
 * The Kafka side of one assigned partition: its fetch position and delivery state. The partition actor
 * sees it as a `PartitionFeed`; the fetcher drives it through the methods below the port's.
 *
 * Every change of position (`start`, `seek`, `stop`) bumps a generation; a fetch response that was asked
 * for under an older generation is dropped, so nothing from before a seek is ever delivered after it.
 * At most one delivery is in flight: while `deliver`'s promise is pending (the actor's mailbox is full)
 * the partition is left out of fetch requests, so a slow actor stops its own fetching and nobody else's.
 * After `pause()` returns, `deliver` is not called until `resume()`; records that arrive in between are
 * held (one fetch response's worth at most) and handed over on resume.
 *
 * Every chunk holds its bytes in the node's fetch budget from the fetch until the actor calls `taken`
 * (or the feed stops, or a failed delivery drops it); `heldBytes` is the sum, which the fetcher keeps
 * within the partition's share of the budget.
 *
 * A batch that fails its CRC-32C check stops the partition at that batch: the records before it are
 * delivered, the position stays at it, it is fetched again with capped backoff, and `onCorrupt` hears of
 * every corrupt copy, then `null` once a sound copy moved the position past it.
 */
export class KafkaPartitionFeed implements PartitionFeed {
  readonly tp: TopicPartition
  readonly #host: FeedHost
  /** The broker leading this partition, as the fetcher last routed it; undefined while unknown. */
  node: number | undefined
  topicId: string | undefined
  #deliver: Deliver | null = null
  #onCorrupt: OnCorrupt | null = null
  /** The offset of the corrupt batch the partition is held at; null when it flows. */
  #corruptAt: number | null = null
  readonly #corruptRetry = retries(CORRUPT_RETRY)
  #started = false
  #stopped = false
  #paused = false
  #position = 0
  #generation = 0
  #delivering = false
  #held: Chunk | null = null
  /** Chunks fetched and not yet taken by the actor (nor dropped). */
  readonly #untaken = new Set<Chunk>()
  #heldBytes = 0
  #resetting = false
  #retryAt = 0
  #endOffset: number | undefined
  #problem: string | null = null

  constructor(tp: TopicPartition, host: FeedHost) {
    this.tp = { topic: tp.topic, partition: tp.partition }
    this.#host = host
  }

  start(offset: number, deliver: Deliver, onCorrupt?: OnCorrupt): void {
    this.#generation++
    this.#deliver = deliver
    this.#onCorrupt = onCorrupt ?? null
    this.#corruptAt = null
    this.#corruptRetry.reset()
    this.#started = true
    this.#stopped = false
    this.#paused = false
    this.#position = offset
    this.#drop(this.#held)
    this.#held = null
    this.#resetting = false
    this.#retryAt = 0
    this.#host.wake(this)
  }

  pause(): void {
    this.#paused = true
  }

  resume(): void {
    if (!this.#paused) return
    this.#paused = false
    const held = this.#held
    if (held && !this.#delivering) {
      this.#held = null
      this.#hand(held)
    }
    this.#host.wake(this)
  }

  seek(offset: number): void {
    this.#generation++
    this.#position = offset
    this.#drop(this.#held)
    this.#held = null
    this.#resetting = false
    this.#retryAt = 0
    // Away from the corrupt batch (or back to it, when it is found again): the partition flows for now.
    this.#sound()
    this.#host.wake(this)
  }

  stop(): void {
    this.#generation++
    this.#stopped = true
    this.#started = false
    this.#deliver = null
    this.#onCorrupt = null
    this.#held = null
    // What is still in the actor's mailbox is dropped with the actor: its bytes are free again.
    for (const chunk of [...this.#untaken]) this.#drop(chunk)
  }

  endOffset(): number | undefined {
    return this.#endOffset
  }

  initialOffset(): Promise<number> {
    return this.#host.initialOffset(this.tp)
  }

  commit(nextOffset: number): Promise<void> {
    return this.#host.commit(this, nextOffset)
  }

  // ---- driven by the fetcher ----

  /** When this partition can next be fetched: 0 now, a time to retry at, or Infinity until woken. */
  readyAt(now: number): number {
    if (!this.#started || this.#stopped || this.#paused || this.#delivering) return Number.POSITIVE_INFINITY
    if (this.#held !== null || this.#resetting || this.node === undefined) return Number.POSITIVE_INFINITY
    return this.#retryAt > now ? this.#retryAt : 0
  }

  request(): FeedRequest {
    return { feed: this, generation: this.#generation, offset: this.#position }
  }

  isCurrent(generation: number): boolean {
    return generation === this.#generation && !this.#stopped
  }

  get stopped(): boolean {
    return this.#stopped
  }

  /** A delivery is pending while the broker holds more records for this partition (it will be ready soon). */
  get backlogged(): boolean {
    return this.#delivering && this.#endOffset !== undefined && this.#endOffset > this.#position
  }

  /** Bytes of fetched records not yet taken by the actor: what counts against the partition's share. */
  get heldBytes(): number {
    return this.#heldBytes
  }

  /** What went wrong with this partition's last fetch (null when it went fine), for the source's status. */
  get problem(): string | null {
    return this.#problem
  }

  /**
   * Takes a fetch answer: moves the position and hands the records over (or holds them while paused).
   * A corrupt batch in it holds the position there and backs off (see the class comment). `bytes`: the
   * size of the partition's records in the response, held in the budget until the actor committed them.
   */
  accept(generation: number, decoded: DecodedPartition, highWatermark: number, bytes: number): void {
    if (!this.isCurrent(generation)) return
    if (highWatermark >= 0) this.#endOffset = highWatermark
    this.#position = decoded.nextOffset
    this.#retryAt = 0
    this.#problem = null
    if (decoded.corrupt) this.#corrupted(decoded.corrupt.firstOffset)
    else if (this.#corruptAt !== null && decoded.nextOffset > this.#corruptAt) this.#sound()
    if (decoded.records.length === 0) return
    const chunk: Chunk = { records: decoded.records, bytes, release: this.#host.budget.hold(bytes) }
    this.#untaken.add(chunk)
    this.#heldBytes += bytes
    if (this.#paused) this.#held = chunk
    else this.#hand(chunk)
  }

  /** Keeps the position and fetches again no earlier than `delayMs` from now. */
  backOff(generation: number, delayMs: number, problem: string): void {
    if (!this.isCurrent(generation)) return
    this.#retryAt = this.#host.clock.now() + delayMs
    this.#problem = problem
  }

  /** Leaves the partition out of fetches while its new position is looked up (offset out of range). */
  beginReset(generation: number): boolean {
    if (!this.isCurrent(generation)) return false
    this.#resetting = true
    return true
  }

  endReset(generation: number, offset: number | null, problem: string | null): void {
    if (!this.isCurrent(generation)) return
    this.#resetting = false
    if (offset !== null) this.#position = offset
    this.#problem = problem
    if (problem) this.#retryAt = this.#host.clock.now() + REDELIVER_AFTER_MS
    this.#host.wake(this)
  }

  #corrupted(offset: number): void {
    const error = corruptBatchError(this.tp, { firstOffset: offset })
    if (this.#corruptAt !== offset) this.#corruptRetry.reset()
    const delayMs = this.#corruptRetry.next()
    // Logged once per batch; every copy is counted (the partition's actor hears of each).
    if (this.#corruptAt !== offset) {
      this.#host.log('error', 'a fetched record batch does not match its CRC-32C; fetching it again', {
        topic: this.tp.topic,
        partition: this.tp.partition,
        offset,
      })
    }
    this.#corruptAt = offset
    this.#retryAt = this.#host.clock.now() + delayMs
    this.#problem = error.message
    this.#onCorrupt?.(error)
  }

  #sound(): void {
    if (this.#corruptAt === null) return
    this.#host.log('info', 'the partition is no longer held at a corrupt record batch', {
      topic: this.tp.topic,
      partition: this.tp.partition,
      offset: this.#corruptAt,
    })
    this.#corruptAt = null
    this.#corruptRetry.reset()
    this.#onCorrupt?.(null)
  }

  /** The chunk's bytes are free again: the actor took it, or it will never reach the actor. */
  #drop(chunk: Chunk | null): void {
    if (!chunk || !this.#untaken.delete(chunk)) return
    this.#heldBytes -= chunk.bytes
    chunk.release()
  }

  #hand(chunk: Chunk): void {
    const deliver = this.#deliver
    if (!deliver) {
      this.#drop(chunk)
      return
    }
    const { records } = chunk
    const generation = this.#generation
    let result: void | Promise<void>
    try {
      result = deliver(records, () => this.#drop(chunk))
    } catch (err) {
      result = Promise.reject(err)
    }
    if (!isThenable(result)) return
    this.#delivering = true
    result.then(
      () => {
        this.#delivering = false
        this.#afterDelivery()
      },
      (err: unknown) => {
        this.#delivering = false
        this.#drop(chunk)
        // The records were not taken: fetch them again rather than skip them.
        if (generation === this.#generation && records[0]) {
          this.#position = records[0].offset
          this.#retryAt = this.#host.clock.now() + REDELIVER_AFTER_MS
        }
        this.#host.log('warn', 'a partition did not take delivered records; fetching them again shortly', {
          topic: this.tp.topic,
          partition: this.tp.partition,
          offset: records[0]?.offset,
          error: err instanceof Error ? err.message : String(err),
        })
        this.#afterDelivery()
      },
    )
  }

  #afterDelivery(): void {
    const held = this.#held
    if (held && !this.#paused) {
      this.#held = null
      this.#hand(held)
    }
    this.#host.wake(this)
  }
}

function isThenable(value: unknown): value is Promise<void> {
  return typeof (value as Promise<void> | undefined)?.then === 'function'
}
