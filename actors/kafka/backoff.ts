/**
 * Exponential backoff with jitter for retrying a broker: `next()` grows from `minMs` to `maxMs`, and
 * `reset()` after a success starts over. The jitter (each delay is 50–100 % of the nominal one) keeps the
 * nodes of a cluster from retrying a recovering broker in lockstep.
 */
export class Backoff {
  readonly minMs: number
  readonly maxMs: number
  #attempt = 0

  constructor(minMs = 100, maxMs = 5_000) {
    this.minMs = minMs
    this.maxMs = maxMs
  }

  next(): number {
    const nominal = Math.min(this.maxMs, this.minMs * 2 ** this.#attempt)
    this.#attempt = Math.min(this.#attempt + 1, 30)
    return Math.round(nominal * (0.5 + Math.random() / 2))
  }

  reset(): void {
    this.#attempt = 0
  }
}
