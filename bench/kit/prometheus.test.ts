import { describe, expect, test } from 'bun:test'
import {
  bucketDelta,
  bucketMax,
  bucketQuantile,
  bucketsOf,
  bucketTotal,
  parseMetrics,
  sumOf,
} from './prometheus.ts'

const text = `# HELP h A histogram.
# TYPE h histogram
h_bucket{le="0.1",topic="t",partition="0"} 2
h_bucket{le="0.2",topic="t",partition="0"} 6
h_bucket{le="+Inf",topic="t",partition="0"} 8
h_bucket{le="0.1",topic="t",partition="1"} 0
h_bucket{le="0.2",topic="t",partition="1"} 2
h_bucket{le="+Inf",topic="t",partition="1"} 2
h_sum{topic="t",partition="0"} 3.5
h_count{topic="t",partition="0"} 8
c_total{outcome="stored",topic="a \\"quoted\\" one"} 10
c_total{outcome="dead_lettered",topic="x"} 1
g 4.5e+2 1700000000000

`

describe('parseMetrics', () => {
  test('reads names, labels (escapes too) and values, and skips comments and blank lines', () => {
    const samples = parseMetrics(text)
    expect(samples).toHaveLength(11)
    expect(samples[8]).toEqual({
      name: 'c_total',
      labels: { outcome: 'stored', topic: 'a "quoted" one' },
      value: 10,
    })
    expect(samples[10]).toEqual({ name: 'g', labels: {}, value: 450 })
    expect(parseMetrics('x{le="+Inf"} +Inf')[0]?.value).toBe(Number.POSITIVE_INFINITY)
  })

  test('throws on a line that is not a sample, naming it', () => {
    expect(() => parseMetrics('not a sample line')).toThrow("'not a sample line'")
  })

  test('sums the series of a name that match labels', () => {
    const samples = parseMetrics(text)
    expect(sumOf(samples, 'c_total', { outcome: 'stored' })).toBe(10)
    expect(sumOf(samples, 'c_total')).toBe(11)
    expect(sumOf(samples, 'missing')).toBe(0)
  })
})

describe('histogram buckets', () => {
  const buckets = bucketsOf(parseMetrics(text), 'h')

  test('sums every series by bound, +Inf last', () => {
    expect(buckets).toEqual({ bounds: [0.1, 0.2, Number.POSITIVE_INFINITY], counts: [2, 8, 10] })
    expect(bucketTotal(buckets)).toBe(10)
  })

  test('quantiles interpolate within a bucket, as histogram_quantile', () => {
    // rank 5 of 10 falls in (0.1, 0.2], which holds ranks 3..8: 0.1 + 0.1 * (5 - 2) / 6
    expect(bucketQuantile(buckets, 0.5)).toBeCloseTo(0.15)
    expect(bucketQuantile(buckets, 0.1)).toBeCloseTo(0.05)
    // rank 9.9 is in +Inf: the largest finite bound
    expect(bucketQuantile(buckets, 0.99)).toBe(0.2)
    expect(bucketQuantile({ bounds: [1, Number.POSITIVE_INFINITY], counts: [0, 0] }, 0.5)).toBeNaN()
  })

  test('max is the bound of the highest bucket holding an observation', () => {
    expect(bucketMax(buckets)).toBe(Number.POSITIVE_INFINITY)
    expect(bucketMax({ bounds: [0.1, 0.2, Number.POSITIVE_INFINITY], counts: [1, 3, 3] })).toBe(0.2)
    expect(bucketMax({ bounds: [0.1, Number.POSITIVE_INFINITY], counts: [0, 0] })).toBeNaN()
  })

  test('a delta counts what happened in between; a histogram that appeared counts from zero', () => {
    const earlier = { bounds: [0.1, 0.2, Number.POSITIVE_INFINITY], counts: [1, 1, 2] }
    const later = { bounds: [0.1, 0.2, Number.POSITIVE_INFINITY], counts: [3, 5, 6] }
    expect(bucketDelta(later, earlier).counts).toEqual([2, 4, 4])
    expect(bucketDelta(later, { bounds: [], counts: [] })).toEqual(later)
  })
})
