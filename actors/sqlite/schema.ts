import { realClock } from '../core/clock.ts'
import { BatonError, errorMessage } from '../core/errors.ts'
import { quarantineSchema } from './quarantine.ts'
import type { SqliteStore } from './store.ts'

/**
 * baton's own tables in the embedded sink database, one entry per version. Append a new entry to change
 * them; never edit a shipped one, as databases that applied it will not run it again. Times are integer
 * milliseconds since the epoch (SQLite has no timestamp type).
 */
const batonSchema: readonly (readonly string[])[] = [
  [
    // next_offset is null between the first claim of a partition and its first commit.
    `create table if not exists baton_watermarks (
      group_id text not null,
      topic text not null,
      partition integer not null,
      next_offset integer,
      epoch integer not null,
      updated_at integer not null,
      primary key (group_id, topic, partition)
    ) without rowid`,
    // Enough of the record is kept (key, value, headers, event time) to replay it without the log, which
    // retention may have truncated by then.
    `create table if not exists baton_dead_letters (
      id integer primary key,
      group_id text not null,
      topic text not null,
      partition integer not null,
      "offset" integer not null,
      key blob,
      value blob,
      headers text not null default '{}',
      event_time integer not null,
      error text not null,
      error_code text not null,
      attempts integer not null,
      failed_at integer not null,
      published_at integer,
      replayed_at integer,
      unique (group_id, topic, partition, "offset")
    )`,
  ],
  quarantineSchema,
]

/**
 * Brings the sink database up to date in one transaction: baton's tables, then the pipeline's
 * `migrations.sqlite`, which run at every start (they are idempotent by contract). A pipeline statement that
 * fails is a MIGRATION_FAILED error naming it; nothing of the migration is kept.
 */
export async function migrateSqlite(
  store: SqliteStore,
  pipelineMigrations: readonly string[],
): Promise<void> {
  await store.transaction((db) => {
    db.run(`create table if not exists baton_schema_version (
      component text primary key,
      version integer not null,
      applied_at integer not null
    )`)
    const row = db.query("select version from baton_schema_version where component = 'baton'").get() as {
      version: number
    } | null
    for (let version = row?.version ?? 0; version < batonSchema.length; version++) {
      for (const statement of batonSchema[version] ?? []) db.run(statement)
    }
    db.run(
      `insert into baton_schema_version (component, version, applied_at) values ('baton', ?, ?)
       on conflict (component) do update set version = excluded.version, applied_at = excluded.applied_at
       where baton_schema_version.version < excluded.version`,
      [batonSchema.length, realClock.now()],
    )
    pipelineMigrations.forEach((statement, i) => {
      try {
        db.run(statement)
      } catch (err) {
        throw new BatonError(
          'MIGRATION_FAILED',
          `The pipeline's SQLite migration ${i + 1} of ${pipelineMigrations.length} failed: ${errorMessage(err)}. Fix \`migrations.sqlite\` in the pipeline; nothing was changed.`,
          { cause: err },
        )
      }
    })
  })
}
