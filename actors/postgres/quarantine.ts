import type { TransactionSql } from 'postgres'
import { coalesce } from '../core/coalesce.ts'
import { BatonError } from '../core/errors.ts'
import type { BatchCommit, PartitionKey, SourceRecord } from '../ports.ts'
import {
  type QuarantineEntry,
  type QuarantineState,
  type QuarantineStore,
  quarantineConflict,
  releaseFenced,
} from '../quarantine.ts'
import type { PostgresClients } from './clients.ts'
import { deadLetterColumns, type StoredEventRow, storedRecord } from './dead-letters.ts'
import { describeKeys, keyColumns, rowsPerKey } from './partition-keys.ts'
import { sinkCalls } from './sink-calls.ts'
import type { PostgresTarget } from './target.ts'

/**
 * baton's quarantine tables (issue 20), appended to the schema as version 2: the quarantined keys of each
 * partition with their head letter and state, the events they hold, and the decision on a letter.
 */
export const quarantineSchema: readonly string[] = [
  `alter table baton_dead_letters
    add column if not exists resolution text check (resolution in ('retried', 'skipped')),
    add column if not exists resolved_at timestamptz`,
  `create table if not exists baton_quarantined_keys (
    group_id text not null,
    topic text not null,
    partition integer not null,
    key bytea not null,
    dead_letter_id bigint not null,
    state text not null check (state in ('quarantined', 'releasing')),
    since timestamptz not null default now(),
    primary key (group_id, topic, partition, key)
  )`,
  'create index if not exists baton_quarantined_keys_letter on baton_quarantined_keys (dead_letter_id)',
  `create table if not exists baton_quarantine (
    group_id text not null,
    topic text not null,
    partition integer not null,
    "offset" bigint not null,
    key bytea not null,
    value bytea,
    headers jsonb not null default '{}',
    event_time timestamptz not null,
    dead_letter_id bigint not null,
    primary key (group_id, topic, partition, "offset")
  )`,
  // A release takes a key's next rows in offset order.
  `create index if not exists baton_quarantine_key on baton_quarantine (group_id, topic, partition, key, "offset")`,
]

/**
 * Writes a batch's quarantine after its watermark moved and its letters were inserted (same transaction):
 * the keys its letters quarantine, then the events held, each under its key's head letter. Throws (rolling
 * the batch back) when an event finds no quarantined key: holding it nowhere would lose it.
 */
export async function writeQuarantine(tx: TransactionSql, batch: BatchCommit): Promise<void> {
  const q = batch.quarantine
  if (!q) return
  const { group, topic, partition } = batch.key
  if (q.newKeys.length > 0) {
    await tx`
      insert into baton_quarantined_keys (group_id, topic, partition, key, dead_letter_id, state)
      select ${group}, ${topic}, ${partition}, decode(u.k, 'hex'), d.id, 'quarantined'
      from unnest(${q.newKeys.map((k) => k.key.toString('hex'))}::text[],
                  ${q.newKeys.map((k) => String(k.letterOffset))}::bigint[]) as u(k, o)
      join baton_dead_letters d
        on d.group_id = ${group} and d.topic = ${topic} and d.partition = ${partition} and d."offset" = u.o`
  }
  if (q.held.length === 0) return
  const c = deadLetterColumns(q.held.map((record) => ({ record, error: '', code: '', attempts: 0 })))
  const inserted = await tx`
    insert into baton_quarantine
      (group_id, topic, partition, "offset", key, value, headers, event_time, dead_letter_id)
    select ${group}, ${topic}, ${partition}, u.o, decode(u.k, 'hex'), decode(u.v, 'hex'), u.h::jsonb,
      to_timestamp(u.t / 1000.0), qk.dead_letter_id
    from unnest(${c.offsets}::bigint[], ${c.keys}::text[], ${c.values}::text[], ${c.headers}::text[],
      ${c.times}::float8[]) as u(o, k, v, h, t)
    join baton_quarantined_keys qk on qk.group_id = ${group} and qk.topic = ${topic}
      and qk.partition = ${partition} and qk.key = decode(u.k, 'hex')`
  if (inserted.count !== q.held.length) {
    throw new BatonError(
      'INTERNAL',
      `${q.held.length - inserted.count} held events of ${topic}/${partition} have no quarantined key in baton_quarantined_keys; the batch was rolled back and is retried.`,
    )
  }
}

