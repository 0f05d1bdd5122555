import { describe, expect, test } from 'bun:test'
import { parseMetrics } from '../kit/prometheus.ts'
import { latencyBetween, type Reading, timelineSeconds, worstSeconds } from './timeline.ts'

const bounds = ['0.05', '0.1', '0.15', '0.3', '+Inf']

/** A reading whose latency histogram holds `latency` (cumulative per bound of `bounds`) and so on. */
function reading(
  at: number,
  r: {
    latency: number[]
    stored: number
    checkpoints: number
    wal: number
    mailbox: number
    host?: { dirtyBytes: number; diskWrittenBytes: number }
  },
): Reading {
  const lines = [
    ...bounds.map(
      (le, i) =>
        `baton_end_to_end_latency_seconds_bucket{le="${le}",topic="t",partition="0"} ${r.latency[i]}`,
    ),
    ...bounds.map(
      (le) =>
        `baton_batch_commit_duration_seconds_bucket{le="${le}",topic="t",partition="0"} ${r.latency.at(-1)}`,
    ),
    `baton_events_processed_total{topic="t",partition="0",outcome="stored"} ${r.stored}`,
    `baton_events_processed_total{topic="t",partition="0",outcome="dead_lettered"} 7`,
    `baton_mailbox_depth{topic="t",partition="0"} ${r.mailbox}`,
    `baton_mailbox_depth{topic="t",partition="1"} 1`,
    `baton_nodejs_heap_size_used_bytes ${64 * 2 ** 20}`,
  ]
  return {
    at,
    samples: parseMetrics(lines.join('\n')),
    pg: { checkpoints: r.checkpoints, walBytes: r.wal },
    host: r.host ?? null,
  }
}

const readings = [
  reading(1_000, {
    latency: [0, 0, 0, 0, 0],
    stored: 0,
    checkpoints: 3,
    wal: 0,
    mailbox: 0,
    host: { dirtyBytes: 0, diskWrittenBytes: 100 * 2 ** 20 },
  }),
  // second 1: 10 batches, all within 50..100 ms
  reading(2_000, {
    latency: [0, 10, 10, 10, 10],
    stored: 1_000,
    checkpoints: 3,
    wal: 2 ** 20,
    mailbox: 2,
    host: { dirtyBytes: 900 * 2 ** 20, diskWrittenBytes: 130 * 2 ** 20 },
  }),
  // second 2: 10 more, 8 within 100..150 ms and 2 within 150..300 ms; a checkpoint counted
  reading(3_000, {
    latency: [0, 10, 18, 20, 20],
    stored: 1_500,
    checkpoints: 4,
    wal: 3 * 2 ** 20,
    mailbox: 5,
  }),
]

describe('timelineSeconds', () => {
  const seconds = timelineSeconds(readings)

  test('one row per pair of readings, with what was stored and done in it', () => {
    expect(
      seconds.map((s) => [s.second, s.events, s.batches, s.pgCheckpoints, s.walMb, s.mailboxDepth]),
    ).toEqual([
      [1, 1_000, 10, 0, 1, 3],
      [2, 500, 10, 1, 2, 6],
    ])
    expect(seconds[0]?.heapUsedMb).toBe(64)
  })

  test("the host's dirty page cache at the end of a second and what its disks wrote in it; null without a reading", () => {
    expect(seconds.map((s) => [s.dirtyMb, s.diskWriteMb])).toEqual([
      [900, 30],
      [null, null],
    ])
  })

  test("latency percentiles come from the second's bucket deltas, not the totals", () => {
    const [first, second] = seconds
    expect(first?.p50Ms).toBeCloseTo(75)
    expect(first?.maxMs).toBe(100)
    // rank 5 of 10 in (100, 150], which holds ranks 1..8
    expect(second?.p50Ms).toBeCloseTo(100 + (50 * 5) / 8, 0)
    // rank 9.9 in (150, 300], which holds ranks 9..10
    expect(second?.p99Ms).toBeCloseTo(150 + (150 * 1.9) / 2, 0)
    expect(second?.maxMs).toBe(300)
  })

  test('the worst seconds come first', () => {
    expect(worstSeconds(seconds, 1).map((s) => s.second)).toEqual([2])
  })
})

test('latencyBetween takes the percentiles of the whole span', () => {
  const span = latencyBetween(readings[0] as Reading, readings[2] as Reading)
  expect(span.batches).toBe(20)
  expect(span.p50Ms).toBeCloseTo(100)
  expect(span.maxMs).toBe(300)
})
