import type {
  DeadLetter,
  DeadLetterPage,
  DeadLetterQuery,
  PartitionKey,
  SourceRecord,
  StoredDeadLetter,
} from '../ports.ts'

export type { DeadLetterPage, DeadLetterQuery, StoredDeadLetter } from '../ports.ts'

import { coalesce } from '../core/coalesce.ts'
import type { PostgresClients } from './clients.ts'
import { describeKeys, keyColumns, rowsPerKey } from './partition-keys.ts'
import { sinkCalls } from './sink-calls.ts'
import type { PostgresTarget } from './target.ts'

/**
 * The dead-letter table of one consumer group, as the DLQ publisher and the HTTP API use it. Letters get
 * into it only through `Sink.commit`, in the transaction of their batch; the table is the publisher's
 * outbox, so a crash between commit and publish means a retry, not a lost letter.
 */
export interface PostgresDeadLetters {
  /**
   * The oldest unpublished letters of one partition, in offset order (the order to publish them in). The
   * calls of one tick are answered by one statement.
   */
  unpublished(key: PartitionKey, limit?: number): Promise<StoredDeadLetter[]>
  /** Marks letters as published; letters already marked stay as they are. Returns how many it marked. */
  markPublished(ids: readonly number[]): Promise<number>
  /** One page of letters in the order they were stored, optionally of one topic or partition only. */
  list(query?: DeadLetterQuery): Promise<DeadLetterPage>
  /** The letters with these ids (those that exist), in id order, for a replay. */
  get(ids: readonly number[]): Promise<StoredDeadLetter[]>
  /** Records that letters were replayed (sent back to their topic). Returns how many it updated. */
  markReplayed(ids: readonly number[]): Promise<number>
}

interface DeadLetterRow extends StoredEventRow {
  id: string
  group_id: string
  error: string
  error_code: string
  attempts: number
  failed_at: Date
  published_at: Date | null
  replayed_at: Date | null
  resolution: 'retried' | 'skipped' | null
}

/**
 * The dead-letter table of `group`, read and updated through `clients`. Throws SINK_UNAVAILABLE when
 * PostgreSQL cannot be reached or does not answer within `deadlineMs`.
 */
export function postgresDeadLetters(
  clients: PostgresClients,
  group: string,
  target: PostgresTarget,
  deadlineMs?: number,
): PostgresDeadLetters {
  const { run } = sinkCalls(clients, target, deadlineMs)
  // Every partition a node takes looks into its outbox as it starts: thousands at once, one statement.
  const unpublished = coalesce(async (asks: readonly { key: PartitionKey; limit: number }[]) => {
    const c = keyColumns(asks.map((ask) => ask.key))
    const rows = await run(
      `reading the unpublished dead letters of ${describeKeys(asks.map((ask) => ask.key))}`,
      (sql) => sql<(DeadLetterRow & { i: string })[]>`
        select k.i, d.*
        from unnest(${c.groups}::text[], ${c.topics}::text[], ${c.partitions}::int[],
          ${asks.map((ask) => pageSize(ask.limit))}::int[]) with ordinality as k(g, t, p, n, i)
        cross join lateral (
          select * from baton_dead_letters
          where group_id = k.g and topic = k.t and partition = k.p and published_at is null
          order by "offset"
          limit k.n) d
        order by k.i, d."offset"`,
    )
    return rowsPerKey(asks.length, rows).map((letters) => letters.map(toStored))
  })
  return {
    unpublished: (key, limit = 100) => unpublished({ key, limit }),
    async markPublished(ids) {
      const result = await run(
        'marking dead letters published',
        (sql) => sql`
          update baton_dead_letters set published_at = now()
          where group_id = ${group} and id = any(${ids.map(String)}::bigint[]) and published_at is null`,
      )
      return result.count
    },
    async list(query = {}) {
      const limit = pageSize(query.limit ?? 100)
      const rows = await run(
        'listing dead letters',
        (sql) => sql<DeadLetterRow[]>`
          select * from baton_dead_letters
          where group_id = ${group}
            ${query.topic === undefined ? sql`` : sql`and topic = ${query.topic}`}
            ${query.partition === undefined ? sql`` : sql`and partition = ${query.partition}`}
            ${query.after === undefined ? sql`` : sql`and id > ${query.after}`}
          order by id
          limit ${limit + 1}`,
      )
      const letters = rows.slice(0, limit).map(toStored)
      return { letters, next: rows.length > limit ? (letters.at(-1)?.id ?? null) : null }
    },
    async get(ids) {
      const rows = await run(
        'reading dead letters',
        (sql) => sql<DeadLetterRow[]>`
          select * from baton_dead_letters
          where group_id = ${group} and id = any(${ids.map(String)}::bigint[])
          order by id`,
      )
      return rows.map(toStored)
    },
    async markReplayed(ids) {
      const result = await run(
        'marking dead letters replayed',
        (sql) => sql`
          update baton_dead_letters set replayed_at = now()
          where group_id = ${group} and id = any(${ids.map(String)}::bigint[])`,
      )
      return result.count
    },
  }
}

/**
 * The columns of `letters` as parallel arrays, for one `insert … select from unnest(…)` in the commit.
 * Keys and values travel as hex text because postgres.js has no array form for buffers that may be null.
 */
export function deadLetterColumns(letters: readonly DeadLetter[]) {
  const n = letters.length
  const columns = {
    offsets: new Array<string>(n),
    keys: new Array<string | null>(n),
    values: new Array<string | null>(n),
    headers: new Array<string>(n),
    times: new Array<number>(n),
    errors: new Array<string>(n),
    codes: new Array<string>(n),
    attempts: new Array<number>(n),
  }
  for (let i = 0; i < n; i++) {
    const { record, error, code, attempts } = letters[i] as DeadLetter
    columns.offsets[i] = String(record.offset)
    columns.keys[i] = record.key?.toString('hex') ?? null
    columns.values[i] = record.value?.toString('hex') ?? null
    columns.headers[i] = JSON.stringify(record.headers)
    columns.times[i] = record.timestamp
    columns.errors[i] = error
    columns.codes[i] = code
    columns.attempts[i] = attempts
  }
  return columns
}

/** The columns of an event as baton's tables store it (dead letters, held events). */
export interface StoredEventRow {
  topic: string
  partition: number
  offset: string
  key: Buffer | null
  value: Buffer | null
  headers: Record<string, string>
  event_time: Date
}

/** A stored event as the record it came from. */
export function storedRecord(row: StoredEventRow): SourceRecord {
  return {
    topic: row.topic,
    partition: row.partition,
    offset: Number(row.offset),
    key: row.key,
    value: row.value,
    headers: row.headers,
    timestamp: row.event_time.getTime(),
  }
}

function toStored(row: DeadLetterRow): StoredDeadLetter {
  return {
    id: Number(row.id),
    group: row.group_id,
    record: storedRecord(row),
    error: row.error,
    code: row.error_code,
    attempts: row.attempts,
    failedAt: row.failed_at,
    publishedAt: row.published_at,
    replayedAt: row.replayed_at,
    resolution: row.resolution,
  }
}

function pageSize(limit: number): number {
  return Math.min(Math.max(Math.trunc(limit) || 1, 1), 1000)
}
