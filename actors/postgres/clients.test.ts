import { afterAll, beforeAll, expect, test } from 'bun:test'
import { type AddressInfo, createServer, type Socket } from 'node:net'
import postgres from 'postgres'
import { serviceEnv } from '../../test/support/env.ts'
import { uniqueName } from '../../test/support/names.ts'
import { classifyPostgresError } from './classify-error.ts'
import { type PostgresClients, postgresClients } from './clients.ts'

const table = uniqueName('clients')
const admin = postgres(serviceEnv().DATABASE_URL, { max: 1, onnotice: () => {} })
let clients: PostgresClients

beforeAll(async () => {
  await admin.unsafe(`create table ${table} (id int primary key)`)
  clients = postgresClients(serviceEnv().DATABASE_URL, 1, { onnotice: () => {} })
})

afterAll(async () => {
  await clients.end(1)
  await admin.unsafe(`drop table ${table}`)
  await admin.end()
})

const ids = async () => (await admin.unsafe(`select id from ${table} order by id`)).map((r) => r.id)

// porsager/postgres#1186, #1216: a statement queued behind the killed one must never run later, in no
// transaction or in another one.
test('a backend killed mid-transaction: the transaction rejects, its queued statement never runs, the next one works', async () => {
  const inFlight = Promise.withResolvers<number>()
  const killed = clients.transaction(async (tx) => {
    await tx.unsafe(`insert into ${table} values (1)`)
    const [row] = await tx<{ pid: number }[]>`select pg_backend_pid() as pid`
    inFlight.resolve(row?.pid ?? 0)
    await Promise.all([tx`select pg_sleep(5)`, tx.unsafe(`insert into ${table} values (2)`)])
  })
  const pid = await inFlight.promise
  await admin`select pg_terminate_backend(${pid})`

  const err = await killed.then(
    () => null,
    (e) => e,
  )
  expect(classifyPostgresError(err)).toBe('unavailable')

  await clients.transaction(async (tx) => {
    await tx.unsafe(`insert into ${table} values (3)`)
  })
  expect(await ids()).toEqual([3])
})

// porsager/postgres#1208: with a plain `sql.begin` the ROLLBACK after this goes to the closed socket and
// throws an uncaught TypeError from a timer.
test('a FATAL error inside a transaction abandons it without a ROLLBACK on the dead socket', async () => {
  const err = await clients
    .transaction(async (tx) => {
      await tx`select pg_terminate_backend(pg_backend_pid())`
    })
    .then(
      () => null,
      (e) => e,
    )
  expect(classifyPostgresError(err)).toBe('unavailable')
  expect(await clients.run(async (sql) => (await sql`select 1 as one`)[0]?.one)).toBe(1)
})

test('callers wait for a free client instead of sharing one, and all get theirs', async () => {
  const order: string[] = []
  const first = clients.transaction(async (tx) => {
    await tx`select pg_sleep(0.05)`
    order.push('first')
  })
  const second = clients.run(async (sql) => {
    await sql`select 1`
    order.push('second')
  })
  await Promise.all([first, second])
  expect(order).toEqual(['first', 'second'])
})

test('after end, callers are refused with CONNECTION_ENDED', async () => {
  const ended = postgresClients(serviceEnv().DATABASE_URL, 1, { onnotice: () => {} })
  await ended.run((sql) => sql`select 1`)
  await ended.end(1)
  const err = await ended
    .run((sql) => sql`select 1`)
    .then(
      () => null,
      (e) => e,
    )
  expect(err).toMatchObject({ code: 'CONNECTION_ENDED' })
  expect(classifyPostgresError(err)).toBe('unavailable')
})

// porsager/postgres#1193: a connection the server closes during start-up (as PostgreSQL does while it
// restarts) is reconnected by postgres.js with no delay and no timeout, so the call never returns.
test('a server that closes every connection at start-up: the deadline ends the call, and the next one gets a new client', async () => {
  const accepted = new Set<Socket>()
  const server = createServer((socket) => {
    accepted.add(socket)
    socket.end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const closing = postgresClients(`postgres://baton@127.0.0.1:${port}/baton`, 1, { onnotice: () => {} })
  try {
    for (let call = 1; call <= 2; call++) {
      const err = await closing.run((sql) => sql`select 1`, 300).catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'DEADLINE_EXCEEDED' })
      expect(classifyPostgresError(err)).toBe('unavailable')
    }
    expect(accepted.size).toBeGreaterThan(2)
  } finally {
    await closing.end(0)
    for (const socket of accepted) socket.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
})
