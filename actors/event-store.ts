import type { Database, Statement } from 'bun:sqlite'
import { isUtf8 } from 'node:buffer'
import { realClock } from './core/clock.ts'
import { copyEvents } from './event-store-copy.ts'
import { isJsonText } from './json-text.ts'
import { type Batch, definePipeline, PoisonEventError } from './pipeline.ts'
import { NO_HEADERS, type SourceRecord } from './ports.ts'

const NULL_JSON = Buffer.from('null')

/**
 * The built-in pipeline: stores every event in `baton_events` (primary key topic, partition, offset),
 * its value as JSON. A value that is not valid JSON is a poison event. There is deliberately no
 * `on conflict do nothing`: the watermark already refuses replays, so a primary-key conflict means a
 * double got through, and it must fail loudly rather than vanish.
 *
 * An event's decoded value is its JSON text as UTF-8 bytes: the record's own bytes when they are UTF-8
 * and JSON (checked without making a string), else the text they decode to (invalid sequences as U+FFFD).
 */
export const eventStore = definePipeline<Buffer>({
  name: 'event-store',
  copyOnly: true,
  migrations: {
    postgres: [
      `create table if not exists baton_events (
        topic text not null,
        partition integer not null,
        "offset" bigint not null,
        key text,
        value jsonb,
        headers jsonb not null default '{}',
        event_time timestamptz not null,
        stored_at timestamptz not null default now(),
        primary key (topic, partition, "offset")
      )`,
    ],
    sqlite: [
      `create table if not exists baton_events (
        topic text not null,
        partition integer not null,
        "offset" integer not null,
        key text,
        value text,
        headers text not null default '{}',
        event_time integer not null,
        stored_at integer not null,
        primary key (topic, partition, "offset")
      ) without rowid`,
    ],
  },
  decode(record) {
    const bytes = record.value
    if (bytes === null) return NULL_JSON
    if (isUtf8(bytes) && isJsonText(bytes)) return bytes
    // Not UTF-8, or not JSON: JSON.parse of the text decides, and says what is wrong.
    const text = bytes.toString('utf8')
    try {
      JSON.parse(text)
    } catch (err) {
      throw new PoisonEventError(
        `The value at offset ${record.offset} is not valid JSON: ${(err as Error).message}`,
        {
          cause: err,
        },
      )
    }
    return Buffer.from(text)
  },
  async handle(batch, tx) {
    if (tx.kind === 'postgres') {
      const records = batch.events.map((e) => e.record)
      const values = batch.events.map((e) => e.value)
      await copyEvents(tx, batch.topic, batch.partition, records, values)
      return
    }
    const insert = sqliteInsert(tx.db)
    const now = realClock.now()
    for (const { record, value } of batch.events) {
      insert.run(
        batch.topic,
        batch.partition,
        record.offset,
        keyText(record),
        value.toString('utf8'),
        headersJson(record),
        record.timestamp,
        now,
      )
    }
  },
})

export type EventStoreBatch = Batch<Buffer>

const keyText = (record: SourceRecord): string | null => record.key?.toString('utf8') ?? null

const headersJson = (record: SourceRecord): string =>
  record.headers === NO_HEADERS ? '{}' : JSON.stringify(record.headers)

const inserts = new WeakMap<Database, Statement>()

function sqliteInsert(db: Database): Statement {
  let statement = inserts.get(db)
  if (!statement) {
    statement = db.prepare(
      `insert into baton_events (topic, partition, "offset", key, value, headers, event_time, stored_at)
       values (?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    inserts.set(db, statement)
  }
  return statement
}
