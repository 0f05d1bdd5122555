import { type Clock, realClock } from '../core/clock.ts'

/**
 * A loop's doorbell: `wait` sleeps until `notify` is called or the timeout passes. A `notify` that comes
 * while nobody waits is kept, so the next `wait` returns at once and no wake-up is ever lost between a
 * loop checking its work and going to sleep. One waiter at a time: it belongs to one loop.
 */
export class Wakeup {
  #rung = false
  #resolve: (() => void) | null = null

  constructor(readonly clock: Clock = realClock) {}

  notify(): void {
    if (this.#resolve) {
      const resolve = this.#resolve
      this.#resolve = null
      resolve()
    } else {
      this.#rung = true
    }
  }

  /** Resolves on the next (or a pending) `notify`, or after `timeoutMs` (undefined: only on notify). */
  wait(timeoutMs?: number): Promise<void> {
    if (this.#rung) {
      this.#rung = false
      return Promise.resolve()
    }
    return new Promise((resolve) => {
      const timer = timeoutMs === undefined ? null : this.clock.schedule(timeoutMs, done)
      const self = this
      function done(): void {
        timer?.cancel()
        if (self.#resolve === done) self.#resolve = null
        resolve()
      }
      this.#resolve = done
    })
  }
}

/** Resolves after the pending promise callbacks and I/O of this turn have run (a macrotask later). */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
