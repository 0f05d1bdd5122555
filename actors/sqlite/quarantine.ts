import type { Database } from 'bun:sqlite'
import type { Clock } from '../core/clock.ts'
import { BatonError } from '../core/errors.ts'
import { type BatchCommit, NO_HEADERS, type PartitionKey, type SourceRecord } from '../ports.ts'
import {
  type QuarantineState,
  type QuarantineStore,
  quarantineConflict,
  releaseFenced,
} from '../quarantine.ts'
import { own } from './own.ts'
import type { SqliteStore } from './store.ts'

/** The embedded quarantine tables (issue 20), appended to the schema as version 2. */
export const quarantineSchema: readonly string[] = [
  'alter table baton_dead_letters add column resolution text',
  'alter table baton_dead_letters add column resolved_at integer',
  `create table if not exists baton_quarantined_keys (
    group_id text not null,
    topic text not null,
    partition integer not null,
    key blob not null,
    dead_letter_id integer not null,
    state text not null check (state in ('quarantined', 'releasing')),
    since integer not null,
    primary key (group_id, topic, partition, key)
  ) without rowid`,
  'create index if not exists baton_quarantined_keys_letter on baton_quarantined_keys (dead_letter_id)',
  `create table if not exists baton_quarantine (
    group_id text not null,
    topic text not null,
    partition integer not null,
    "offset" integer not null,
    key blob not null,
    value blob,
    headers text not null default '{}',
    event_time integer not null,
    dead_letter_id integer not null,
    primary key (group_id, topic, partition, "offset")
  ) without rowid`,
  'create index if not exists baton_quarantine_key on baton_quarantine (group_id, topic, partition, key, "offset")',
]

const where = 'group_id = ? and topic = ? and partition = ?'

/**
 * Writes a batch's quarantine in its transaction, after the watermark moved and the letters were stored:
 * the keys the letters quarantine, then the held events under their key's head letter.
 */
export function writeQuarantine(db: Database, batch: BatchCommit, now: number): void {
  const q = batch.quarantine
  if (!q) return
  const { group, topic, partition } = batch.key
  const tp = [group, topic, partition] as const
  for (const { key, letterOffset } of q.newKeys) {
    db.prepare(
      `insert into baton_quarantined_keys (group_id, topic, partition, key, dead_letter_id, state, since)
       select ?1, ?2, ?3, ?4, id, 'quarantined', ?5 from baton_dead_letters
       where group_id = ?1 and topic = ?2 and partition = ?3 and "offset" = ?6`,
    ).run(...tp, key, now, letterOffset)
  }
  const insert = db.prepare(
    `insert into baton_quarantine
       (group_id, topic, partition, "offset", key, value, headers, event_time, dead_letter_id)
     select ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, dead_letter_id from baton_quarantined_keys
     where group_id = ?1 and topic = ?2 and partition = ?3 and key = ?5`,
  )
  for (const r of q.held) {
    const { changes } = insert.run(...tp, r.offset, r.key, r.value, JSON.stringify(r.headers), r.timestamp)
    if (changes !== 1) {
      throw new BatonError(
        'INTERNAL',
        `The held event at offset ${r.offset} of ${topic}/${partition} has no quarantined key; the batch was rolled back and is retried.`,
      )
    }
  }
}

interface HeldRow {
  topic: string
  partition: number
  offset: number
  key: Uint8Array
  value: Uint8Array | null
  headers: string
  event_time: number
}

