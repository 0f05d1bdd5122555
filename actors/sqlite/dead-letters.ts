import { type Clock, realClock } from '../core/clock.ts'
import { BatonError, errorMessage } from '../core/errors.ts'
import { type DeadLetterPage, type DeadLetterQuery, NO_HEADERS, type StoredDeadLetter } from '../ports.ts'

export type { DeadLetterPage, DeadLetterQuery, StoredDeadLetter } from '../ports.ts'

import type { SqliteStore } from './store.ts'

/** The embedded dead-letter table of one consumer group, as the HTTP API reads and replays it. */
export interface SqliteDeadLetters {
  /** One page of letters in the order they were stored, optionally of one topic or partition only. */
  list(query?: DeadLetterQuery): Promise<DeadLetterPage>
  /** The letters with these ids (those that exist), in id order, for a replay. */
  get(ids: readonly number[]): Promise<StoredDeadLetter[]>
  /** Records that letters were replayed (appended to their topic again). Returns how many it updated. */
  markReplayed(ids: readonly number[]): Promise<number>
}

interface DeadLetterRow {
  id: number
  group_id: string
  topic: string
  partition: number
  offset: number
  key: Uint8Array | null
  value: Uint8Array | null
  headers: string
  event_time: number
  error: string
  error_code: string
  attempts: number
  failed_at: number
  published_at: number | null
  replayed_at: number | null
  resolution: 'retried' | 'skipped' | null
}

/**
 * The dead-letter table of `group` in the sink's store (its tables exist once `SqliteSink.open` ran).
 * Every call waits its turn on the store's connection, so it never reads a batch transaction that is
 * still open.
 */
export function sqliteDeadLetters(
  store: SqliteStore,
  group: string,
  clock: Clock = realClock,
): SqliteDeadLetters {
  const run = <T>(what: string, fn: () => T): Promise<T> =>
    store
      .exclusive(() => fn())
      .catch((err) => {
        if (err instanceof BatonError) throw err
        throw new BatonError(
          'SINK_UNAVAILABLE',
          `Could not ${what} in ${store.path}: ${errorMessage(err)}. Check free disk space and BATON_DATA_DIR, then retry.`,
          { cause: err },
        )
      })
  const page = store.db.prepare(
    `select * from baton_dead_letters
     where group_id = ?1 and (?2 is null or topic = ?2) and (?3 is null or partition = ?3) and id > ?4
     order by id limit ?5`,
  )
  const byIds = store.db.prepare(
    'select * from baton_dead_letters where group_id = ?1 and id in (select value from json_each(?2)) order by id',
  )
  const replayed = store.db.prepare(
    'update baton_dead_letters set replayed_at = ?1 where group_id = ?2 and id in (select value from json_each(?3))',
  )
  return {
    list(query = {}) {
      const limit = pageSize(query.limit ?? 100)
      return run('list dead letters', () => {
        const rows = page.all(
          group,
          query.topic ?? null,
          query.partition ?? null,
          query.after ?? 0,
          limit + 1,
        )
        const letters = (rows as DeadLetterRow[]).slice(0, limit).map(toStored)
        return { letters, next: rows.length > limit ? (letters.at(-1)?.id ?? null) : null }
      })
    },
    get(ids) {
      return run('read dead letters', () =>
        (byIds.all(group, JSON.stringify(ids)) as DeadLetterRow[]).map(toStored),
      )
    },
    markReplayed(ids) {
      return run(
        'mark dead letters replayed',
        () => replayed.run(clock.now(), group, JSON.stringify(ids)).changes,
      )
    },
  }
}

function toStored(row: DeadLetterRow): StoredDeadLetter {
  return {
    id: row.id,
    group: row.group_id,
    record: {
      topic: row.topic,
      partition: row.partition,
      offset: row.offset,
      key: row.key && Buffer.from(row.key.buffer, row.key.byteOffset, row.key.byteLength),
      value: row.value && Buffer.from(row.value.buffer, row.value.byteOffset, row.value.byteLength),
      headers: row.headers === '{}' ? NO_HEADERS : (JSON.parse(row.headers) as Record<string, string>),
      timestamp: row.event_time,
    },
    error: row.error,
    code: row.error_code,
    attempts: row.attempts,
    failedAt: new Date(row.failed_at),
    publishedAt: row.published_at === null ? null : new Date(row.published_at),
    replayedAt: row.replayed_at === null ? null : new Date(row.replayed_at),
    resolution: row.resolution,
  }
}

function pageSize(limit: number): number {
  return Math.min(Math.max(Math.trunc(limit) || 1, 1), 1000)
}
