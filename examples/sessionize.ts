/**
 * Sessions from a click stream: a user's session ends after 30 minutes without a click, in event time.
 * Finished sessions are written to `sessions`; the sessions still open live in memory between batches
 * (the pipeline's per-partition state) and, for recovery, in `open_sessions`, which every batch brings up
 * to date in its own transaction. After a crash the state is rebuilt from `open_sessions`, not from
 * memory, so a session is neither lost nor written twice.
 *
 * Events: `{"user": "u-42", "url": "/pricing"}`, keyed by user (so a user's clicks share a partition);
 * the click's time is the event time (Kafka's timestamp, or `time` when posted over HTTP).
 *
 *   BATON_PIPELINE=examples/sessionize.ts npx baton start
 */
import { z } from 'zod'
import { definePipeline } from '../actors/pipeline.ts'
import type { SinkTx } from '../actors/ports.ts'

export const SESSION_GAP_MS = 30 * 60 * 1000

const Click = z.object({ user: z.string().min(1).max(200), url: z.string().max(2000) })

interface OpenSession {
  start: number
  last: number
  clicks: number
}

/** One partition's open sessions by user, and the latest event time the partition has seen. */
interface Sessions {
  readonly open: Map<string, OpenSession>
  clock: number
}

interface Row {
  user: string
  start: number
  last: number
  clicks: number
}

export default definePipeline<z.infer<typeof Click>, Sessions>({
  name: 'sessionize',
  schema: Click,
  migrations: {
    postgres: [
      `create table if not exists sessions (
         user_id text not null, session_start timestamptz not null, session_end timestamptz not null,
         clicks integer not null, primary key (user_id, session_start))`,
      `create table if not exists open_sessions (
         topic text not null, partition integer not null, user_id text not null,
         session_start timestamptz not null, last_click timestamptz not null, clicks integer not null,
         primary key (topic, partition, user_id))`,
    ],
    sqlite: [
      `create table if not exists sessions (
         user_id text not null, session_start integer not null, session_end integer not null,
         clicks integer not null, primary key (user_id, session_start)) without rowid`,
      `create table if not exists open_sessions (
         topic text not null, partition integer not null, user_id text not null,
         session_start integer not null, last_click integer not null, clicks integer not null,
         primary key (topic, partition, user_id)) without rowid`,
    ],
  },
  state: {
    async load({ topic, partition }, tx) {
      const rows = await openRows(tx, topic, partition)
      const open = new Map(rows.map((r) => [r.user, { start: r.start, last: r.last, clicks: r.clicks }]))
      return { open, clock: Math.max(0, ...rows.map((r) => r.last)) }
    },
  },
  async handle(batch, tx, state) {
    const closed: Row[] = []
    const touched = new Set<string>()
    for (const { value, record } of batch.events) {
      const t = record.timestamp
      state.clock = Math.max(state.clock, t)
      const session = state.open.get(value.user)
      if (session && t - session.last > SESSION_GAP_MS) {
        closed.push({ user: value.user, ...session })
        state.open.delete(value.user)
      }
      const current = state.open.get(value.user)
      if (current) {
        current.last = Math.max(current.last, t)
        current.clicks++
      } else {
        state.open.set(value.user, { start: t, last: t, clicks: 1 })
      }
      touched.add(value.user)
    }
    // Sessions nobody clicked in for 30 minutes of the partition's event time are over.
    for (const [user, session] of state.open) {
      if (state.clock - session.last > SESSION_GAP_MS) {
        closed.push({ user, ...session })
        state.open.delete(user)
        touched.add(user)
      }
    }
    const stillOpen = [...touched].flatMap((user) => {
      const s = state.open.get(user)
      return s ? [{ user, ...s }] : []
    })
    const gone = [...touched].filter((user) => !state.open.has(user))
    await write(tx, batch.topic, batch.partition, closed, stillOpen, gone)
  },
})

async function openRows(tx: SinkTx, topic: string, partition: number): Promise<Row[]> {
  if (tx.kind === 'postgres') {
    const rows = await tx.sql<{ user_id: string; start: string; last: string; clicks: number }[]>`
      select user_id, (extract(epoch from session_start) * 1000)::bigint::text as start,
             (extract(epoch from last_click) * 1000)::bigint::text as last, clicks
      from open_sessions where topic = ${topic} and partition = ${partition}`
    return rows.map((r) => ({
      user: r.user_id,
      start: Number(r.start),
      last: Number(r.last),
      clicks: r.clicks,
    }))
  }
  return tx.db
    .query<{ user_id: string; session_start: number; last_click: number; clicks: number }, [string, number]>(
      'select user_id, session_start, last_click, clicks from open_sessions where topic = ? and partition = ?',
    )
    .all(topic, partition)
    .map((r) => ({ user: r.user_id, start: r.session_start, last: r.last_click, clicks: r.clicks }))
}

async function write(
  tx: SinkTx,
  topic: string,
  partition: number,
  closed: Row[],
  open: Row[],
  gone: string[],
) {
  if (tx.kind === 'postgres') {
    const { sql } = tx
    if (closed.length > 0) {
      await sql`
        insert into sessions (user_id, session_start, session_end, clicks)
        select u, to_timestamp(s / 1000.0), to_timestamp(e / 1000.0), c
        from unnest(${closed.map((r) => r.user)}::text[], ${closed.map((r) => r.start)}::float8[],
                    ${closed.map((r) => r.last)}::float8[], ${closed.map((r) => r.clicks)}::int[]) as x(u, s, e, c)`
    }
    if (gone.length > 0) {
      await sql`delete from open_sessions
                where topic = ${topic} and partition = ${partition} and user_id = any(${gone}::text[])`
    }
    if (open.length > 0) {
      await sql`
        insert into open_sessions (topic, partition, user_id, session_start, last_click, clicks)
        select ${topic}, ${partition}, u, to_timestamp(s / 1000.0), to_timestamp(l / 1000.0), c
        from unnest(${open.map((r) => r.user)}::text[], ${open.map((r) => r.start)}::float8[],
                    ${open.map((r) => r.last)}::float8[], ${open.map((r) => r.clicks)}::int[]) as x(u, s, l, c)
        on conflict (topic, partition, user_id) do update
          set session_start = excluded.session_start, last_click = excluded.last_click, clicks = excluded.clicks`
    }
    return
  }
  const { db } = tx
  const insert = db.prepare(
    'insert into sessions (user_id, session_start, session_end, clicks) values (?, ?, ?, ?)',
  )
  for (const r of closed) insert.run(r.user, r.start, r.last, r.clicks)
  const remove = db.prepare('delete from open_sessions where topic = ? and partition = ? and user_id = ?')
  for (const user of gone) remove.run(topic, partition, user)
  const upsert = db.prepare(
    `insert into open_sessions (topic, partition, user_id, session_start, last_click, clicks) values (?, ?, ?, ?, ?, ?)
     on conflict (topic, partition, user_id) do update
       set session_start = excluded.session_start, last_click = excluded.last_click, clicks = excluded.clicks`,
  )
  for (const r of open) upsert.run(topic, partition, r.user, r.start, r.last, r.clicks)
}
