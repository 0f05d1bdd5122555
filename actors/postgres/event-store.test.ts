import { afterAll, beforeAll, expect, test } from 'bun:test'
import type { TransactionSql } from 'postgres'
import { serviceEnv } from '../../test/support/env.ts'
import { eventStore } from '../event-store.ts'
import { copyIn } from '../event-store-copy.ts'
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

// Keys and values go into a binary COPY as the bytes they came in (or as the text decoding made of
// bytes that are not UTF-8): every kind of text must come back exactly as decoding read it.
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
    // Not UTF-8: stored as the text decoding made of them, U+FFFD for each invalid sequence.
    { key: Buffer.from([0xff, 0x61, 0xc3]), value: Buffer.from([0x22, 0xfe, 0x62, 0x22]) },
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
    toOffset: 19,
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

// No `on conflict do nothing`: a row stored twice is a double that got past the watermark, and must fail
// its transaction with PostgreSQL's error rather than vanish or leave the COPY waiting.
test('a row the event store already holds fails the batch with the unique violation', async () => {
  const other = uniqueKey(4)
  const records = [0, 1, 2].map((offset) => record(other, offset))
  const store = (tx: TransactionSql) => storeEvents(records)({ kind: 'postgres', sql: tx })
  await db.sql.begin(store)
  const failed = await db.sql.begin(store).then(
    () => null,
    (err: unknown) => err,
  )
  expect((failed as { code?: string } | null)?.code).toBe('23505')
  const [row] = await db.sql<{ n: number }[]>`
    select count(*)::int as n from baton_events where topic = ${other.topic}`
  expect(row?.n).toBe(3)
  await db.sql`delete from baton_events where topic = ${other.topic}`
})

// A shared transaction's rows go out as one CopyData message per batch, each after the socket took the last.
test('rows in several CopyData messages, split anywhere, are stored whole and in order, in one COPY', async () => {
  const big = uniqueKey(5)
  const value = Buffer.from(JSON.stringify({ pad: 'x'.repeat(900) }))
  const records = Array.from({ length: 1_500 }, (_, offset) => record(big, offset, { value }))
  const store = storeEvents(records)
  await db.sql.begin(async (tx) => {
    const rows: Buffer[] = []
    const statements = new Set<string>()
    // The tuples a batch hands over, as a shared transaction gathers them.
    await store({
      kind: 'postgres',
      sql: tx,
      copy: (statement, tuples) => {
        statements.add(statement)
        rows.push(tuples)
      },
    })
    expect(rows.reduce((n, b) => n + b.length, 0)).toBeGreaterThan(1024 * 1024)
    // Split anywhere: COPY data need not break at rows.
    const all = rows[0] as Buffer
    const parts = [all.subarray(0, 100_000), all.subarray(100_000, 700_000), all.subarray(700_000)]
    await copyIn(tx, [...statements][0] as string, parts)
  })
  const [row] = await db.sql<{ n: number; first: string; last: string; ok: number }[]>`
    select count(*)::int as n, min("offset")::text as first, max("offset")::text as last,
      count(*) filter (where value ->> 'pad' = repeat('x', 900))::int as ok
    from baton_events where topic = ${big.topic}`
  expect(row).toEqual({ n: 1_500, first: '0', last: '1499', ok: 1_500 })
  await db.sql`delete from baton_events where topic = ${big.topic}`
})