/** The embedded quarantine tables of consumer group `group`, in the sink's store. */
export function sqliteQuarantine(store: SqliteStore, group: string, clock: Clock): QuarantineStore {
  const now = () => clock.now()
  const read = <T>(what: string, fn: (db: Database) => T) => store.exclusive((db) => own(what, () => fn(db)))
  return {
    load(key) {
      return read('load quarantined keys', (db) =>
        (
          db
            .prepare(
              `select q.key, q.state, q.dead_letter_id,
                 (select count(*) from baton_quarantine h where h.group_id = q.group_id and h.topic = q.topic
                   and h.partition = q.partition and h.key = q.key) as events
               from baton_quarantined_keys q where ${where}`,
            )
            .all(key.group, key.topic, key.partition) as {
            key: Uint8Array
            state: QuarantineState
            dead_letter_id: number
            events: number
          }[]
        ).map((r) => ({
          key: buffer(r.key),
          state: r.state,
          deadLetterId: r.dead_letter_id,
          events: r.events,
        })),
      )
    },

    release(step) {
      const { group: g, topic, partition } = step.key
      const tp = [g, topic, partition] as const
      const k = step.recordKey
      const what = `release a key of ${topic}/${partition}`
      return store.transaction(async (db) => {
        own(what, () => fence(db, step.key, step.epoch, now()))
        const applied: SourceRecord[] = []
        if (step.mark) {
          const { letterId, outcome } = step.mark
          const held = own(what, () =>
            db
              .prepare(
                `update baton_quarantined_keys set state = 'releasing'
                 where ${where} and key = ? and dead_letter_id = ? and state = 'quarantined'`,
              )
              .run(...tp, k, letterId),
          )
          const letter = own(what, () =>
            db
              .prepare(
                `update baton_dead_letters set resolution = ?, resolved_at = ?
                 where group_id = ? and id = ? and resolution is null and replayed_at is null`,
              )
              .run(outcome, now(), g, letterId),
          )
          if (held.changes !== 1 || letter.changes !== 1) throw quarantineConflict(letterId)
          if (outcome === 'retried') applied.push(step.mark.letter)
        }
        if (step.take > 0) {
          const rows = own(
            what,
            () =>
              db
                .prepare(
                  `delete from baton_quarantine where ${where} and "offset" in (
                     select "offset" from baton_quarantine where ${where} and key = ? order by "offset" limit ?)
                   returning topic, partition, "offset", key, value, headers, event_time`,
                )
                .all(...tp, ...tp, k, step.take) as HeldRow[],
          )
          applied.push(...rows.map(toRecord).sort((a, b) => a.offset - b.offset))
        }
        await step.apply(applied, { kind: 'sqlite', db })
        const done = own(what, () =>
          db
            .prepare(
              `delete from baton_quarantined_keys where ${where} and key = ?
                 and not exists (select 1 from baton_quarantine where ${where} and key = ?)`,
            )
            .run(...tp, k, ...tp, k),
        )
        return { applied, done: done.changes === 1 }
      })
    },

    newHead(l) {
      const { group: g, topic, partition } = l.key
      const tp = [g, topic, partition] as const
      const k = l.record.key as Buffer
      const what = `hold a key of ${topic}/${partition} again`
      return store.transaction((db) =>
        own(what, () => {
          fence(db, l.key, l.epoch, now())
          const row = db
            .prepare(
              `delete from baton_quarantine where ${where} and "offset" = ?
               returning topic, partition, "offset", key, value, headers, event_time`,
            )
            .get(...tp, l.record.offset) as HeldRow | null
          if (!row) throw quarantineConflict(null)
          const letter = db
            .prepare(
              `insert into baton_dead_letters
                 (group_id, topic, partition, "offset", key, value, headers, event_time, error, error_code, attempts, failed_at)
               values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning id`,
            )
            .get(
              ...tp,
              row.offset,
              row.key,
              row.value,
              row.headers,
              row.event_time,
              l.error,
              l.code,
              l.attempts,
              now(),
            ) as {
            id: number
          }
          db.prepare(
            `update baton_quarantined_keys set dead_letter_id = ?, state = 'quarantined' where ${where} and key = ?`,
          ).run(letter.id, ...tp, k)
          db.prepare(`update baton_quarantine set dead_letter_id = ? where ${where} and key = ?`).run(
            letter.id,
            ...tp,
            k,
          )
          return letter.id
        }),
      )
    },

    list(query = {}) {
      const limit = Math.min(Math.max(Math.trunc(query.limit ?? 100) || 1, 1), 1000)
      return read('list quarantined keys', (db) => {
        const rows = db
          .prepare(
            `select q.topic, q.partition, q.key, q.dead_letter_id, q.state,
               count(h."offset") as events, min(h.event_time) as oldest
             from baton_quarantined_keys q
             left join baton_quarantine h on h.group_id = q.group_id and h.topic = q.topic
               and h.partition = q.partition and h.key = q.key
             where q.group_id = ?1 and (?2 is null or q.topic = ?2) and (?3 is null or q.partition = ?3)
               and q.dead_letter_id > ?4
             group by q.topic, q.partition, q.key, q.dead_letter_id, q.state
             order by q.dead_letter_id limit ?5`,
          )
          .all(group, query.topic ?? null, query.partition ?? null, query.after ?? 0, limit + 1) as {
          topic: string
          partition: number
          key: Uint8Array
          dead_letter_id: number
          state: QuarantineState
          events: number
          oldest: number | null
        }[]
        const entries = rows.slice(0, limit).map((r) => ({
          topic: r.topic,
          partition: r.partition,
          key: buffer(r.key),
          deadLetterId: r.dead_letter_id,
          state: r.state,
          events: r.events,
          oldestEventTime: r.oldest,
        }))
        return { entries, next: rows.length > limit ? (entries.at(-1)?.deadLetterId ?? null) : null }
      })
    },

    holder(deadLetterId) {
      return read('read which key a dead letter holds', (db) => {
        const row = db
          .prepare(
            'select topic, partition, key, state from baton_quarantined_keys where group_id = ? and dead_letter_id = ?',
          )
          .get(group, deadLetterId) as {
          topic: string
          partition: number
          key: Uint8Array
          state: QuarantineState
        } | null
        return row && { ...row, key: buffer(row.key) }
      })
    },
  }
}

/** Touches the partition's watermark row for this epoch, or throws FENCED: only its owner releases. */
function fence(db: Database, key: PartitionKey, epoch: number, now: number): void {
  const { changes } = db
    .prepare(`update baton_watermarks set updated_at = ? where ${where} and epoch = ?`)
    .run(now, key.group, key.topic, key.partition, epoch)
  if (changes !== 1) throw releaseFenced(key, epoch)
}

const buffer = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength)

function toRecord(row: HeldRow): SourceRecord {
  return {
    topic: row.topic,
    partition: row.partition,
    offset: row.offset,
    key: buffer(row.key),
    value: row.value && buffer(row.value),
    headers: row.headers === '{}' ? NO_HEADERS : (JSON.parse(row.headers) as Record<string, string>),
    timestamp: row.event_time,
  }
}
