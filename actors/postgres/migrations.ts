import { BatonError } from '../core/errors.ts'
import type { Pipeline } from '../pipeline.ts'
import { classifyPostgresError, describeError } from './classify-error.ts'
import type { PostgresClients } from './clients.ts'
import { quarantineSchema } from './quarantine.ts'
import type { PostgresTarget } from './target.ts'

/**
 * baton's own schema, one entry per version. Append a new entry to change it; never edit a shipped one, as
 * databases that applied it will not run it again.
 */
const batonSchema: readonly (readonly string[])[] = [
  [
    `create table if not exists baton_watermarks (
      group_id text not null,
      topic text not null,
      partition integer not null,
      next_offset bigint,
      epoch bigint not null,
      updated_at timestamptz not null default now(),
      primary key (group_id, topic, partition)
    )`,
    // The outbox of the dead-letter publisher and the table behind GET /v1/dlq. Enough of the record is kept
    // (key, value, headers, event time) to publish or replay it without the source.
    `create table if not exists baton_dead_letters (
      id bigserial primary key,
      group_id text not null,
      topic text not null,
      partition integer not null,
      "offset" bigint not null,
      key bytea,
      value bytea,
      headers jsonb not null default '{}',
      event_time timestamptz not null,
      error text not null,
      error_code text not null,
      attempts integer not null,
      failed_at timestamptz not null default now(),
      published_at timestamptz,
      replayed_at timestamptz,
      unique (group_id, topic, partition, "offset")
    )`,
    // The publisher's query: unpublished letters of one partition in offset order.
    `create index if not exists baton_dead_letters_unpublished
      on baton_dead_letters (group_id, topic, partition, "offset") where published_at is null`,
  ],
  quarantineSchema,
]

/** The version `migratePostgres` brings baton's own schema to. */
export const BATON_SCHEMA_VERSION = batonSchema.length

// Any constant works as long as every node uses the same one: it only serializes baton's migrations.
const MIGRATION_LOCK = 0x6261746f6e // 'baton'

/**
 * Brings the database up to date: baton's tables (`baton_watermarks`, `baton_dead_letters`), then the
 * pipeline's `migrations.postgres`, all in one transaction. A transaction-scoped advisory lock makes nodes
 * that start at the same moment run it one after the other, so `create table if not exists` never races
 * into a duplicate-type error; whoever comes second finds the work done. Pipeline migrations run at every
 * start (they are idempotent by contract) and so must not need to run outside a transaction
 * (no `create index concurrently`). Takes the clients as an argument so that a deployment can run it under a
 * role allowed DDL while the runtime role only gets DML.
 *
 * A statement that fails because of what it says (bad SQL, a missing grant for DDL) throws BatonError
 * MIGRATION_FAILED naming the statement; a lost connection is thrown as the driver raised it, for the
 * caller to classify.
 */
export async function migratePostgres(
  clients: PostgresClients,
  pipeline: Pipeline,
  target: PostgresTarget,
): Promise<void> {
  let step = 'the migration lock'
  try {
    await clients.transaction(async (tx) => {
      await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK})`
      step = 'the schema-version table'
      await tx`create table if not exists baton_schema_version (
        component text primary key,
        version integer not null,
        applied_at timestamptz not null default now()
      )`
      const [row] = await tx<{ version: number }[]>`
        select version from baton_schema_version where component = 'baton'`
      for (let version = row?.version ?? 0; version < batonSchema.length; version++) {
        for (const [i, statement] of (batonSchema[version] ?? []).entries()) {
          step = `baton schema version ${version + 1}, statement ${i + 1}`
          await tx.unsafe(statement)
        }
      }
      await tx`
        insert into baton_schema_version (component, version) values ('baton', ${batonSchema.length})
        on conflict (component) do update set version = excluded.version, applied_at = now()
        where baton_schema_version.version < excluded.version`
      for (const [i, statement] of (pipeline.migrations?.postgres ?? []).entries()) {
        step = `pipeline '${pipeline.name}' migration ${i + 1}`
        await tx.unsafe(statement)
      }
    })
  } catch (err) {
    // A missing grant counts as unavailable during batches, but here it means this role may not run DDL.
    const denied = (err as { code?: unknown }).code === '42501'
    if (!denied && classifyPostgresError(err) === 'unavailable') throw err
    throw new BatonError(
      'MIGRATION_FAILED',
      `Migrating PostgreSQL at ${target.where} failed at ${step}: ${describeError(err, target)}. ` +
        (denied
          ? 'Nothing of the migration was applied: this role may not change the schema. Set ' +
            'DATABASE_MIGRATION_URL to the role that owns it (README, Security), or grant this one DDL rights.'
          : 'Nothing of the migration was applied; fix the statement and start again.'),
      { cause: err },
    )
  }
}
