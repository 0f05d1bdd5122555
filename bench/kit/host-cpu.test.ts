import { describe, expect, test } from 'bun:test'
import { type CpuTimes, parseCpuTimes, waitForIdleHost } from './host-cpu.ts'

const STAT = `cpu  4705 356 584 3699176 23 0 34 0 0 0
cpu0 1393 280 283 1849598 12 0 28 0 0 0
intr 114930548 0 0 0
`

describe('parseCpuTimes', () => {
  test('counts all but idle as busy, iowait included', () => {
    expect(parseCpuTimes(STAT)).toEqual({
      busy: 4705 + 356 + 584 + 23 + 34,
      total: 4705 + 356 + 584 + 3699176 + 23 + 34,
    })
  })

  test('a text without a cpu line has no times', () => {
    expect(parseCpuTimes('intr 1 2 3\n')).toBeNull()
    expect(parseCpuTimes('cpu  a b c d\n')).toBeNull()
  })
})

describe('waitForIdleHost', () => {
  /** A host whose CPU was busy for `shares[i]` of window i (100 ticks a window). */
  function host(shares: number[]) {
    let at = 0
    let busy = 0
    let reads = 0
    return {
      read: async (): Promise<CpuTimes> => {
        if (reads > 0) busy += Math.round((shares[reads - 1] ?? 0) * 100)
        reads++
        return { busy, total: (reads - 1) * 100 }
      },
      sleep: async (ms: number) => {
        at += ms
      },
      now: () => at,
    }
  }
  const options = { maxBusy: 0.15, windowMs: 1_000, timeoutMs: 5_000 }

  test('waits out the busy windows and returns after the first idle one', async () => {
    const h = host([0.9, 0.6, 0.1, 0.9])
    expect(await waitForIdleHost(options, h.sleep, h.now, h.read)).toEqual({
      idle: true,
      waitedMs: 3_000,
      busy: 0.1,
    })
  })

  test('gives up at the timeout, saying how busy the host still was', async () => {
    const h = host(Array(10).fill(0.5))
    expect(await waitForIdleHost(options, h.sleep, h.now, h.read)).toEqual({
      idle: false,
      waitedMs: 5_000,
      busy: 0.5,
    })
  })

  test('a host without /proc/stat is not waited for', async () => {
    const h = host([])
    expect(await waitForIdleHost(options, h.sleep, h.now, async () => null)).toEqual({
      idle: false,
      waitedMs: 0,
      busy: null,
    })
  })
})
