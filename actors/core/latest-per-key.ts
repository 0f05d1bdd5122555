/** What became of one entry of a batch: its answer, or why it failed. */
export type Outcome<R> =
  | { readonly ok: true; readonly value: R }
  | { readonly ok: false; readonly error: unknown }

/**
 * Sends one batch and answers one outcome per entry, in the order given. A rejection fails every entry of
 * the batch with that error. Entries of one key never meet in a batch (see {@link LatestPerKey}).
 */
export type BatchSender<V, R> = (
  entries: readonly (readonly [key: string, value: V])[],
) => Promise<readonly Outcome<R>[]>

export interface LatestPerKeyOptions {
  /**
   * How long a batch gathers before it leaves: called with `run` when the first value of a batch is
   * queued, and again after each answer while values wait (default `setImmediate`: the rest of this
   * turn of the event loop). A timer here trades that much delay for fewer, larger batches.
   */
  readonly defer?: (run: () => void) => void
}

interface Waiting<V, R> {
  value: V
  readonly waiters: { resolve(value: R): void; reject(error: unknown): void }[]
}

/**
 * Coalesces the writes of many keys into batches, keeping only the latest value per key: group commit for
 * a store whose newest value per key is all that counts (checkpoints). One batch is out at a time; what is
 * submitted meanwhile waits and leaves together once that batch is answered (and `defer` has run), so
 * batches grow with the load and with the store's latency, and a key is never in two batches at once. A value submitted
 * while an older one of its key still waits replaces it, and both callers learn the newer one's outcome.
 * Nothing is retried or dropped: every caller hears its outcome (or a newer one's).
 *
 * @example
 * const writes = new LatestPerKey<number, boolean>(async (entries) => store.writeMany(entries))
 * await Promise.all([writes.submit('p0', 5), writes.submit('p0', 9), writes.submit('p1', 3)])
 * // one call: writeMany([['p0', 9], ['p1', 3]])
 */
export class LatestPerKey<V, R> {
  readonly #send: BatchSender<V, R>
  readonly #defer: (run: () => void) => void
  #queued = new Map<string, Waiting<V, R>>()
  #running = false
  #idle: (() => void)[] = []

  constructor(send: BatchSender<V, R>, options: LatestPerKeyOptions = {}) {
    this.#send = send
    this.#defer = options.defer ?? setImmediate
  }

  /** Queues `value` for `key`; settles with the outcome of the batch that carried it or a newer value. */
  submit(key: string, value: V): Promise<R> {
    return new Promise((resolve, reject) => {
      const waiting = this.#queued.get(key)
      if (waiting) {
        waiting.value = value
        waiting.waiters.push({ resolve, reject })
      } else {
        this.#queued.set(key, { value, waiters: [{ resolve, reject }] })
      }
      if (this.#running) return
      this.#running = true
      this.#defer(() => void this.#run())
    })
  }

  /** Keys waiting for a batch (not counting the batch that is out). */
  get queued(): number {
    return this.#queued.size
  }

  /** Resolves once everything submitted until now was answered. */
  idle(): Promise<void> {
    if (!this.#running) return Promise.resolve()
    return new Promise((resolve) => this.#idle.push(resolve))
  }

  async #run(): Promise<void> {
    while (this.#queued.size > 0) {
      const batch = [...this.#queued]
      this.#queued = new Map()
      let outcomes: readonly Outcome<R>[]
      try {
        outcomes = await this.#send(batch.map(([key, waiting]) => [key, waiting.value] as const))
        if (outcomes.length !== batch.length) {
          throw new Error(`a batch of ${batch.length} entries got ${outcomes.length} answers`)
        }
      } catch (error) {
        outcomes = batch.map(() => ({ ok: false, error }))
      }
      batch.forEach(([, waiting], i) => {
        const outcome = outcomes[i] as Outcome<R>
        for (const waiter of waiting.waiters) {
          if (outcome.ok) waiter.resolve(outcome.value)
          else waiter.reject(outcome.error)
        }
      })
      if (this.#queued.size > 0) await new Promise<void>((resolve) => this.#defer(resolve))
    }
    this.#running = false
    for (const resolve of this.#idle.splice(0)) resolve()
  }
}
