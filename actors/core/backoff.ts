import { BatonError } from './errors.ts'

/** How {@link backoff} is configured; every field but `minMs` and `maxMs` has a default. */
export interface BackoffOptions {
  /** The delay before the first restart, in ms. */
  minMs: number
  /** The delay never exceeds this, however many restarts in a row. */
  maxMs: number
  /** 0..1: each delay is reduced by a random fraction up to this much. Default 0.2. */
  jitter?: number
  /** An actor that ran this long since its last restart is healthy again: the next delay is `minMs`. Default `maxMs`. */
  resetAfterMs?: number
}

/**
 * Exponential backoff with jitter for restarts: an immutable value, refined with `with…` methods.
 *
 * Delay n (0-based count of restarts in a row) is `min(maxMs, minMs · 2ⁿ)` reduced by a random fraction
 * of at most `jitter`, so it never exceeds `maxMs`.
 *
 * Why jitter: actors tend to fail together (every partition actor of a node fails when PostgreSQL
 * restarts). Without jitter they would all retry at the same instants and hit the recovering service as
 * one burst each time; jitter spreads the retries out.
 *
 * Mail during backoff: the actor's mailbox stays open while it waits, and is the bounded stash. Messages
 * already queued stay queued; new ones are accepted up to the mailbox capacity (`tell` beyond that throws
 * MAILBOX_FULL, `send` and `ask` wait for room); the new instance handles them all, in arrival order, after
 * the restart. The message whose handling failed is not handed to the new instance.
 *
 * @example
 * const spec = { backoff: backoff({ minMs: 100, maxMs: 10_000 }).withResetAfter(60_000) }
 */
export interface Backoff {
  readonly minMs: number
  readonly maxMs: number
  readonly jitter: number
  readonly resetAfterMs: number
  /** The delay before restart number `attempt` (0-based) in a row; `random` returns [0, 1). */
  delayMs(attempt: number, random?: () => number): number
  withJitter(jitter: number): Backoff
  withResetAfter(ms: number): Backoff
}

/** Builds a {@link Backoff}, checking the options; throws ACTOR_OPTIONS_INVALID naming the bad field. */
export function backoff(options: BackoffOptions): Backoff {
  const { minMs, maxMs } = options
  const jitter = options.jitter ?? 0.2
  const resetAfterMs = options.resetAfterMs ?? maxMs
  check(Number.isFinite(minMs) && minMs > 0, `minMs must be a positive number of ms, got ${minMs}`)
  check(Number.isFinite(maxMs) && maxMs >= minMs, `maxMs must be a number >= minMs (${minMs}), got ${maxMs}`)
  check(jitter >= 0 && jitter <= 1, `jitter must be between 0 and 1, got ${jitter}`)
  check(resetAfterMs > 0, `resetAfterMs must be positive, got ${resetAfterMs}`)
  return Object.freeze({
    minMs,
    maxMs,
    jitter,
    resetAfterMs,
    delayMs(attempt: number, random: () => number = Math.random): number {
      const base = Math.min(maxMs, minMs * 2 ** Math.max(0, attempt))
      return base * (1 - jitter * random())
    },
    withJitter: (value: number) => backoff({ minMs, maxMs, jitter: value, resetAfterMs }),
    withResetAfter: (ms: number) => backoff({ minMs, maxMs, jitter, resetAfterMs: ms }),
  })
}

/**
 * One run of retries on a {@link Backoff}, for loops that retry a service rather than restart an actor:
 * `next()` is the delay before the next try and counts it, `reset()` after a success starts over.
 *
 * @example
 * const retry = retries(backoff({ minMs: 100, maxMs: 5_000, jitter: 0.5 }))
 * for (;;) {
 *   try { await poll(); retry.reset() } catch { await clock.sleep(retry.next()) }
 * }
 */
export interface Retries {
  next(): number
  reset(): void
}

export function retries(policy: Backoff, random: () => number = Math.random): Retries {
  return new RetryRun(policy, random)
}

/** A class rather than closures: a node keeps one per partition it owns (the corrupt-batch retry). */
class RetryRun implements Retries {
  #attempt = 0

  constructor(
    readonly policy: Backoff,
    readonly random: () => number,
  ) {}

  next(): number {
    const delay = this.policy.delayMs(this.#attempt, this.random)
    // Past 2^30 · minMs every delay is maxMs already; the cap keeps the exponent finite.
    this.#attempt = Math.min(this.#attempt + 1, 30)
    return delay
  }

  reset(): void {
    this.#attempt = 0
  }
}

function check(ok: boolean, problem: string): void {
  if (!ok) throw new BatonError('ACTOR_OPTIONS_INVALID', `backoff: ${problem}. Fix the backoff({...}) call.`)
}
