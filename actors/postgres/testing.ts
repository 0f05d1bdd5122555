/** Helpers shared by this folder's tests: records, event-store work, and cleanup of what a test wrote. */
import postgres, { type Sql } from 'postgres'
import { ToxicProxy } from '../../test/chaos/toxic-proxy.ts'
import { serviceEnv } from '../../test/support/env.ts'
import { uniqueName } from '../../test/support/names.ts'
import { eventStore } from '../event-store.ts'
import { type BatchCommit, NO_HEADERS, type PartitionKey, type SinkTx, type SourceRecord } from '../ports.ts'
import { type PostgresClients, postgresClients } from './clients.ts'
import { createPostgresSink, type PostgresSink, type PostgresSinkOptions } from './sink.ts'

/** A fresh partition key: a group and topic no other test uses. */
export function uniqueKey(partition = 0): PartitionKey {
  return { group: uniqueName('g'), topic: uniqueName('t'), partition }
}

/** A record of `key`'s partition at `offset`, with a JSON value unless one is given. */
export function record(key: PartitionKey, offset: number, fields: Partial<SourceRecord> = {}): SourceRecord {
  return {
    topic: key.topic,
    partition: key.partition,
    offset,
    key: Buffer.from(`k${offset}`),
    value: Buffer.from(JSON.stringify({ offset })),
    headers: NO_HEADERS,
    timestamp: 1_700_000_000_000 + offset,
    ...fields,
  }
}

/** The `work` of a batch that stores `records` through the built-in event store. */
export function storeEvents(records: readonly SourceRecord[]): (tx: SinkTx) => Promise<void> {
  const [first] = records
  return async (tx) => {
    await eventStore.handle(
      {
        topic: first?.topic ?? '',
        partition: first?.partition ?? 0,
        events: records.map((r) => ({ record: r, value: eventStore.decode(r) })),
      },
      tx,
    )
  }
}

/** A batch of `key` holding the records at `offsets`, stored through the event store. */
export function eventStoreBatch(
  key: PartitionKey,
  epoch: number,
  from: number | null,
  offsets: readonly number[],
): BatchCommit {
  return {
    key,
    epoch,
    fromOffset: from,
    toOffset: (offsets.at(-1) ?? 0) + 1,
    deadLetters: [],
    work: storeEvents(offsets.map((o) => record(key, o))),
  }
}

/**
 * `tx` without its deferred COPY (`SinkTx.copy`): the event store then copies its rows at once, so that a
 * test's hook after it runs after the rows went in, right before COMMIT.
 */
export function copyingAtOnce(tx: SinkTx): SinkTx {
  return tx.kind === 'postgres' ? { kind: 'postgres', sql: tx.sql } : tx
}

/** Clients of the test database that count the statements run through them (`transaction` is not counted). */
export function countingClients(): { clients: PostgresClients; statements: () => number } {
  const real = postgresClients(serviceEnv().DATABASE_URL, 2, { onnotice: () => {} })
  let statements = 0
  return {
    clients: {
      ...real,
      run(fn, deadlineMs) {
        statements++
        return real.run(fn, deadlineMs)
      },
    },
    statements: () => statements,
  }
}

/** A plain connection for a test's own checks, and `cleanup` removing every row of the keys it wrote to. */
export function testDatabase(): { sql: Sql; cleanup: (keys: readonly PartitionKey[]) => Promise<void> } {
  const sql = postgres(serviceEnv().DATABASE_URL, { max: 2, onnotice: () => {} })
  return {
    sql,
    async cleanup(keys) {
      const groups = keys.map((k) => k.group)
      const topics = keys.map((k) => k.topic)
      await sql`delete from baton_watermarks where group_id = any(${groups}::text[])`
      await sql`delete from baton_dead_letters where group_id = any(${groups}::text[])`
      await sql`delete from baton_events where topic = any(${topics}::text[])`
      await sql.end()
    },
  }
}

/** The stored watermark row of `key`, with numbers for numbers. */
export async function watermark(sql: Sql, key: PartitionKey) {
  const [row] = await sql<{ next_offset: string | null; epoch: string }[]>`
    select next_offset, epoch from baton_watermarks
    where group_id = ${key.group} and topic = ${key.topic} and partition = ${key.partition}`
  return (
    row && { nextOffset: row.next_offset === null ? null : Number(row.next_offset), epoch: Number(row.epoch) }
  )
}

/** The offsets of `key`'s partition in `baton_events`, in order. */
export async function storedOffsets(sql: Sql, key: PartitionKey): Promise<number[]> {
  const rows = await sql<{ offset: string }[]>`
    select "offset" from baton_events where topic = ${key.topic} and partition = ${key.partition} order by "offset"`
  return rows.map((r) => Number(r.offset))
}

/** A sink of the event store that reaches the test PostgreSQL through a proxy the test can break. */
export async function proxiedSink(
  options: Omit<PostgresSinkOptions, 'url' | 'pipeline' | 'group'>,
): Promise<{ sink: PostgresSink; proxy: ToxicProxy }> {
  const url = new URL(serviceEnv().DATABASE_URL)
  const proxy = await ToxicProxy.start({ host: url.hostname, port: Number(url.port) })
  url.hostname = '127.0.0.1'
  url.port = String(proxy.port)
  const sink = await createPostgresSink({
    ...options,
    url: url.toString(),
    pipeline: eventStore,
    group: 'unused',
  })
  return { sink, proxy }
}
