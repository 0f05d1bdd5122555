import { describe, expect, test } from 'bun:test'
import type { BatonError } from '../core/errors.ts'
import { ManualClock } from '../core/manual-clock.ts'
import { NO_HEADERS, type SourceRecord } from '../ports.ts'
import { type FeedHost, KafkaPartitionFeed } from './partition-feed.ts'

const tp = { topic: 't', partition: 0 }

function setUp() {
  const clock = new ManualClock(1_000)
  const host: FeedHost = {
    wake: () => {},
    initialOffset: async () => 0,
    commit: async () => {},
    log: () => {},
    clock,
  }
  const feed = new KafkaPartitionFeed(tp, host)
  feed.node = 1
  const delivered: number[] = []
  const signals: (string | null)[] = []
  feed.start(
    0,
    (records) => {
      delivered.push(...records.map((r) => r.offset))
    },
    (error: BatonError | null) => signals.push(error?.code ?? null),
  )
  return { feed, delivered, signals, clock }
}

const records = (from: number, to: number): SourceRecord[] =>
  Array.from({ length: to - from }, (_, i) => ({
    ...tp,
    offset: from + i,
    key: null,
    value: null,
    headers: NO_HEADERS,
    timestamp: 0,
  }))

describe('KafkaPartitionFeed and a corrupt record batch', () => {
  test('delivers what came before it, holds the position at it, backs off, and reports every copy', () => {
    const { feed, delivered, signals, clock } = setUp()
    const { generation } = feed.request()
    feed.accept(generation, { records: records(0, 3), nextOffset: 3, corrupt: { firstOffset: 3 } }, 10)
    expect(delivered).toEqual([0, 1, 2])
    expect(feed.request().offset).toBe(3)
    expect(feed.readyAt(clock.now())).toBeGreaterThan(clock.now())
    expect(feed.problem).toContain('offset 3')
    feed.accept(generation, { records: [], nextOffset: 3, corrupt: { firstOffset: 3 } }, 10)
    // An answer with nothing for the partition (its share of the response went elsewhere) settles nothing.
    feed.accept(generation, { records: [], nextOffset: 3 }, 10)
    expect(signals).toEqual(['CORRUPT_RECORD_BATCH', 'CORRUPT_RECORD_BATCH'])
    feed.accept(generation, { records: records(3, 5), nextOffset: 5 }, 10)
    expect(delivered).toEqual([0, 1, 2, 3, 4])
    expect(signals).toEqual(['CORRUPT_RECORD_BATCH', 'CORRUPT_RECORD_BATCH', null])
    expect(feed.problem).toBeNull()
  })

  test('a seek away from the corrupt batch lets the partition flow; a restart starts clean', () => {
    const { feed, signals, clock } = setUp()
    feed.accept(feed.request().generation, { records: [], nextOffset: 0, corrupt: { firstOffset: 0 } }, 10)
    feed.seek(7)
    expect(signals).toEqual(['CORRUPT_RECORD_BATCH', null])
    expect(feed.readyAt(clock.now())).toBe(0)
    feed.accept(feed.request().generation, { records: [], nextOffset: 7, corrupt: { firstOffset: 7 } }, 10)
    const restarted: (string | null)[] = []
    feed.start(
      7,
      () => {},
      (error) => restarted.push(error?.code ?? null),
    )
    expect(restarted).toEqual([])
    expect(feed.readyAt(clock.now())).toBe(0)
  })
})
