import { describe, expect, test } from 'bun:test'
import type { BatonError } from '../core/errors.ts'
import { ManualClock } from '../core/manual-clock.ts'
import { NO_HEADERS, type SourceRecord } from '../ports.ts'
import { FetchBudget } from './fetch-budget.ts'
import { type FeedHost, KafkaPartitionFeed } from './partition-feed.ts'

const tp = { topic: 't', partition: 0 }

/** A started feed; `refuse`: its deliveries fail, as an actor's that is stopping. */
function setUp({ refuse = false } = {}) {
  const clock = new ManualClock(1_000)
  const budget = new FetchBudget(1024 * 1024)
  const host: FeedHost = {
    wake: () => {},
    initialOffset: async () => 0,
    commit: async () => {},
    log: () => {},
    clock,
    budget,
  }
  const feed = new KafkaPartitionFeed(tp, host)
  feed.node = 1
  const delivered: number[] = []
  const signals: (string | null)[] = []
  /** The `taken` of every delivered chunk, in order: what the actor calls when it takes them. */
  const takes: (() => void)[] = []
  feed.start(
    0,
    (records, taken) => {
      if (refuse) return Promise.reject(new Error('actor stopping'))
      delivered.push(...records.map((r) => r.offset))
      takes.push(taken)
    },
    (error: BatonError | null) => signals.push(error?.code ?? null),
  )
  return { feed, delivered, signals, clock, budget, takes }
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
    feed.accept(generation, { records: records(0, 3), nextOffset: 3, corrupt: { firstOffset: 3 } }, 10, 0)
    expect(delivered).toEqual([0, 1, 2])
    expect(feed.request().offset).toBe(3)
    expect(feed.readyAt(clock.now())).toBeGreaterThan(clock.now())
    expect(feed.problem).toContain('offset 3')
    feed.accept(generation, { records: [], nextOffset: 3, corrupt: { firstOffset: 3 } }, 10, 0)
    // An answer with nothing for the partition (its share of the response went elsewhere) settles nothing.
    feed.accept(generation, { records: [], nextOffset: 3 }, 10, 0)
    expect(signals).toEqual(['CORRUPT_RECORD_BATCH', 'CORRUPT_RECORD_BATCH'])
    feed.accept(generation, { records: records(3, 5), nextOffset: 5 }, 10, 0)
    expect(delivered).toEqual([0, 1, 2, 3, 4])
    expect(signals).toEqual(['CORRUPT_RECORD_BATCH', 'CORRUPT_RECORD_BATCH', null])
    expect(feed.problem).toBeNull()
  })

  test('a seek away from the corrupt batch lets the partition flow; a restart starts clean', () => {
    const { feed, signals, clock } = setUp()
    feed.accept(feed.request().generation, { records: [], nextOffset: 0, corrupt: { firstOffset: 0 } }, 10, 0)
    feed.seek(7)
    expect(signals).toEqual(['CORRUPT_RECORD_BATCH', null])
    expect(feed.readyAt(clock.now())).toBe(0)
    feed.accept(feed.request().generation, { records: [], nextOffset: 7, corrupt: { firstOffset: 7 } }, 10, 0)
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

describe('KafkaPartitionFeed and the fetch budget', () => {
  test('a delivered chunk holds its bytes until the actor takes it, once however often taken is called', () => {
    const { feed, budget, takes } = setUp()
    feed.accept(feed.request().generation, { records: records(0, 3), nextOffset: 3 }, 10, 300)
    expect(budget.held).toBe(300)
    expect(feed.heldBytes).toBe(300)
    takes[0]?.()
    takes[0]?.()
    expect(budget.held).toBe(0)
    expect(feed.heldBytes).toBe(0)
  })

  test('an answer without records holds nothing', () => {
    const { feed, budget } = setUp()
    feed.accept(feed.request().generation, { records: [], nextOffset: 0 }, 10, 500)
    expect(budget.held).toBe(0)
  })

  test('stop frees what the actor never took (its mailbox went with it)', () => {
    const { feed, budget, takes } = setUp()
    feed.accept(feed.request().generation, { records: records(0, 3), nextOffset: 3 }, 10, 300)
    feed.stop()
    expect(budget.held).toBe(0)
    // The dropped mail's late `taken` changes nothing.
    takes[0]?.()
    expect(budget.held).toBe(0)
  })

  test('records held while paused keep their bytes; a seek drops them and frees the bytes', () => {
    const { feed, budget, delivered } = setUp()
    feed.pause()
    feed.accept(feed.request().generation, { records: records(0, 2), nextOffset: 2 }, 10, 200)
    expect(delivered).toEqual([])
    expect(budget.held).toBe(200)
    feed.seek(5)
    expect(budget.held).toBe(0)
  })

  test('resume hands over what was held while paused, bytes still held until taken', () => {
    const { feed, budget, delivered, takes } = setUp()
    feed.pause()
    feed.accept(feed.request().generation, { records: records(0, 2), nextOffset: 2 }, 10, 200)
    feed.resume()
    expect(delivered).toEqual([0, 1])
    expect(budget.held).toBe(200)
    takes[0]?.()
    expect(budget.held).toBe(0)
  })

  test('a delivery the actor refused frees its bytes (the records are fetched again)', async () => {
    const { feed, budget } = setUp({ refuse: true })
    feed.accept(feed.request().generation, { records: records(0, 2), nextOffset: 2 }, 10, 200)
    expect(budget.held).toBe(200)
    await Bun.sleep(0)
    expect(budget.held).toBe(0)
    expect(feed.request().offset).toBe(0)
  })
})
