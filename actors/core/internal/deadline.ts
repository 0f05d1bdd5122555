import type { Clock } from '../clock.ts'

/** Resolves true when `work` settles within `ms` on `clock`, false when the time runs out first. */
export function withDeadline(work: Promise<unknown>, clock: Clock, ms: number): Promise<boolean> {
  if (ms === Number.POSITIVE_INFINITY) return work.then(yes, yes)
  return new Promise((resolve) => {
    const timer = clock.schedule(ms, () => resolve(false))
    const done = () => {
      timer.cancel()
      resolve(true)
    }
    work.then(done, done)
  })
}

function yes(): boolean {
  return true
}
