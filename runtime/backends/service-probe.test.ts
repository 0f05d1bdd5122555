import { describe, expect, test } from 'bun:test'
import { serviceProbe } from './service-probe.ts'

async function until(done: () => boolean, ms = 2_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!done() && Date.now() < deadline) await Bun.sleep(5)
}

describe('serviceProbe', () => {
  test('a failing check is the problem, named and dated, until a check passes again', async () => {
    let fail: Error | null = new Error('connection refused')
    const probe = serviceProbe(
      'PostgreSQL',
      async () => {
        if (fail) throw fail
      },
      { intervalMs: 10 },
    )
    await until(() => probe.problem() !== null)
    expect(probe.problem()).toMatch(/^PostgreSQL: connection refused, since \d{4}-\d\d-\d\dT/)
    fail = null
    await until(() => probe.problem() === null)
    expect(probe.problem()).toBeNull()
    probe.stop()
  })

  test('a check that does not finish in time counts as failed', async () => {
    const probe = serviceProbe('Redis', () => new Promise(() => {}), { intervalMs: 10, timeoutMs: 20 })
    await until(() => probe.problem() !== null)
    expect(probe.problem()).toContain('Redis: no answer within 20 ms')
    probe.stop()
  })
})
