import type { Backoff } from './backoff.ts'
import { type Clock, sleep } from './clock.ts'

/** How often {@link attempt} tries and how long it waits between tries. */
export interface AttemptPolicy {
  /** Tries in all, the first included (>= 1). */
  readonly attempts: number
  /** The wait after failed try n (0-based) is `backoff.delayMs(n)`. */
  readonly backoff: Backoff
}

export interface AttemptHooks {
  readonly clock: Clock
  /** Hears each failed try: `retryInMs` is the wait before the next one, null after the last. */
  readonly onFailure?: (error: unknown, attempt: number, retryInMs: number | null) => void
  /** Read before each retry: true gives up at once (the work no longer matters, e.g. the caller is leaving). */
  readonly abandoned?: () => boolean
}

export type AttemptOutcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly error: unknown; readonly attempts: number; readonly abandoned: boolean }

/**
 * Runs `work` until it succeeds, at most `policy.attempts` times, waiting on `clock` between tries (so a
 * ManualClock drives it in tests). Never throws: the outcome says how it ended. `work` must be safe to
 * run again after a failure part-way.
 *
 * @example
 * const outcome = await attempt(() => start(partitions), { attempts: 5, backoff: backoff({ minMs: 1_000, maxMs: 8_000, jitter: 0 }) }, { clock })
 * if (!outcome.ok) fail(outcome.error)
 */
export async function attempt(
  work: () => Promise<void> | void,
  policy: AttemptPolicy,
  hooks: AttemptHooks,
): Promise<AttemptOutcome> {
  for (let n = 0; ; n++) {
    try {
      await work()
      return { ok: true }
    } catch (error) {
      const last = n + 1 >= policy.attempts
      const retryInMs = last ? null : policy.backoff.delayMs(n)
      hooks.onFailure?.(error, n + 1, retryInMs)
      if (retryInMs === null) return { ok: false, error, attempts: n + 1, abandoned: false }
      await sleep(hooks.clock, retryInMs)
      if (hooks.abandoned?.()) return { ok: false, error, attempts: n + 1, abandoned: true }
    }
  }
}
