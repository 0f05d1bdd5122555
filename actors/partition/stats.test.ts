import { describe, expect, test } from 'bun:test'
import { LatencyWindow } from './stats.ts'

describe('LatencyWindow', () => {
  test('has no percentiles before its first sample', () => {
    expect(new LatencyWindow().percentiles()).toEqual({ p50: null, p99: null })
  })

  test('keeps every sample while it grows, then only the last 512', () => {
    const window = new LatencyWindow()
    for (let ms = 1; ms <= 100; ms++) window.add(ms)
    expect(window.percentiles()).toEqual({ p50: 51, p99: 100 })
    // 1,000 more, of 1,001 ms up to 2,000 ms: the window holds the last 512 of them (1,489 to 2,000 ms).
    for (let i = 1; i <= 1000; i++) window.add(1000 + i)
    const { p50, p99 } = window.percentiles()
    expect(p50).toBe(1000 + 489 + 256)
    expect(p99).toBe(1000 + 489 + 506)
  })
})
