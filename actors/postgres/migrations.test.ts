import { afterAll, beforeAll, expect, test } from 'bun:test'
import postgres, { type Sql } from 'postgres'
import { serviceEnv } from '../../test/support/env.ts'
import { uniqueName } from '../../test/support/names.ts'
import { eventStore } from '../event-store.ts'
import { definePipeline } from '../pipeline.ts'
import { BATON_SCHEMA_VERSION } from './migrations.ts'
import { createPostgresSink } from './sink.ts'

// Each test run migrates a database of its own, so "the first start ever" really is one.
const database = uniqueName('baton_migrations')
const url = Object.assign(new URL(serviceEnv().DATABASE_URL), { pathname: `/${database}` }).toString()
let admin: Sql
let sql: Sql

beforeAll(async () => {
  admin = postgres(serviceEnv().DATABASE_URL, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database ${database}`)
  sql = postgres(url, { max: 1, onnotice: () => {} })
})

afterAll(async () => {
  await sql.end()
  await admin.unsafe(`drop database if exists ${database} with (force)`)
  await admin.end()
})

const tables = async () =>
  (
    await sql<{ name: string }[]>`
      select table_name as name from information_schema.tables where table_schema = 'public' order by 1`
  ).map((r) => r.name)

test('sinks starting at the same moment on an empty database migrate it once, without racing', async () => {
  const sinks = await Promise.all(
    Array.from({ length: 4 }, () => createPostgresSink({ url, pipeline: eventStore, group: 'g', max: 2 })),
  )
  await Promise.all(sinks.map((s) => s.close()))
  expect(await tables()).toEqual([
    'baton_dead_letters',
    'baton_events',
    'baton_quarantine',
    'baton_quarantined_keys',
    'baton_schema_version',
    'baton_watermarks',
  ])
  const [row] = await sql`select version from baton_schema_version where component = 'baton'`
  expect(row?.version).toBe(BATON_SCHEMA_VERSION)
})

test('migrating again changes nothing and keeps the data', async () => {
  await sql`insert into baton_watermarks (group_id, topic, partition, next_offset, epoch) values ('g', 't', 0, 42, 3)`
  const sink = await createPostgresSink({ url, pipeline: eventStore, group: 'g' })
  expect(await sink.claim({ group: 'g', topic: 't', partition: 0 }, 4)).toBe(42)
  await sink.close()
  expect((await tables()).length).toBe(6)
})

test('a failing pipeline migration names itself and leaves nothing half-written', async () => {
  const broken = definePipeline({
    name: 'broken',
    migrations: { postgres: ['create table broken_first (id int)', 'create tabel broken_second (id int)'] },
    handle() {},
  })
  const started = createPostgresSink({ url, pipeline: broken, group: 'g' })
  await expect(started).rejects.toMatchObject({ code: 'MIGRATION_FAILED' })
  await expect(started).rejects.toThrow(
    /failed at pipeline 'broken' migration 2: 42601: syntax error at or near "tabel"/,
  )
  expect(await tables()).not.toContain('broken_first')
})

test('a pipeline without PostgreSQL among its sinks is refused before connecting', async () => {
  const sqliteOnly = definePipeline({ name: 'local', sinks: ['sqlite'], handle() {} })
  const started = createPostgresSink({
    url: 'postgres://nobody@127.0.0.1:1/none',
    pipeline: sqliteOnly,
    group: 'g',
  })
  await expect(started).rejects.toMatchObject({ code: 'PIPELINE_INVALID' })
})
