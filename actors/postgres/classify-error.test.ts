import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { serviceEnv } from '../../test/support/env.ts'
import { BatonError } from '../core/errors.ts'
import { eventStore } from '../event-store.ts'
import { PoisonEventError } from '../pipeline.ts'
import type { BatchCommit, PartitionKey, SinkTx } from '../ports.ts'
import { classifyPostgresError } from './classify-error.ts'
import { createPostgresSink, type PostgresSink } from './sink.ts'
import { record, storedOffsets, storeEvents, testDatabase, uniqueKey, watermark } from './testing.ts'

/** A closed loopback port: bound, then released, so nothing listens there. */
async function closedPort(): Promise<number> {
  const server = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const { port } = server
  server.stop(true)
  return port
}

const serverError = (code: string) =>
  Object.assign(new Error(`server says ${code}`), { name: 'PostgresError', code })

describe('the classification table', () => {
  test.each([
    ['08006', 'unavailable'], // connection failure
    ['57P01', 'unavailable'], // admin shutdown
    ['57P03', 'unavailable'], // cannot connect now (recovering)
    ['57014', 'unavailable'], // statement timeout
    ['53300', 'unavailable'], // too many connections
    ['53100', 'unavailable'], // disk full
    ['40001', 'unavailable'], // serialization failure
    ['40P01', 'unavailable'], // deadlock
    ['55P03', 'unavailable'], // lock not available
    ['28P01', 'unavailable'], // password authentication failed
    ['3D000', 'unavailable'], // database does not exist
    ['25006', 'unavailable'], // read-only transaction: a standby after failover
    ['42501', 'unavailable'], // insufficient privilege: a missing grant
    ['58030', 'unavailable'], // I/O error
    ['XX000', 'unavailable'], // internal error
    ['22P02', 'data'], // invalid text representation (bad JSON)
    ['22003', 'data'], // numeric value out of range
    ['23505', 'data'], // unique violation
    ['23502', 'data'], // not null violation
    ['42601', 'data'], // syntax error in a pipeline's SQL
    ['42P01', 'data'], // undefined table in a pipeline's SQL
    ['25P02', 'data'], // in failed transaction: the pipeline went on after an error
    ['P0001', 'data'], // RAISE in a trigger or function
  ] as const)('SQLSTATE %s is %s', (code, expected) => {
    expect(classifyPostgresError(serverError(code))).toBe(expected)
  })

  test.each([
    ['CONNECTION_CLOSED', 'unavailable'],
    ['CONNECTION_ENDED', 'unavailable'],
    ['CONNECTION_DESTROYED', 'unavailable'],
    ['CONNECT_TIMEOUT', 'unavailable'],
    ['ECONNRESET', 'unavailable'],
    ['ENOTFOUND', 'unavailable'],
    ['UNDEFINED_VALUE', 'data'],
    ['MAX_PARAMETERS_EXCEEDED', 'data'],
  ] as const)('driver code %s is %s', (code, expected) => {
    expect(classifyPostgresError(Object.assign(new Error(code), { code }))).toBe(expected)
  })

  test("baton's own errors, a pipeline's errors, and causes", () => {
    expect(classifyPostgresError(new BatonError('FENCED', 'newer epoch'))).toBe('fenced')
    expect(classifyPostgresError(new BatonError('SINK_UNAVAILABLE', 'down'))).toBe('unavailable')
    expect(classifyPostgresError(new PoisonEventError('bad schema'))).toBe('data')
    expect(classifyPostgresError(new TypeError('x is undefined'))).toBe('data')
    expect(classifyPostgresError('a string thrown')).toBe('data')
    // A pipeline that wrapped the driver's error is still understood.
    const wrapped = new Error('could not store order', { cause: serverError('57P01') })
    expect(classifyPostgresError(wrapped)).toBe('unavailable')
    // A syscall failure without a code we know is I/O all the same.
    expect(classifyPostgresError(Object.assign(new Error('read failed'), { syscall: 'read' }))).toBe(
      'unavailable',
    )
  })
})

