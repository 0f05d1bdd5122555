import { describe, expect, test } from 'bun:test'
import { isBatonError } from '../errors.ts'
import { backoff } from './backoff.ts'

describe('backoff', () => {
  test('doubles from minMs up to maxMs without jitter', () => {
    const b = backoff({ minMs: 100, maxMs: 1000, jitter: 0 })
    expect([0, 1, 2, 3, 4, 50].map((n) => b.delayMs(n))).toEqual([100, 200, 400, 800, 1000, 1000])
  })

  test('jitter only ever shortens a delay, by at most the jitter fraction', () => {
    const b = backoff({ minMs: 100, maxMs: 1000, jitter: 0.5 })
    expect(b.delayMs(2, () => 0)).toBe(400)
    expect(b.delayMs(2, () => 0.999999)).toBeCloseTo(200, 3)
    for (let i = 0; i < 1000; i++) {
      const d = b.delayMs(10)
      expect(d).toBeGreaterThan(500)
      expect(d).toBeLessThanOrEqual(1000)
    }
  })

  test('is an immutable value refined by with… methods', () => {
    const b = backoff({ minMs: 10, maxMs: 100 })
    const refined = b.withResetAfter(5000).withJitter(0)
    expect(b.resetAfterMs).toBe(100)
    expect(b.jitter).toBe(0.2)
    expect(refined.resetAfterMs).toBe(5000)
    expect(refined.jitter).toBe(0)
    expect(Object.isFrozen(b)).toBe(true)
  })

  test('rejects nonsense with ACTOR_OPTIONS_INVALID naming the field', () => {
    const attempts = [
      () => backoff({ minMs: 0, maxMs: 10 }),
      () => backoff({ minMs: 10, maxMs: 5 }),
      () => backoff({ minMs: 10, maxMs: 20, jitter: 2 }),
    ]
    for (const attempt of attempts) {
      try {
        attempt()
        throw new Error('expected a throw')
      } catch (error) {
        expect(isBatonError(error, 'ACTOR_OPTIONS_INVALID')).toBe(true)
      }
    }
  })
})
