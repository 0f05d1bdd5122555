import { afterEach, beforeEach, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ManualClock } from '../core/manual-clock.ts'
import { eventStore } from '../event-store.ts'
import { type DeadLetter, NO_HEADERS } from '../ports.ts'
import { sqliteDeadLetters } from './dead-letters.ts'
import { SqliteSink } from './sink.ts'
import { SqliteStore } from './store.ts'

let dir: string
let store: SqliteStore
let sink: SqliteSink

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'baton-dlq-'))
  store = SqliteStore.open(join(dir, 'sink.db'))
  sink = await SqliteSink.open(store, { pipeline: eventStore, group: 'g', clock: new ManualClock(5_000) })
})

afterEach(async () => {
  await sink.close()
  rmSync(dir, { recursive: true, force: true })
})

function letter(topic: string, partition: number, offset: number): DeadLetter {
  return {
    record: {
      topic,
      partition,
      offset,
      key: null,
      value: Buffer.from(`v${offset}`),
      headers: offset % 2 ? { h: String(offset) } : NO_HEADERS,
      timestamp: offset,
    },
    error: `failed ${offset}`,
    code: 'POISON_EVENT',
    attempts: 2,
  }
}

/** Dead-letters offsets [0, count) of each (topic, partition), one commit per letter. */
async function fill(group: string, partitions: [string, number][], count: number) {
  for (const [topic, partition] of partitions) {
    const key = { group, topic, partition }
    await sink.claim(key, 1)
    for (let offset = 0; offset < count; offset++) {
      const fromOffset = offset === 0 ? null : offset
      await sink.commit({
        key,
        epoch: 1,
        fromOffset,
        toOffset: offset + 1,
        deadLetters: [letter(topic, partition, offset)],
        work: null,
      })
    }
  }
}

test('lists the group’s letters in pages, filtered by topic and partition', async () => {
  await fill(
    'g',
    [
      ['a', 0],
      ['a', 1],
      ['b', 0],
    ],
    3,
  )
  await fill('other', [['a', 0]], 2)
  const dlq = sink.deadLetters
  const first = await dlq.list({ limit: 4 })
  expect(first.letters.map((l) => `${l.record.topic}/${l.record.partition}@${l.record.offset}`)).toEqual([
    'a/0@0',
    'a/0@1',
    'a/0@2',
    'a/1@0',
  ])
  const second = await dlq.list({ limit: 4, after: first.next ?? undefined })
  expect(second.letters).toHaveLength(4)
  const third = await dlq.list({ limit: 4, after: second.next ?? undefined })
  expect(third.letters).toHaveLength(1)
  expect(third.next).toBeNull()
  expect((await dlq.list({ topic: 'a' })).letters).toHaveLength(6)
  expect((await dlq.list({ topic: 'a', partition: 1 })).letters.map((l) => l.record.offset)).toEqual([
    0, 1, 2,
  ])
  expect((await dlq.list({ partition: 0 })).letters).toHaveLength(6)
  const [one] = (await dlq.list({ topic: 'a', partition: 1, limit: 2, after: first.letters[3]?.id })).letters
  expect(one).toEqual({
    id: expect.any(Number),
    group: 'g',
    record: {
      topic: 'a',
      partition: 1,
      offset: 1,
      key: null,
      value: Buffer.from('v1'),
      headers: { h: '1' },
      timestamp: 1,
    },
    error: 'failed 1',
    code: 'POISON_EVENT',
    attempts: 2,
    failedAt: new Date(5_000),
    publishedAt: null,
    replayedAt: null,
    resolution: null,
  })
})

test('get and markReplayed touch only the group’s own letters', async () => {
  await fill('g', [['a', 0]], 3)
  await fill('other', [['a', 0]], 1)
  const dlq = sqliteDeadLetters(store, 'g', new ManualClock(9_000))
  const [, second, third] = (await dlq.list()).letters
  const foreign = (await sqliteDeadLetters(store, 'other').list()).letters[0]
  const ids = [third?.id, second?.id, foreign?.id] as number[]
  expect((await dlq.get(ids)).map((l) => l.record.offset)).toEqual([1, 2])
  expect(await dlq.markReplayed(ids)).toBe(2)
  expect((await dlq.list()).letters.map((l) => l.replayedAt?.getTime() ?? null)).toEqual([null, 9_000, 9_000])
})
