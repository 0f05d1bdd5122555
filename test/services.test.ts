/**
 * Proof that `npm test` runs against the real services: Kafka through consumer groups of both
 * protocols, PostgreSQL transactions, Redis Lua scripts. Each test makes its own names and removes them.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Admin, Consumer, Producer, stringDeserializers, stringSerializers } from '@platformatic/kafka'
import Redis from 'ioredis'
import postgres from 'postgres'
import { kafkaBrokers, serviceEnv } from './support/env.ts'
import { uniqueName } from './support/names.ts'

describe('Kafka', () => {
  const records = 10_000
  const partitions = 8
  let admin: Admin

  beforeAll(() => {
    admin = new Admin({ clientId: uniqueName('admin'), bootstrapBrokers: kafkaBrokers() })
  })
  afterAll(() => admin.close())

  async function produce(topic: string): Promise<void> {
    const producer = new Producer({
      clientId: uniqueName('producer'),
      bootstrapBrokers: kafkaBrokers(),
      serializers: stringSerializers,
      // Right after createTopics some partitions have no leader yet; the client then retries the whole
      // request, and without idempotence the partitions that had succeeded get their records twice.
      idempotent: true,
    })
    try {
      for (let from = 0; from < records; from += 1000) {
        const messages = Array.from({ length: 1000 }, (_, i) => ({
          topic,
          key: `key-${(from + i) % 100}`,
          value: String(from + i),
        }))
        await producer.send({ messages })
      }
    } finally {
      await producer.close()
    }
  }

  for (const groupProtocol of ['classic', 'consumer'] as const) {
    test(`${records} keyed records through a '${groupProtocol}' consumer group: each once, in order per partition`, async () => {
      const topic = uniqueName('t')
      const groupId = uniqueName('g')
      await admin.createTopics({ topics: [topic], partitions, replicas: 1 })
      const consumer = new Consumer({
        clientId: uniqueName('consumer'),
        groupId,
        groupProtocol,
        bootstrapBrokers: kafkaBrokers(),
        deserializers: stringDeserializers,
        maxWaitTime: 200,
      })
      try {
        await produce(topic)
        const offsetsByPartition = new Map<number, bigint[]>()
        const valuesByKey = new Map<string, number[]>()
        const seen = new Set<number>()
        let received = 0
        const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false })
        for await (const message of stream) {
          received++
          seen.add(Number(message.value))
          offsetsByPartition.set(message.partition, [
            ...(offsetsByPartition.get(message.partition) ?? []),
            message.offset,
          ])
          valuesByKey.set(message.key, [...(valuesByKey.get(message.key) ?? []), Number(message.value)])
          if (received === records) break
        }

        expect(seen.size).toBe(records)
        expect(offsetsByPartition.size).toBe(partitions)
        for (const offsets of offsetsByPartition.values()) {
          // Every offset of the partition, once each, in order.
          expect(offsets).toEqual(offsets.map((_, i) => BigInt(i)))
        }
        for (const values of valuesByKey.values()) expect(values).toEqual([...values].sort((a, b) => a - b))
        // The broker ran the group with the protocol asked for (KIP-848 'consumer' or 'classic').
        const groups = await admin.listGroups({ types: [groupProtocol] })
        expect(groups.get(groupId)?.groupType).toBe(groupProtocol)
        const ends = await consumer.listOffsets({ topics: [topic] })
        const total = (ends.get(topic) ?? []).reduce((sum, end) => sum + end, 0n)
        expect(total).toBe(BigInt(records))
      } finally {
        await consumer.close(true)
        await admin.deleteGroups({ groups: [groupId] }).catch(() => {})
        await admin.deleteTopics({ topics: [topic] })
      }
    })
  }
})

describe('PostgreSQL', () => {
  test('rows round-trip, and a failed transaction leaves nothing behind', async () => {
    const sql = postgres(serviceEnv().DATABASE_URL, { max: 2, onnotice: () => {} })
    const table = uniqueName('tbl')
    try {
      await sql`create table ${sql(table)} (id int primary key, name text not null, payload jsonb not null, at timestamptz not null)`
      const rows = Array.from({ length: 500 }, (_, i) => ({
        id: i,
        name: `row ${i} ✓`,
        payload: sql.json({ i, tags: ['a', 'b'], nested: { even: i % 2 === 0 } }),
        at: new Date(Date.UTC(2024, 0, 1, 0, 0, i)),
      }))
      await sql`insert into ${sql(table)} ${sql(rows)}`
      const back = await sql`select id, name, payload, at from ${sql(table)} order by id`
      expect(back.length).toBe(500)
      expect(back[7]).toEqual({
        id: 7,
        name: 'row 7 ✓',
        payload: { i: 7, tags: ['a', 'b'], nested: { even: false } },
        at: new Date(Date.UTC(2024, 0, 1, 0, 0, 7)),
      })

      const failing = sql.begin(async (tx) => {
        await tx`insert into ${tx(table)} (id, name, payload, at) values (1000, 'x', '{}', now())`
        await tx`insert into ${tx(table)} (id, name, payload, at) values (0, 'duplicate key', '{}', now())`
      })
      await expect(failing).rejects.toThrow(/duplicate key/)
      const [after] = await sql<{ count: number }[]>`select count(*)::int as count from ${sql(table)}`
      expect(after?.count).toBe(500)
    } finally {
      await sql`drop table if exists ${sql(table)}`
      await sql.end()
    }
  })
})

describe('Redis', () => {
  test('a Lua script runs atomically on the server', async () => {
    const redis = new Redis(serviceEnv().REDIS_URL, { maxRetriesPerRequest: 1 })
    const counter = uniqueName('k')
    const log = uniqueName('k')
    // Increments the counter and records the new value in a hash, as one server-side step.
    const script = `local n = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'last', n)
return n`
    try {
      expect(await redis.eval(script, 2, counter, log, 5)).toBe(5)
      expect(await redis.eval(script, 2, counter, log, 7)).toBe(12)
      expect(await redis.hget(log, 'last')).toBe('12')
    } finally {
      await redis.del(counter, log)
      await redis.quit()
    }
  })
})
