import { describe, expect, test } from 'bun:test'
import { ManualClock } from '../../actors/core/manual-clock.ts'
import { TokenBuckets } from './rate-limit.ts'

describe('TokenBuckets', () => {
  test('a bucket holds burstSeconds of events, refills at the rate, and may go into debt', async () => {
    const time = new ManualClock()
    const buckets = new TokenBuckets({ eventsPerSec: 100, burstSeconds: 2, clock: time })
    expect(buckets.waitMs('a')).toBe(0)
    buckets.take('a', 500)
    // 200 - 500 = -300: one event is due after 301 events' worth of refill, 3.01 s.
    expect(buckets.waitMs('a')).toBe(3010)
    await time.advance(3010)
    expect(buckets.waitMs('a')).toBe(0)
    await time.advance(60_000)
    buckets.take('a', 200)
    expect(buckets.waitMs('a')).toBe(10)
  })

  test('clients beyond maxClients: full buckets are forgotten first, then the least recently seen', async () => {
    const time = new ManualClock()
    const buckets = new TokenBuckets({ eventsPerSec: 1, maxClients: 2, clock: time })
    buckets.take('a', 10)
    buckets.take('b', 10)
    buckets.take('c', 10)
    expect(buckets.size).toBe(2)
    // 'a' was the least recent and is forgotten: it starts full again.
    expect(buckets.waitMs('c')).toBeGreaterThan(0)
    await time.advance(20_000)
    expect(buckets.waitMs('d')).toBe(0)
    expect(buckets.size).toBeLessThanOrEqual(2)
  })
})