/** A held event: its key is never null (keyless events are never held). */
type HeldRow = StoredEventRow & { key: Buffer }

/** The quarantine tables of consumer group `group`. Throws SINK_UNAVAILABLE when PostgreSQL is away. */
export function postgresQuarantine(
  clients: PostgresClients,
  group: string,
  target: PostgresTarget,
  deadlineMs: number,
): QuarantineStore {
  const { run, transaction } = sinkCalls(clients, target, deadlineMs)
  // Every partition a node takes loads its quarantined keys as it starts: thousands at once, one statement.
  const load = coalesce(async (keys: readonly PartitionKey[]) => {
    const c = keyColumns(keys)
    const rows = await run(
      `loading the quarantined keys of ${describeKeys(keys)}`,
      (sql) => sql<
        { i: string; key: Buffer; state: QuarantineState; dead_letter_id: string; events: number }[]
      >`
        select k.i, q.key, q.state, q.dead_letter_id,
          (select count(*)::int from baton_quarantine h where h.group_id = q.group_id and h.topic = q.topic
            and h.partition = q.partition and h.key = q.key) as events
        from unnest(${c.groups}::text[], ${c.topics}::text[], ${c.partitions}::int[]) with ordinality as k(g, t, p, i)
        join baton_quarantined_keys q on q.group_id = k.g and q.topic = k.t and q.partition = k.p`,
    )
    return rowsPerKey(keys.length, rows).map((entries) =>
      entries.map((r) => ({
        key: r.key,
        state: r.state,
        deadLetterId: Number(r.dead_letter_id),
        events: r.events,
      })),
    )
  })
  return {
    load,

    release(step) {
      const { group: g, topic, partition } = step.key
      const k = step.recordKey
      return transaction(`releasing a key of ${topic}/${partition}`, async (tx) => {
        await fence(tx, step.key, step.epoch)
        const applied: SourceRecord[] = []
        if (step.mark) {
          const { letterId, outcome } = step.mark
          const [held] = await tx`
            update baton_quarantined_keys set state = 'releasing'
            where group_id = ${g} and topic = ${topic} and partition = ${partition} and key = ${k}
              and dead_letter_id = ${letterId} and state = 'quarantined'
            returning 1`
          const [letter] = await tx`
            update baton_dead_letters set resolution = ${outcome}, resolved_at = now()
            where group_id = ${g} and id = ${letterId} and resolution is null and replayed_at is null
            returning 1`
          if (!held || !letter) throw quarantineConflict(letterId)
          if (outcome === 'retried') applied.push(step.mark.letter)
        }
        if (step.take > 0) {
          const rows = await tx<HeldRow[]>`
            delete from baton_quarantine
            where group_id = ${g} and topic = ${topic} and partition = ${partition} and "offset" in (
              select "offset" from baton_quarantine
              where group_id = ${g} and topic = ${topic} and partition = ${partition} and key = ${k}
              order by "offset" limit ${step.take})
            returning topic, partition, "offset", key, value, headers, event_time`
          applied.push(...rows.map(storedRecord).sort((a, b) => a.offset - b.offset))
        }
        await step.apply(applied, { kind: 'postgres', sql: tx })
        const done = await tx`
          delete from baton_quarantined_keys
          where group_id = ${g} and topic = ${topic} and partition = ${partition} and key = ${k}
            and not exists (select from baton_quarantine where group_id = ${g} and topic = ${topic}
              and partition = ${partition} and key = ${k})
          returning 1`
        return { applied, done: done.length === 1 }
      })
    },

    newHead(l) {
      const { group: g, topic, partition } = l.key
      const k = l.record.key as Buffer
      return transaction(`holding a key of ${topic}/${partition} again`, async (tx) => {
        await fence(tx, l.key, l.epoch)
        const [row] = await tx<HeldRow[]>`
          delete from baton_quarantine
          where group_id = ${g} and topic = ${topic} and partition = ${partition} and "offset" = ${l.record.offset}
          returning topic, partition, "offset", key, value, headers, event_time`
        if (!row) throw quarantineConflict(null)
        const [letter] = await tx<{ id: string }[]>`
          insert into baton_dead_letters
            (group_id, topic, partition, "offset", key, value, headers, event_time, error, error_code, attempts)
          values (${g}, ${topic}, ${partition}, ${l.record.offset}, ${row.key}, ${row.value},
            ${tx.json(row.headers)}, ${row.event_time}, ${l.error}, ${l.code}, ${l.attempts})
          returning id`
        const id = (letter as { id: string }).id
        await tx`
          update baton_quarantined_keys set dead_letter_id = ${id}, state = 'quarantined'
          where group_id = ${g} and topic = ${topic} and partition = ${partition} and key = ${k}`
        await tx`
          update baton_quarantine set dead_letter_id = ${id}
          where group_id = ${g} and topic = ${topic} and partition = ${partition} and key = ${k}`
        return Number(id)
      })
    },

    async list(query = {}) {
      const limit = Math.min(Math.max(Math.trunc(query.limit ?? 100) || 1, 1), 1000)
      const rows = await run(
        'listing quarantined keys',
        (sql) => sql<
          {
            topic: string
            partition: number
            key: Buffer
            dead_letter_id: string
            state: QuarantineState
            events: number
            oldest: Date | null
          }[]
        >`
          select q.topic, q.partition, q.key, q.dead_letter_id, q.state,
            count(h."offset")::int as events, min(h.event_time) as oldest
          from baton_quarantined_keys q
          left join baton_quarantine h on h.group_id = q.group_id and h.topic = q.topic
            and h.partition = q.partition and h.key = q.key
          where q.group_id = ${group}
            ${query.topic === undefined ? sql`` : sql`and q.topic = ${query.topic}`}
            ${query.partition === undefined ? sql`` : sql`and q.partition = ${query.partition}`}
            ${query.after === undefined ? sql`` : sql`and q.dead_letter_id > ${query.after}`}
          group by q.topic, q.partition, q.key, q.dead_letter_id, q.state
          order by q.dead_letter_id
          limit ${limit + 1}`,
      )
      const entries: QuarantineEntry[] = rows.slice(0, limit).map((r) => ({
        topic: r.topic,
        partition: r.partition,
        key: r.key,
        deadLetterId: Number(r.dead_letter_id),
        state: r.state,
        events: r.events,
        oldestEventTime: r.oldest?.getTime() ?? null,
      }))
      return { entries, next: rows.length > limit ? (entries.at(-1)?.deadLetterId ?? null) : null }
    },

    async holder(deadLetterId) {
      const [row] = await run(
        'reading which key a dead letter holds',
        (sql) => sql<{ topic: string; partition: number; key: Buffer; state: QuarantineState }[]>`
          select topic, partition, key, state from baton_quarantined_keys
          where group_id = ${group} and dead_letter_id = ${deadLetterId}`,
      )
      return row ?? null
    },
  }
}

/** Locks the partition's watermark row for this epoch, or throws FENCED: only its owner releases. */
async function fence(tx: TransactionSql, key: PartitionKey, epoch: number): Promise<void> {
  const [row] = await tx`
    update baton_watermarks set updated_at = now()
    where group_id = ${key.group} and topic = ${key.topic} and partition = ${key.partition} and epoch = ${epoch}
    returning 1`
  if (!row) throw releaseFenced(key, epoch)
}
