import { describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { isBatonError } from '../actors/core/errors.ts'
import { testCrashAfterCommit } from './test-hooks.ts'

describe('BATON_TEST_CRASH_AFTER_COMMIT (test only)', () => {
  test('unset or empty: no hook', () => {
    expect(testCrashAfterCommit({})).toBeUndefined()
    expect(testCrashAfterCommit({ BATON_TEST_CRASH_AFTER_COMMIT: ' ' })).toBeUndefined()
  })

  test('not a whole number of at least 1: CONFIG_INVALID naming the variable', () => {
    for (const value of ['0', '-1', '1.5', 'soon']) {
      let error: unknown
      try {
        testCrashAfterCommit({ BATON_TEST_CRASH_AFTER_COMMIT: value })
      } catch (err) {
        error = err
      }
      expect(isBatonError(error, 'CONFIG_INVALID')).toBe(true)
      expect(String(error)).toContain('BATON_TEST_CRASH_AFTER_COMMIT')
    }
  })

  test('the process survives n-1 commits and dies by SIGKILL at the n-th', async () => {
    const script = `
      const { testCrashAfterCommit } = await import(${JSON.stringify(join(import.meta.dir, 'test-hooks.ts'))})
      const hook = testCrashAfterCommit({ BATON_TEST_CRASH_AFTER_COMMIT: '3' })
      hook(); hook(); console.log('after 2')
      hook(); console.log('after 3')`
    const proc = Bun.spawn([process.execPath, '-e', script], { stdout: 'pipe', stderr: 'pipe' })
    const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()])
    await proc.exited
    expect(proc.signalCode).toBe('SIGKILL')
    expect(out).toBe('after 2\n')
    expect(err).toContain('commit 3 done, checkpoint not written')
  })
})
