import { afterAll, beforeAll, expect, test } from 'bun:test'
import { serviceEnv } from '../../test/support/env.ts'
import { eventStore } from '../event-store.ts'
import type { DeadLetter, PartitionKey } from '../ports.ts'
import { postgresDeadLetters } from './dead-letters.ts'
import { createPostgresSink, type PostgresSink } from './sink.ts'
import { postgresTarget } from './target.ts'
import { countingClients, record, testDatabase, uniqueKey } from './testing.ts'

const db = testDatabase()
const key = uniqueKey(0)
const other: PartitionKey = { ...key, partition: 1 }
let sink: PostgresSink

/** Commits the letters at `offsets` of `k` as one batch of only dead letters, after the batches before. */
async function deadLetter(k: PartitionKey, from: number | null, offsets: number[]): Promise<void> {
  const letters: DeadLetter[] = offsets.map((offset) => ({
    record: record(k, offset),
    error: `offset ${offset} failed`,
    code: 'HANDLE_FAILED',
    attempts: 4,
  }))
  await sink.commit({
    key: k,
    epoch: 1,
    fromOffset: from,
    toOffset: (offsets.at(-1) ?? 0) + 1,
    deadLetters: letters,
    work: null,
  })
}

beforeAll(async () => {
  sink = await createPostgresSink({ url: serviceEnv().DATABASE_URL, pipeline: eventStore, group: key.group })
  await sink.claim(key, 1)
  await sink.claim(other, 1)
})

afterAll(async () => {
  await sink.close()
  await db.cleanup([key, other])
})

test('a dead letter keeps the record (binary key and value, headers, time) and the error, code and attempts', async () => {
  const k: PartitionKey = { ...key, partition: 7 }
  await sink.claim(k, 1)
  const binary = Buffer.from([0x00, 0xff, 0x80, 0x0a])
  const letter: DeadLetter = {
    record: record(k, 41, {
      key: binary,
      value: Buffer.from('{not json'),
      headers: { trace: 'abc', 'content-type': 'x' },
    }),
    error: 'The value at offset 41 is not valid JSON',
    code: 'POISON_EVENT',
    attempts: 1,
  }
  const nullKey: DeadLetter = { ...letter, record: record(k, 42, { key: null, value: null }) }
  await sink.commit({
    key: k,
    epoch: 1,
    fromOffset: null,
    toOffset: 43,
    deadLetters: [letter, nullKey],
    work: null,
  })

  const [stored, storedNull] = await sink.deadLetters.unpublished(k)
  expect(stored).toMatchObject({
    group: key.group,
    record: { ...letter.record },
    error: letter.error,
    code: 'POISON_EVENT',
    attempts: 1,
    publishedAt: null,
    replayedAt: null,
  })
  expect(stored?.record.key).toEqual(binary)
  expect(stored?.failedAt).toBeInstanceOf(Date)
  expect(storedNull?.record).toMatchObject({ offset: 42, key: null, value: null })
  await db.sql`delete from baton_dead_letters where group_id = ${key.group} and partition = 7`
})

test('the outbox: unpublished letters of one partition in offset order, until marked published', async () => {
  await deadLetter(key, null, [2, 3])
  await deadLetter(other, null, [0])
  await deadLetter(key, 4, [5])

  const waiting = await sink.deadLetters.unpublished(key)
  expect(waiting.map((l) => l.record.offset)).toEqual([2, 3, 5])
  expect((await sink.deadLetters.unpublished(key, 2)).map((l) => l.record.offset)).toEqual([2, 3])

  expect(await sink.deadLetters.markPublished(waiting.slice(0, 2).map((l) => l.id))).toBe(2)
  // Marking again changes nothing: the publisher may retry after a crash.
  expect(await sink.deadLetters.markPublished(waiting.slice(0, 2).map((l) => l.id))).toBe(0)
  expect((await sink.deadLetters.unpublished(key)).map((l) => l.record.offset)).toEqual([5])
  expect((await sink.deadLetters.unpublished(other)).map((l) => l.record.offset)).toEqual([0])
})

test('listing pages through the group, by topic and partition, and records replays', async () => {
  const all = await sink.deadLetters.list()
  expect(all.letters.map((l) => [l.record.partition, l.record.offset])).toEqual([
    [0, 2],
    [0, 3],
    [1, 0],
    [0, 5],
  ])
  expect(all.next).toBeNull()

  const first = await sink.deadLetters.list({ limit: 3 })
  expect(first.letters.length).toBe(3)
  const second = await sink.deadLetters.list({ limit: 3, after: first.next ?? undefined })
  expect(second.letters.map((l) => l.record.offset)).toEqual([5])
  expect(second.next).toBeNull()

  const partition0 = await sink.deadLetters.list({ topic: key.topic, partition: 0 })
  expect(partition0.letters.map((l) => l.record.offset)).toEqual([2, 3, 5])
  expect((await sink.deadLetters.list({ topic: 'no-such-topic' })).letters).toEqual([])

  const [replay] = partition0.letters
  expect(await sink.deadLetters.markReplayed([replay?.id ?? 0])).toBe(1)
  const after = await sink.deadLetters.list({ partition: 0 })
  expect(after.letters[0]?.replayedAt).toBeInstanceOf(Date)
  expect(after.letters[1]?.replayedAt).toBeNull()
})

test('letters of other groups are neither listed nor marked', async () => {
  const stranger = await createPostgresSink({
    url: serviceEnv().DATABASE_URL,
    pipeline: eventStore,
    group: 'someone-else',
  })
  try {
    expect((await stranger.deadLetters.list({ topic: key.topic })).letters).toEqual([])
    const ids = (await sink.deadLetters.list()).letters.map((l) => l.id)
    expect(await stranger.deadLetters.markReplayed(ids)).toBe(0)
  } finally {
    await stranger.close()
  }
})

test('partitions starting together read their outboxes in one statement, each with its own letters and limit', async () => {
  const { clients, statements } = countingClients()
  const letters = postgresDeadLetters(clients, key.group, postgresTarget(serviceEnv().DATABASE_URL))
  const third: PartitionKey = { ...key, partition: 3 }
  await sink.claim(third, 1)
  await deadLetter(third, null, [0, 1, 2])
  try {
    const before = statements()
    const [all, firstTwo, fromOther, none] = await Promise.all([
      letters.unpublished(third),
      letters.unpublished(third, 2),
      letters.unpublished(other),
      letters.unpublished({ ...key, partition: 2 }),
    ])
    expect(statements() - before).toBe(1)
    expect(all.map((l) => l.record.offset)).toEqual([0, 1, 2])
    expect(all).toEqual(await sink.deadLetters.unpublished(third))
    expect(firstTwo).toEqual(all.slice(0, 2))
    expect(fromOther).toEqual(await sink.deadLetters.unpublished(other))
    expect(fromOther.map((l) => l.record.partition)).toEqual([1])
    expect(none).toEqual([])
  } finally {
    await clients.end(5)
  }
})
