import { errorMessage } from '../../actors/core/errors.ts'

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
  options: { intervalMs?: number; timeoutMs?: number } = {},
): ServiceProbe {
  const timeoutMs = options.timeoutMs ?? 3_000
  let failure: { message: string; since: number } | null = null
  let running = false

  async function run(): Promise<void> {
    if (running) return
    running = true
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      await Promise.race([
        check(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
        }),
      ])
      failure = null
    } catch (err) {
      failure = { message: errorMessage(err), since: failure?.since ?? Date.now() }
    } finally {
      clearTimeout(timer)
      running = false
    }
  }

  void run()
  const interval = setInterval(run, options.intervalMs ?? 2_000)
  return {
    problem: () => failure && `${name}: ${failure.message}, since ${new Date(failure.since).toISOString()}`,
    stop: () => clearInterval(interval),
  }
}
