/**
 * The smallest per-partition share: one fetched chunk (the fetch tuning's `partitionMaxBytes`). A smaller
 * share cuts a partition's slice of a fetch below one producer batch, and the broker sends a batch larger
 * than its slice only to the first partition of a response (KIP-74): with 16 KiB shares, 4,096 partitions
 * under the default budget moved one partition per fetch, 8,700 events/s where 512 partitions moved
 * 139,000. Above `limit / partitions` the shares add up to more than the limit; the limit still bounds
 * what is held, and fetches then go round the partitions in turn.
 */
export const MIN_PARTITION_SHARE = 64 * 1024

/**
 * BATON_FETCH_BUFFER_BYTES's default: 8 MiB, whatever the number of partitions. Decoded, fetched records
 * take several times their bytes on the wire, and JSC lets the heap grow to 1.5-2 times what is live
 * before a full collection, so each MiB of budget is about 6 MB of peak RSS. Drains of 1,000,000 events
 * (2 rounds each, 8 / 64 / 512 / 4,096 partitions): with 64 MiB 506-589 MB at 64 partitions; with 16 MiB
 * 280-328 MB; with 8 MiB 225-279 MB, at the same events/s and CPU per event at 8 partitions and about 10%
 * more CPU at 4,096 (more, smaller fetches that each name every partition). 4 MiB went down to 201 MB at
 * 8 partitions, but at 4,096 cost 15-45% more CPU per event.
 */
export const DEFAULT_FETCH_BUFFER_BYTES = 8 * 1024 * 1024

/**
 * The node's budget for fetched records not yet taken by their partition actors (BATON_FETCH_BUFFER_BYTES),
 * in bytes as the broker sent them. Every byte is either reserved for a fetch in flight (its response's
 * `maxBytes`) or held by a fetched chunk until the actor has committed its records (`Hold.release`).
 *
 * - Node-wide: fetches ask for no more than is free, so what the node buffers does not grow with the
 *   partitions it owns. A fetch may overshoot by one record batch: the broker always sends the first batch
 *   of the first partition whole (KIP-74), or a partition larger than its slice could never move.
 * - Per partition: a partition may hold at most `share()` (the limit split over the owned partitions, and
 *   never less than {@link MIN_PARTITION_SHARE} unless that is more than a quarter of it), so partitions whose actors are slow cannot spend what the
 *   others need: a slow partition never holds back the rest.
 *
 * Whoever waits for bytes (`whenFree`) is called back, in the order it asked, at the next release.
 */
export class FetchBudget {
  readonly limit: number
  #reserved = 0
  #held = 0
  #partitions = 0
  #waiters: (() => void)[] = []

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit <= 0)
      throw new RangeError(`a fetch budget is a positive number of bytes, not ${limit}`)
    this.limit = limit
  }

  /** Bytes held by fetched chunks whose records their actors have not committed yet. */
  get held(): number {
    return this.#held
  }

  /** Bytes neither held nor reserved. */
  get free(): number {
    return Math.max(0, this.limit - this.#held - this.#reserved)
  }

  /** The smallest fetch worth sending: a quarter of the budget, at most one partition's `partitionMaxBytes`. */
  minFetch(partitionMaxBytes: number): number {
    return Math.max(1, Math.min(partitionMaxBytes, Math.floor(this.limit / 4)))
  }

  /**
   * How much one partition may hold at most: an equal part of the limit, at least {@link MIN_PARTITION_SHARE}
   * but never more than a quarter of the limit (so that one slow partition cannot hold all of a small one).
   */
  share(): number {
    const floor = Math.min(MIN_PARTITION_SHARE, Math.floor(this.limit / 4))
    return Math.max(floor, Math.floor(this.limit / Math.max(1, this.#partitions)))
  }

  /** A partition joins (its feed was added) or leaves (removed): shares are recomputed from the count. */
  partitionAdded(): void {
    this.#partitions++
  }

  partitionRemoved(): void {
    this.#partitions = Math.max(0, this.#partitions - 1)
    this.#freed()
  }

  /** Reserves up to `wanted` bytes for a fetch; returns what was granted (0 when nothing is free). */
  reserve(wanted: number): number {
    const granted = Math.max(0, Math.min(wanted, this.free))
    this.#reserved += granted
    return granted
  }

  /** Gives back a reservation (its fetch came back, or failed). */
  unreserve(bytes: number): void {
    this.#reserved = Math.max(0, this.#reserved - bytes)
    if (bytes > 0) this.#freed()
  }

  /** Counts `bytes` of fetched records as held; the returned release gives them back (once, however often called). */
  hold(bytes: number): () => void {
    if (bytes <= 0) return () => {}
    this.#held += bytes
    let released = false
    return () => {
      if (released) return
      released = true
      this.#held -= bytes
      this.#freed()
    }
  }

  /** Calls `wake` once at the next release (a fetch loop that found too little free waits with this). */
  whenFree(wake: () => void): void {
    this.#waiters.push(wake)
  }

  #freed(): void {
    if (this.#waiters.length === 0) return
    const waiters = this.#waiters
    this.#waiters = []
    for (const wake of waiters) wake()
  }
}
