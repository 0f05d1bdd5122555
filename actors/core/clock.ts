/** A scheduled piece of work that can still be called off. Cancelling twice, or after it ran, does nothing. */
export interface Cancellable {
  cancel(): void
}

/**
 * Time as the actor core sees it: a monotonic millisecond reading and one-shot timers. Everything that
 * waits (backoff, restart-intensity windows, ask timeouts, shutdown deadlines, `ctx.scheduleOnce`) goes
 * through a Clock, so tests drive time with a {@link ManualClock} instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch, never going backwards (wall-clock jumps do not move it). */
  now(): number
  /** Runs `fn` once, `delayMs` from now (at the earliest), unless cancelled first. */
  schedule(delayMs: number, fn: () => void): Cancellable
}

const origin = performance.timeOrigin

/**
 * The process clock: `performance.now()` anchored at the process start, so readings are both monotonic
 * (what restart-intensity windows need) and close to epoch time (what snapshots show), and `setTimeout`.
 */
export const realClock: Clock = {
  now: () => origin + performance.now(),
  schedule(delayMs, fn) {
    const timer = setTimeout(fn, Math.max(0, delayMs))
    return { cancel: () => clearTimeout(timer) }
  },
}

/**
 * Runs `fn` every `intervalMs` on `clock`, the first time `intervalMs` from now, until cancelled: the
 * Clock's `setInterval`. The next run is scheduled before `fn` runs, so a throwing `fn` does not end it.
 */
export function every(clock: Clock, intervalMs: number, fn: () => void): Cancellable {
  let cancelled = false
  let timer: Cancellable
  const tick = () => {
    if (cancelled) return
    timer = clock.schedule(intervalMs, tick)
    fn()
  }
  timer = clock.schedule(intervalMs, tick)
  return {
    cancel() {
      cancelled = true
      timer.cancel()
    },
  }
}

/** Resolves after `ms` on `clock`: the Clock's `Bun.sleep`, for loops that poll. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.schedule(ms, resolve))
}
