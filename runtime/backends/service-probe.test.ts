import { describe, expect, test } from 'bun:test'
import { ManualClock } from '../../actors/core/index.ts'
import { serviceProbe } from './service-probe.ts'

describe('serviceProbe', () => {
  test('a failing check is the problem, named and dated, until a check passes again', async () => {
    const clock = new ManualClock(Date.parse('2026-01-02T03:04:05.000Z'))
    let fail: Error | null = new Error('connection refused')
    const probe = serviceProbe(
      'PostgreSQL',
      async () => {
        if (fail) throw fail
      },
      { intervalMs: 10, clock },
    )
    await clock.advance(0)
    expect(probe.problem()).toBe('PostgreSQL: connection refused, since 2026-01-02T03:04:05.000Z')
    await clock.advance(10)
    expect(probe.problem()).toBe('PostgreSQL: connection refused, since 2026-01-02T03:04:05.000Z')
    fail = null
    await clock.advance(10)
    expect(probe.problem()).toBeNull()
    probe.stop()
  })

  test('a check that does not finish in time counts as failed', async () => {
    const clock = new ManualClock()
    const probe = serviceProbe('Redis', () => new Promise(() => {}), { intervalMs: 10, timeoutMs: 20, clock })
    await clock.advance(19)
    expect(probe.problem()).toBeNull()
    await clock.advance(1)
    expect(probe.problem()).toContain('Redis: no answer within 20 ms')
    probe.stop()
  })

  test('stop() ends the checks', async () => {
    const clock = new ManualClock()
    let checks = 0
    const probe = serviceProbe('Kafka', async () => void checks++, { intervalMs: 10, clock })
    await clock.advance(20)
    expect(checks).toBe(3)
    probe.stop()
    await clock.advance(100)
    expect(checks).toBe(3)
  })
})
