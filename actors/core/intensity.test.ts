import { describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import { addRestart } from './intensity.ts'

describe('addRestart', () => {
  test('keeps the restarts within the period and adds now', () => {
    expect(addRestart([], 1000, 5000)).toEqual([1000])
    expect(addRestart([0, 1000, 4000], 5000, 5000)).toEqual([1000, 4000, 5000])
    expect(addRestart([0, 1000, 4000], 9000, 5000)).toEqual([9000])
  })

  test('a restart exactly one period old has left the window', () => {
    expect(addRestart([1000], 6000, 5000)).toEqual([6000])
    expect(addRestart([1001], 6000, 5000)).toEqual([1001, 6000])
  })

  test('does not change its input', () => {
    const before = Object.freeze([1, 2, 3])
    addRestart(before, 4, 10)
    expect(before).toEqual([1, 2, 3])
  })

  test('the result never holds a restart older than the period, and always ends with now', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(100_000)),
        fc.nat(100_000),
        fc.integer({ min: 1, max: 50_000 }),
        (times, now, period) => {
          const sorted = times.filter((t) => t <= now).sort((a, b) => a - b)
          const result = addRestart(sorted, now, period)
          expect(result.at(-1)).toBe(now)
          for (const t of result) expect(t).toBeGreaterThan(now - period)
        },
      ),
    )
  })
})
