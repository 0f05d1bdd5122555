/** `corrupt`: running, but the source holds at a record batch that failed its CRC-32C check. */
export type PartitionState =
  | 'starting'
  | 'running'
  | 'corrupt'
  | 'paused'
  | 'sink-down'
  /** Holds BATON_QUARANTINE_MAX_KEYS quarantined keys and would need one more: paused until one is released. */
  | 'quarantine-full'
  | 'draining'
  | 'drained'

export interface PartitionStatus {
  readonly state: PartitionState
  readonly epoch: number
  readonly committedOffset: number | null
  readonly position: number
  readonly endOffset: number | null
  readonly lag: number | null
  readonly lagSeconds: number | null
  readonly inFlight: number
  /** Quarantined keys and the events they hold (held back, not lag); 0 without quarantine. */
  readonly quarantinedKeys: number
  readonly quarantinedEvents: number
}

/**
 * What one partition has done, kept outside the partition actor's behaviour so that it survives the
 * actor's restarts (a restart resets the behaviour's state, not the partition's history).
 */
export class PartitionStats {
  /**
   * The running actor's state, read without waiting for the actor's turn (which may be a long sink retry):
   * set by each actor instance when it starts, so it always reads the current one.
   */
  current: (() => PartitionStatus) | null = null
  epoch = 0
  committedOffset: number | null = null
  lastEventTime = 0
  events = 0
  deadLetters = 0
  batches = 0
  fencedCommits = 0
  lastError: { message: string; code: string; at: string } | null = null
  /** Events per second, an exponentially weighted average over commits. */
  eventsPerSec = 0
  readonly batchWaitMs = new LatencyWindow()
  readonly handleMs = new LatencyWindow()
  readonly commitMs = new LatencyWindow()
  readonly checkpointMs = new LatencyWindow()
  #rateAt = 0

  recordCommit(events: number, now: number): void {
    this.batches++
    this.events += events
    if (this.#rateAt === 0) {
      this.#rateAt = now
      return
    }
    const dt = Math.max(1, now - this.#rateAt) / 1000
    this.#rateAt = now
    // A 5-second time constant: smooth enough to read, quick enough to show a stall.
    const alpha = 1 - Math.exp(-dt / 5)
    this.eventsPerSec += alpha * (events / dt - this.eventsPerSec)
  }

  recordError(err: unknown, code: string, now: number): void {
    this.lastError = {
      message: err instanceof Error ? err.message : String(err),
      code,
      at: new Date(now).toISOString(),
    }
  }
}

/** The most samples a window keeps. */
const WINDOW_SAMPLES = 512

/**
 * The last 512 samples of one stage's latency, for p50/p99 without unbounded memory. The array grows to
 * 512 as samples come: four full windows per partition were 64 MiB on a node owning 4,096 partitions,
 * most of which commit a few batches.
 */
export class LatencyWindow {
  #samples = new Float64Array(8)
  #count = 0

  add(ms: number): void {
    if (this.#count === this.#samples.length && this.#count < WINDOW_SAMPLES) {
      const grown = new Float64Array(Math.min(WINDOW_SAMPLES, this.#count * 2))
      grown.set(this.#samples)
      this.#samples = grown
    }
    this.#samples[this.#count % this.#samples.length] = ms
    this.#count++
  }

  /** `{p50, p99}` in milliseconds over the retained samples, or nulls when there are none. */
  percentiles(): { p50: number | null; p99: number | null } {
    const n = Math.min(this.#count, this.#samples.length)
    if (n === 0) return { p50: null, p99: null }
    const sorted = this.#samples.slice(0, n).sort()
    const at = (q: number) => round(sorted[Math.min(n - 1, Math.floor(q * n))] as number)
    return { p50: at(0.5), p99: at(0.99) }
  }
}

const round = (ms: number) => Math.round(ms * 100) / 100
