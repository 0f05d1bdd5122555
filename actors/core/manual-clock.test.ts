import { describe, expect, test } from 'bun:test'
import { every } from './clock.ts'
import { ManualClock } from './manual-clock.ts'

describe('ManualClock', () => {
  test('fires due timers in due order, ties in scheduling order, reading each due time', async () => {
    const clock = new ManualClock(1000)
    const fired: string[] = []
    clock.schedule(30, () => fired.push(`c@${clock.now()}`))
    clock.schedule(10, () => fired.push(`a@${clock.now()}`))
    clock.schedule(10, () => fired.push(`b@${clock.now()}`))
    clock.schedule(31, () => fired.push('late'))
    await clock.advance(30)
    expect(fired).toEqual(['a@1010', 'b@1010', 'c@1030'])
    expect(clock.now()).toBe(1030)
    expect(clock.pendingTimers).toBe(1)
  })

  test('fires timers scheduled by timers (and by promises they start) within the same advance', async () => {
    const clock = new ManualClock()
    const fired: number[] = []
    clock.schedule(10, () => {
      fired.push(clock.now())
      void Promise.resolve().then(() => clock.schedule(10, () => fired.push(clock.now())))
    })
    await clock.advance(25)
    expect(fired).toEqual([10, 20])
  })

  test('cancelled timers never fire', async () => {
    const clock = new ManualClock()
    let fired = false
    const timer = clock.schedule(5, () => {
      fired = true
    })
    timer.cancel()
    timer.cancel()
    await clock.advance(10)
    expect(fired).toBe(false)
    expect(clock.pendingTimers).toBe(0)
  })
})

describe('every', () => {
  test('runs each interval, goes on after a throw, and stops when cancelled', async () => {
    const clock = new ManualClock()
    const runs: number[] = []
    const interval = every(clock, 10, () => {
      runs.push(clock.now())
      if (runs.length === 1) throw new Error('one bad run')
    })
    await clock.advance(9).catch(() => {})
    expect(runs).toEqual([])
    await clock.advance(1).catch(() => {})
    await clock.advance(20)
    expect(runs).toEqual([10, 20, 30])
    interval.cancel()
    await clock.advance(50)
    expect(runs).toEqual([10, 20, 30])
    expect(clock.pendingTimers).toBe(0)
  })
})
