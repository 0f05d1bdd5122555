import { errorMessage } from '../../actors/core/errors.ts'
import { type Clock, every, realClock, withDeadline } from '../../actors/core/index.ts'

export interface ServiceProbe {
  /** What the last check said when it failed (`<name>: <error>, since <time>`), null when it passed. */
  problem(): string | null
  stop(): void
}

/**
 * Checks a service every `intervalMs` (default 2 s; the first check at once), one check at a time, each
 * given `timeoutMs` (default 3 s): a check that takes longer counts as failed. For readiness, which must
 * answer at once and so cannot ask the service itself.
 *
 * @example const postgres = serviceProbe('PostgreSQL', () => sql`select 1`)
 */
export function serviceProbe(
  name: string,
  check: () => Promise<unknown>,
  options: { intervalMs?: number; timeoutMs?: number; clock?: Clock } = {},
): ServiceProbe {
  const timeoutMs = options.timeoutMs ?? 3_000
  const clock = options.clock ?? realClock
  let failure: { message: string; since: number } | null = null
  let running = false

  async function run(): Promise<void> {
    if (running) return
    running = true
    try {
      const answer = check()
      if (!(await withDeadline(answer, clock, timeoutMs))) throw new Error(`no answer within ${timeoutMs} ms`)
      await answer
      failure = null
    } catch (err) {
      failure = { message: errorMessage(err), since: failure?.since ?? clock.now() }
    } finally {
      running = false
    }
  }

  void run()
  const interval = every(clock, options.intervalMs ?? 2_000, () => void run())
  return {
    problem: () => failure && `${name}: ${failure.message}, since ${new Date(failure.since).toISOString()}`,
    stop: () => interval.cancel(),
  }
}
