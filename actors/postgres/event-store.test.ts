import { afterAll, beforeAll, expect, test } from 'bun:test'
import { serviceEnv } from '../../test/support/env.ts'
import { eventStore } from '../event-store.ts'
import type { PartitionKey, SourceRecord } from '../ports.ts'
import { createPostgresSink, type PostgresSink } from './sink.ts'
import { record, storeEvents, testDatabase, uniqueKey } from './testing.ts'

const db = testDatabase()
const key: PartitionKey = uniqueKey(3)
let sink: PostgresSink

beforeAll(async () => {
  sink = await createPostgresSink({ url: serviceEnv().DATABASE_URL, pipeline: eventStore, group: key.group })
})

afterAll(async () => {
  await sink.close()
  await db.cleanup([key])
})

// The statement joins values and headers with U+001F and keys travel as an array: every kind of text
// must come back exactly as it went in.
test('the event store keeps keys, values, headers, offsets and event times exactly', async () => {
  const awkward: Partial<SourceRecord>[] = [
    { key: null, value: null },
    { key: Buffer.from(''), value: Buffer.from('""') },
    {
      key: Buffer.from('a,b\t"c"\\d\u001fe\u001ef{}'),
      value: Buffer.from('{ "x" :\n\t[1, 2.5e3, true, null] }'),
    },
    { key: Buffer.from('ключ 🔑'), value: Buffer.from('"line\\nbreak, \\"quoted\\", \\\\ back \\u001f"') },
    { key: Buffer.from('NULL'), value: Buffer.from('{"a,b":"c\\u0001d","ü":"🎉"}') },
    { key: Buffer.from('k'), value: Buffer.from('-0.5'), headers: { 'trace,id': 'a"b\\c', empty: '' } },
  ]
  // Gaps in the offsets, as control records or compaction leave them.
  const records = awkward.map((fields, i) =>
    record(key, i * 3, { timestamp: 1_700_000_000_123 + i, ...fields }),
  )
  await sink.claim(key, 1)
  await sink.commit({
    key,
    epoch: 1,
    fromOffset: null,
    toOffset: 16,
    deadLetters: [],
    work: storeEvents(records),
  })
  const rows = await db.sql<
    { offset: string; key: string | null; value: unknown; headers: unknown; ms: number }[]
  >`select "offset", key, value, headers, extract(epoch from event_time) * 1000 as ms
    from baton_events where topic = ${key.topic} and partition = ${key.partition} order by "offset"`
  expect(rows.map((r) => Number(r.offset))).toEqual(records.map((r) => r.offset))
  rows.forEach((row, i) => {
    const r = records[i] as SourceRecord
    expect(row.key).toBe(r.key === null ? null : r.key.toString('utf8'))
    expect(row.value).toEqual(JSON.parse(r.value?.toString('utf8') ?? 'null'))
    expect(row.headers).toEqual(r.headers)
    expect(Number(row.ms)).toBe(r.timestamp)
  })
})
