import { afterAll, beforeAll, expect, test } from 'bun:test'
import { serviceEnv } from '../../test/support/env.ts'
import { eventStore } from '../event-store.ts'
import type { PartitionKey } from '../ports.ts'
import { partitionClaims } from './claims.ts'
import { createPostgresSink, type PostgresSink } from './sink.ts'
import { postgresTarget } from './target.ts'
import { countingClients, testDatabase, uniqueKey, watermark } from './testing.ts'

const db = testDatabase()
const keys: PartitionKey[] = []
let sink: PostgresSink // migrates the tables
const { clients, statements } = countingClients()

beforeAll(async () => {
  sink = await createPostgresSink({ url: serviceEnv().DATABASE_URL, pipeline: eventStore, group: 'unused' })
})

afterAll(async () => {
  await clients.end(5)
  await sink.close()
  await db.cleanup(keys)
})

test('4,096 partitions read their epochs and claim their rows in a few statements, each with its own answer', async () => {
  const claims = partitionClaims(clients, postgresTarget(serviceEnv().DATABASE_URL), 30_000)
  const base = uniqueKey()
  keys.push(base)
  const all = Array.from({ length: 4_096 }, (_, partition) => ({ ...base, partition }))
  const before = statements()
  expect(await Promise.all(all.map(claims.storedEpoch))).toEqual(all.map(() => null))
  expect(await Promise.all(all.map((key) => claims.claim(key, 10)))).toEqual(all.map(() => null))
  // Batches of at most 1000: 5 for the epochs, 5 for the claims (none refused: no second read).
  expect(statements() - before).toBe(10)
  expect(await Promise.all(all.map(claims.storedEpoch))).toEqual(all.map(() => 10))
  expect(await watermark(db.sql, all[4_095] as PartitionKey)).toEqual({ nextOffset: null, epoch: 10 })
})

test('in one batch, a refused claim gets the answer a claim of it alone gets, and the others apply', async () => {
  const claims = partitionClaims(clients, postgresTarget(serviceEnv().DATABASE_URL), 30_000)
  const base = uniqueKey()
  keys.push(base)
  const [a, b, c] = [0, 1, 2].map((partition) => ({ ...base, partition })) as [
    PartitionKey,
    PartitionKey,
    PartitionKey,
  ]
  await Promise.all([claims.claim(a, 5), claims.claim(b, 5)])
  await db.sql`update baton_watermarks set next_offset = 42 where group_id = ${base.group} and partition = 1`
  const [older, same, fresh] = await Promise.allSettled([
    claims.claim(a, 4),
    claims.claim(b, 5),
    claims.claim(c, 6),
  ])
  expect(older).toMatchObject({ status: 'rejected', reason: { code: 'FENCED' } })
  expect((older as PromiseRejectedResult).reason.message).toContain('owned by epoch 5')
  expect(same).toMatchObject({ status: 'rejected', reason: { code: 'WATERMARK_MISMATCH' } })
  expect((same as PromiseRejectedResult).reason.message).toContain('already claimed by epoch 5')
  expect(fresh).toEqual({ status: 'fulfilled', value: null })
  expect(await claims.claim(a, 6)).toBeNull()
  expect(await claims.claim(b, 7)).toBe(42)
  expect(await watermark(db.sql, a)).toEqual({ nextOffset: null, epoch: 6 })
})
