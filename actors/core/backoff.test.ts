import { describe, expect, test } from 'bun:test'
import { backoff, retries } from './backoff.ts'
import { isBatonError } from './errors.ts'

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

describe('retries', () => {
  test('grows one step per next() up to maxMs, and starts over after reset()', () => {
    const retry = retries(backoff({ minMs: 100, maxMs: 500, jitter: 0 }))
    expect([retry.next(), retry.next(), retry.next(), retry.next()]).toEqual([100, 200, 400, 500])
    retry.reset()
    expect(retry.next()).toBe(100)
  })

  test('stays at maxMs however long the run of failures', () => {
    const retry = retries(backoff({ minMs: 1, maxMs: 5_000, jitter: 0 }))
    for (let i = 0; i < 10_000; i++) retry.next()
    expect(retry.next()).toBe(5_000)
  })
})