describe('against the real server', () => {
  const db = testDatabase()
  const keys: PartitionKey[] = []
  let sink: PostgresSink

  beforeAll(async () => {
    // One connection, so that the transaction that kills its own backend kills the only one.
    sink = await createPostgresSink({
      url: serviceEnv().DATABASE_URL,
      pipeline: eventStore,
      group: 'g',
      max: 1,
    })
  })
  afterAll(async () => {
    await sink.close()
    await db.cleanup(keys)
  })

  /** Commits the first batch of a fresh partition with `work`, and returns what the commit threw. */
  async function failingCommit(
    work: (tx: SinkTx) => Promise<unknown>,
  ): Promise<{ err: unknown; key: PartitionKey }> {
    const key = uniqueKey()
    keys.push(key)
    await sink.claim(key, 1)
    const batch: BatchCommit = {
      key,
      epoch: 1,
      fromOffset: null,
      toOffset: 3,
      deadLetters: [],
      work: async (tx) => {
        await work(tx)
      },
    }
    return {
      err: await sink.commit(batch).then(
        () => null,
        (e) => e,
      ),
      key,
    }
  }

  test('a server that is not there (closed port): unavailable, and SERVICE_UNREACHABLE at start with the password masked', async () => {
    const url = `postgres://baton:hunter2-secret@127.0.0.1:${await closedPort()}/orders`
    const sql = postgres(url, { max: 1, connect_timeout: 2 })
    const err = await sql`select 1`.then(
      () => null,
      (e) => e,
    )
    await sql.end()
    expect(err).toMatchObject({ code: 'ECONNREFUSED' })
    expect(classifyPostgresError(err)).toBe('unavailable')

    const started = await createPostgresSink({ url, pipeline: eventStore, group: 'g' }).then(
      () => null,
      (e) => e,
    )
    expect(started).toMatchObject({ code: 'SERVICE_UNREACHABLE' })
    expect(started.message).toContain('PostgreSQL at 127.0.0.1:')
    expect(started.message).toContain('/orders (postgres://baton:***@127.0.0.1:')
    expect(started.message).not.toContain('hunter2')
    expect(classifyPostgresError(started)).toBe('unavailable')
  })

  test('the server ends the connection mid-batch (57P01): SINK_UNAVAILABLE, nothing applied, the next commit goes through', async () => {
    const { err, key } = await failingCommit(async (tx) => {
      await storeEvents([record(key0(), 0)])(tx)
      if (tx.kind === 'postgres') await tx.sql`select pg_terminate_backend(pg_backend_pid())`
    })
    expect(err).toMatchObject({ code: 'SINK_UNAVAILABLE' })
    expect(err).toBeInstanceOf(BatonError)
    expect((err as BatonError).message).toMatch(
      /^PostgreSQL at .* is unavailable while committing up to offset 3/,
    )
    expect(classifyPostgresError(err)).toBe('unavailable')
    expect(classifyPostgresError((err as BatonError).cause)).toBe('unavailable')
    expect(await watermark(db.sql, key)).toEqual({ nextOffset: null, epoch: 1 })

    // postgres.js connects again: the same batch, retried, commits.
    await sink.commit({
      key,
      epoch: 1,
      fromOffset: null,
      toOffset: 3,
      deadLetters: [],
      work: storeEvents([record(key, 2)]),
    })
    expect(await storedOffsets(db.sql, key)).toEqual([2])
  })

  test('a constraint violation (a double in baton_events) is data, thrown as the server raised it', async () => {
    const { err } = await failingCommit((tx) => storeEvents([record(key0(), 0), record(key0(), 0)])(tx))
    expect(err).toMatchObject({ name: 'PostgresError', code: '23505' })
    expect(classifyPostgresError(err)).toBe('data')
  })

  test('a value the database rejects (22P02) and a pipeline with bad SQL (42601) are data', async () => {
    const badJson = await failingCommit((tx) =>
      tx.kind === 'postgres' ? tx.sql`select ${'{oops'}::text::jsonb` : Promise.resolve(),
    )
    expect(badJson.err).toMatchObject({ code: '22P02' })
    expect(classifyPostgresError(badJson.err)).toBe('data')
    const badSql = await failingCommit((tx) => (tx.kind === 'postgres' ? tx.sql`selec 1` : Promise.resolve()))
    expect(badSql.err).toMatchObject({ code: '42601' })
    expect(classifyPostgresError(badSql.err)).toBe('data')
  })

  // Records only need a topic and partition that no other test uses.
  let shared: PartitionKey | undefined
  function key0(): PartitionKey {
    if (!shared) {
      shared = uniqueKey()
      keys.push(shared)
    }
    return shared
  }
})
