import { writeSync } from 'node:fs'
import { BatonError } from '../actors/core/errors.ts'

/**
 * TEST ONLY: `BATON_TEST_CRASH_AFTER_COMMIT=<n>` makes the node kill itself with SIGKILL right after its
 * n-th batch transaction committed (counted over all its partitions), before that batch's Redis
 * checkpoint is written: the crash between the PostgreSQL commit and the checkpoint that
 * test/chaos/sigkill.test.ts injects. Unset (as in production): no hook at all. Read once, at start
 * (runtime/cli/commands/start.ts), and passed to the partition actors as `testAfterCommit`.
 */
export function testCrashAfterCommit(env: Record<string, string | undefined>): (() => void) | undefined {
  const raw = env.BATON_TEST_CRASH_AFTER_COMMIT?.trim()
  if (!raw) return undefined
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1) {
    throw new BatonError(
      'CONFIG_INVALID',
      `BATON_TEST_CRASH_AFTER_COMMIT: '${raw}' is not a whole number of commits of at least 1 (a test-only setting; unset it).`,
    )
  }
  let commits = 0
  return () => {
    if (++commits !== n) return
    // Synchronous, so the line is out before the process is gone.
    writeSync(2, `BATON_TEST_CRASH_AFTER_COMMIT: commit ${n} done, checkpoint not written; SIGKILL\n`)
    process.kill(process.pid, 'SIGKILL')
  }
}
