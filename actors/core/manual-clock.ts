import type { Cancellable, Clock } from './clock.ts'

interface Timer {
  readonly due: number
  readonly seq: number
  readonly fn: () => void
  cancelled: boolean
}

/**
 * A clock that only moves when told to, for tests: timers fire during {@link ManualClock.advance}, in due
 * order (ties in the order they were scheduled), with `now()` reading each timer's due time as it fires.
 *
 * @example
 * const clock = new ManualClock()
 * const system = new ActorSystem({ name: 'test', clock })
 * ref.tell({ type: 'boom' })   // the actor fails; its supervisor restarts it after a 100 ms backoff
 * await clock.advance(100)     // the restart happens here, without sleeping
 */
export class ManualClock implements Clock {
  private current: number
  private seq = 0
  private timers: Timer[] = []

  /** `startMs` is the first reading of `now()`; the default, 0, makes failing tests easy to read. */
  constructor(startMs = 0) {
    this.current = startMs
  }

  now(): number {
    return this.current
  }

  schedule(delayMs: number, fn: () => void): Cancellable {
    const timer: Timer = { due: this.current + Math.max(0, delayMs), seq: this.seq++, fn, cancelled: false }
    // Insert after every timer due at or before this one, so equal due times keep scheduling order.
    let lo = 0
    let hi = this.timers.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((this.timers[mid] as Timer).due <= timer.due) lo = mid + 1
      else hi = mid
    }
    this.timers.splice(lo, 0, timer)
    return {
      cancel: () => {
        if (timer.cancelled) return
        timer.cancelled = true
        const at = this.timers.indexOf(timer)
        if (at >= 0) this.timers.splice(at, 1)
      },
    }
  }

  /** Timers scheduled and neither fired nor cancelled: tests assert 0 after a shutdown. */
  get pendingTimers(): number {
    return this.timers.length
  }

  /** When the next timer is due, or undefined when none is pending. */
  get nextDue(): number | undefined {
    return this.timers[0]?.due
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way. After each timer (and
   * before the first) it lets pending microtasks run, so the actor work a timer triggers (a restart that
   * schedules the next timer, a message handled) happens at the time it would in production.
   */
  async advance(ms: number): Promise<void> {
    const target = this.current + Math.max(0, ms)
    await flush()
    for (;;) {
      const next = this.timers[0]
      if (next === undefined || next.due > target) break
      this.timers.shift()
      next.cancelled = true
      this.current = Math.max(this.current, next.due)
      next.fn()
      await flush()
    }
    this.current = target
    await flush()
  }
}

/**
 * Resolves once every pending microtask, and every microtask those queue, has run: one turn of the event
 * loop. It waits for no time to pass; it lets promise chains (message handling, restarts) settle.
 */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
