import { describe, expect, test } from 'bun:test'
import { ManualClock } from '../actors/core/manual-clock.ts'
import type { TopicPartition } from '../actors/ports.ts'
import { type LagSamplerOptions, startLagSampler } from './lag-sampler.ts'

const p0 = { topic: 'orders', partition: 0 }
const p1 = { topic: 'orders', partition: 1 }

/** A recording of the gauges, keyed `topic/partition`. */
function fakeMetrics() {
  const lag = new Map<string, [number, number]>()
  const depth = new Map<string, number>()
  const key = (tp: TopicPartition) => `${tp.topic}/${tp.partition}`
  return {
    lag,
    depth,
    metrics: {
      lag: (tp: TopicPartition, events: number, seconds: number) => lag.set(key(tp), [events, seconds]),
      mailboxDepth: (tp: TopicPartition, d: number) => depth.set(key(tp), d),
    },
  }
}

function options(overrides: Partial<LagSamplerOptions>, clock: ManualClock): LagSamplerOptions {
  return {
    partitions: () => [p0, p1],
    status: async (tp) => ({ lag: tp.partition * 10, lagSeconds: tp.partition * 1.5 }),
    mailboxDepth: (tp) => tp.partition + 2,
    owns: () => true,
    metrics: fakeMetrics().metrics,
    intervalMs: 5_000,
    clock,
    ...overrides,
  }
}

describe('startLagSampler', () => {
  test('sets every owned partition’s lag and mailbox depth each interval, not before', async () => {
    const clock = new ManualClock()
    const recorded = fakeMetrics()
    const sampler = startLagSampler(options({ metrics: recorded.metrics }, clock))
    await clock.advance(4_999)
    expect(recorded.lag.size).toBe(0)
    await clock.advance(1)
    expect([...recorded.lag]).toEqual([
      ['orders/0', [0, 0]],
      ['orders/1', [10, 1.5]],
    ])
    expect([...recorded.depth]).toEqual([
      ['orders/0', 2],
      ['orders/1', 3],
    ])
    await sampler.stop()
    expect(clock.pendingTimers).toBe(0)
  })

  test('keeps sampling: a later round reads the new values', async () => {
    const clock = new ManualClock()
    const recorded = fakeMetrics()
    let lag = 7
    const sampler = startLagSampler(
      options({ metrics: recorded.metrics, status: async () => ({ lag, lagSeconds: 0.5 }) }, clock),
    )
    await clock.advance(5_000)
    lag = 0
    await clock.advance(5_000)
    expect(recorded.lag.get('orders/1')).toEqual([0, 0.5])
    await sampler.stop()
  })

  test('a partition that does not answer keeps its lag; its mailbox depth is still set', async () => {
    const clock = new ManualClock()
    const recorded = fakeMetrics()
    const sampler = startLagSampler(
      options(
        {
          metrics: recorded.metrics,
          status: async (tp) => {
            if (tp.partition === 1) throw new Error('no reply within 5000 ms')
            return { lag: 3, lagSeconds: 1 }
          },
        },
        clock,
      ),
    )
    await sampler.sample()
    expect([...recorded.lag.keys()]).toEqual(['orders/0'])
    expect(recorded.depth.get('orders/1')).toBe(3)
    await sampler.stop()
  })

  test('an unknown end offset (lag null) sets nothing', async () => {
    const clock = new ManualClock()
    const recorded = fakeMetrics()
    const sampler = startLagSampler(
      options({ metrics: recorded.metrics, status: async () => ({ lag: null, lagSeconds: null }) }, clock),
    )
    await sampler.sample()
    expect(recorded.lag.size).toBe(0)
    await sampler.stop()
  })

  test('regression: a partition revoked while its answer was on the way does not get its lag series back', async () => {
    const clock = new ManualClock()
    const recorded = fakeMetrics()
    const owned = new Set(['orders/0', 'orders/1'])
    const sampler = startLagSampler(
      options(
        {
          metrics: recorded.metrics,
          owns: (tp) => owned.has(`${tp.topic}/${tp.partition}`),
          status: async (tp) => {
            owned.delete('orders/1') // the revoke lands while the actor answers
            return { lag: tp.partition, lagSeconds: 0 }
          },
        },
        clock,
      ),
    )
    await sampler.sample()
    expect([...recorded.lag.keys()]).toEqual(['orders/0'])
    await sampler.stop()
  })

  test('rounds never overlap: a slow answer delays the next round instead of stacking asks', async () => {
    const clock = new ManualClock()
    let asks = 0
    let answer: () => void = () => {}
    const sampler = startLagSampler(
      options(
        {
          partitions: () => [p0],
          status: () => {
            asks++
            return new Promise((resolve) => {
              answer = () => resolve({ lag: 0, lagSeconds: 0 })
            })
          },
        },
        clock,
      ),
    )
    await clock.advance(5_000)
    await clock.advance(20_000)
    void sampler.sample()
    expect(asks).toBe(1)
    answer()
    await clock.advance(5_000)
    expect(asks).toBe(2)
    answer()
    const stopped = sampler.stop()
    await stopped
    expect(clock.pendingTimers).toBe(0)
  })
})
