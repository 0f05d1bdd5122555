import { afterEach, beforeEach, expect, test } from 'bun:test'
import { type Cancellable, type Clock, realClock } from '../core/clock.ts'
import type { SourceRecord } from '../ports.ts'
import { SqliteFeed, type SqliteFeedOptions } from './feed.ts'
import { SqliteLog } from './log.ts'

const key = { group: 'g', topic: 't', partition: 0 }
let log: SqliteLog
let feeds: SqliteFeed[]

beforeEach(() => {
  log = SqliteLog.open(':memory:')
  log.createTopic('t', 1)
  feeds = []
})

afterEach(() => {
  for (const feed of feeds) feed.stop()
  log.close()
})

/** The process clock, counting the timers armed, so a test can see that none is left. */
function countingTimers(): Clock & { readonly active: number } {
  const armed = new Set<Cancellable>()
  return {
    get active() {
      return armed.size
    },
    now: realClock.now,
    schedule(ms, fn) {
      const timer = realClock.schedule(ms, () => {
        armed.delete(handle)
        fn()
      })
      const handle: Cancellable = {
        cancel() {
          armed.delete(handle)
          timer.cancel()
        },
      }
      armed.add(handle)
      return handle
    },
  }
}

function feed(options: SqliteFeedOptions = {}): SqliteFeed {
  const f = new SqliteFeed(log, key, { idleMs: 60_000, ...options })
  feeds.push(f)
  return f
}

/** A deliver that records what it gets, lets a test await the next delivery, and can hold it. */
function receiver() {
  const deliveries: number[][] = []
  let waiting: ((records: number[]) => void) | null = null
  let hold: Promise<void> | null = null
  return {
    deliveries,
    deliver(records: SourceRecord[]): Promise<void> | undefined {
      const offsets = records.map((r) => r.offset)
      deliveries.push(offsets)
      waiting?.(offsets)
      waiting = null
      return hold ?? undefined
    },
    next(): Promise<number[]> {
      return new Promise((resolve) => {
        waiting = resolve
      })
    },
    holdWith(promise: Promise<void> | null) {
      hold = promise
    },
  }
}

const append = (n: number, from = 0) =>
  log.append(
    't',
    Array.from({ length: n }, (_, i) => ({ value: from + i })),
  )

test('delivers from the start offset in order, in chunks of maxRecords, then waits for appends', async () => {
  append(12)
  const r = receiver()
  const f = feed({ maxRecords: 5 })
  const first = r.next()
  f.start(3, (records) => r.deliver(records))
  expect(await first).toEqual([3, 4, 5, 6, 7])
  expect(await r.next()).toEqual([8, 9, 10, 11])
  const later = r.next()
  append(2)
  expect(await later).toEqual([12, 13])
  expect(r.deliveries.flat()).toEqual(Array.from({ length: 11 }, (_, i) => i + 3))
})

test('maxBytes caps a delivery', async () => {
  log.append(
    't',
    Array.from({ length: 4 }, () => ({ value: 'x'.repeat(100) })),
  )
  const r = receiver()
  const next = r.next()
  feed({ maxBytes: 250 }).start(0, (records) => r.deliver(records))
  expect(await next).toEqual([0, 1])
})

test('backpressure: nothing more is delivered until the returned promise settles', async () => {
  append(3)
  const r = receiver()
  let release = () => {}
  r.holdWith(
    new Promise<void>((resolve) => {
      release = resolve
    }),
  )
  const f = feed({ maxRecords: 2 })
  const first = r.next()
  f.start(0, (records) => r.deliver(records))
  expect(await first).toEqual([0, 1])
  append(5, 3)
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
  expect(r.deliveries).toEqual([[0, 1]])
  r.holdWith(null)
  const second = r.next()
  release()
  expect(await second).toEqual([2, 3])
})

test('seek moves the position; records of the old position are not delivered after it', async () => {
  append(10)
  const r = receiver()
  let release = () => {}
  r.holdWith(
    new Promise<void>((resolve) => {
      release = resolve
    }),
  )
  const f = feed({ maxRecords: 3 })
  const first = r.next()
  f.start(0, (records) => r.deliver(records))
  expect(await first).toEqual([0, 1, 2])
  f.seek(7)
  r.holdWith(null)
  const second = r.next()
  release()
  expect(await second).toEqual([7, 8, 9])
  const back = r.next()
  f.seek(1)
  expect(await back).toEqual([1, 2, 3])
})

test('pause stops deliveries and its wait; resume goes on from where it was', async () => {
  const timers = countingTimers()
  append(2)
  const r = receiver()
  const f = feed({ clock: timers, maxRecords: 2 })
  const first = r.next()
  f.start(0, (records) => r.deliver(records))
  expect(await first).toEqual([0, 1])
  await new Promise((resolve) => setImmediate(resolve))
  expect(timers.active).toBe(1)
  f.pause()
  expect(timers.active).toBe(0)
  append(2, 2)
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve))
  expect(r.deliveries).toEqual([[0, 1]])
  const second = r.next()
  f.resume()
  expect(await second).toEqual([2, 3])
})

test('stop leaves no timer and delivers nothing more; start again works (a restarted actor)', async () => {
  const timers = countingTimers()
  const r = receiver()
  const f = feed({ clock: timers })
  f.start(0, (records) => r.deliver(records))
  await new Promise((resolve) => setImmediate(resolve))
  expect(timers.active).toBe(1)
  f.stop()
  expect(timers.active).toBe(0)
  append(3)
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve))
  expect(r.deliveries).toEqual([])
  const again = receiver()
  const next = again.next()
  f.start(1, (records) => again.deliver(records))
  expect(await next).toEqual([1, 2])
  f.stop()
  expect(timers.active).toBe(0)
})

test('a restart does not wait for a delivery of the previous run that never settles', async () => {
  append(4)
  const stuck = receiver()
  stuck.holdWith(new Promise<void>(() => {}))
  const f = feed({ maxRecords: 2 })
  const first = stuck.next()
  f.start(0, (records) => stuck.deliver(records))
  expect(await first).toEqual([0, 1])
  f.stop()
  const fresh = receiver()
  const next = fresh.next()
  f.start(2, (records) => fresh.deliver(records))
  expect(await next).toEqual([2, 3])
})

test('a rejected delivery is reported and offered again', async () => {
  append(2)
  const errors: string[] = []
  const timers = countingTimers()
  const f = feed({ clock: timers, idleMs: 1, onError: (err) => errors.push((err as Error).message) })
  const offered: number[][] = []
  const done = new Promise<void>((resolve) => {
    f.start(0, (records) => {
      offered.push(records.map((r) => r.offset))
      if (offered.length === 1) return Promise.reject(new Error('mailbox closed'))
      resolve()
    })
  })
  await done
  expect(errors).toEqual(['mailbox closed'])
  expect(offered).toEqual([
    [0, 1],
    [0, 1],
  ])
})

test('endOffset, initialOffset and commit (which lets retention delete what the group passed)', async () => {
  log.close()
  log = SqliteLog.open(':memory:', { retention: { keepEvents: 0 } })
  log.createTopic('t', 1)
  append(10)
  const f = feed()
  expect(f.endOffset()).toBe(10)
  expect(await f.initialOffset()).toBe(0)
  await f.commit(6)
  expect(await f.initialOffset()).toBe(6)
  expect(log.startOffset('t', 0)).toBe(6)
})
