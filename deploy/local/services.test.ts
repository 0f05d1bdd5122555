/**
 * The services API on a private services folder (its own Kafka, PostgreSQL and Redis, ignoring the env
 * vars), so restarting and killing here never disturbs the services other tests use.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Admin, Producer, stringSerializers } from '@platformatic/kafka'
import Redis from 'ioredis'
import postgres from 'postgres'
import { isBatonError } from '../../actors/core/errors.ts'
import { isRunning } from './processes.ts'
import {
  killService,
  restartService,
  servicesDown,
  servicesEnv,
  servicesStatus,
  servicesUp,
  startService,
  stopService,
} from './services.ts'

const dirs: string[] = []

function privateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'baton-services-test-'))
  dirs.push(dir)
  return dir
}

afterAll(async () => {
  for (const dir of dirs) {
    await servicesDown({ dir })
    rmSync(dir, { recursive: true, force: true })
  }
})

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen({ host: '127.0.0.1', port }, () => server.close(() => resolve(true)))
  })
}

async function rowCount(url: string, table: string): Promise<number> {
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  try {
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(table)}`
    return row?.n ?? -1
  } finally {
    await sql.end()
  }
}

async function topicEnd(brokers: string, topic: string): Promise<bigint> {
  const admin = new Admin({ clientId: 'services-test', bootstrapBrokers: [brokers] })
  try {
    const offsets = await admin.listOffsets({
      topics: [{ name: topic, partitions: [{ partitionIndex: 0, timestamp: -1n }] }],
    })
    return offsets[0]?.partitions[0]?.offset ?? -1n
  } finally {
    await admin.close()
  }
}

describe('services API', () => {
  test('up, reuse, crash and restart on the same ports and data, then down without leftovers', async () => {
    const dir = privateDir()
    const { env, started } = await servicesUp({ dir, useEnv: false })
    expect([...started].sort()).toEqual(['kafka', 'postgres', 'redis'])
    const { KAFKA_BROKERS = '', DATABASE_URL = '', REDIS_URL = '' } = env
    expect(await servicesEnv({ dir })).toEqual(env)
    const again = await servicesUp({ dir, useEnv: false })
    expect(again).toEqual({ env, started: [] })

    // Something durable in each service.
    const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} })
    await sql`create table kept (id int primary key)`
    await sql`insert into kept values (1), (2), (3)`
    await sql.end()
    const redis = new Redis(REDIS_URL)
    await redis.set('kept', 'yes')
    await redis.quit()
    const admin = new Admin({ clientId: 'services-test', bootstrapBrokers: [KAFKA_BROKERS] })
    await admin.createTopics({ topics: ['kept'], partitions: 1, replicas: 1 })
    await admin.close()
    const producer = new Producer({
      clientId: 'services-test',
      bootstrapBrokers: [KAFKA_BROKERS],
      serializers: stringSerializers,
      idempotent: true,
    })
    await producer.send({
      messages: Array.from({ length: 10 }, (_, i) => ({ topic: 'kept', value: String(i) })),
    })
    await producer.close()

    // PostgreSQL crashes (immediate shutdown) and recovers its committed rows from the WAL.
    await restartService('postgres', { dir, mode: 'immediate' })
    expect(await rowCount(DATABASE_URL, 'kept')).toBe(3)

    // Kafka is SIGKILLed and comes back with its topic and records.
    await killService('kafka', { dir })
    const kafkaDown = (await servicesStatus({ dir })).find((s) => s.name === 'kafka')
    expect(kafkaDown?.state).toBe('stopped')
    await startService('kafka', { dir })
    expect(await topicEnd(KAFKA_BROKERS, 'kept')).toBe(10n)

    // Redis stops cleanly and reloads its append-only file.
    await stopService('redis', { dir })
    await startService('redis', { dir })
    const back = new Redis(REDIS_URL)
    expect(await back.get('kept')).toBe('yes')
    await back.quit()

    const status = await servicesStatus({ dir })
    expect(status.map((s) => s.state)).toEqual(['up', 'up', 'up'])
    expect((await servicesEnv({ dir })) ?? {}).toEqual(env)

    await servicesDown({ dir })
    for (const s of status) {
      expect(isRunning(s.pid ?? 0)).toBe(false)
      for (const port of s.ports) expect(await portIsFree(port)).toBe(true)
    }
    expect((await servicesStatus({ dir })).map((s) => s.state)).toEqual(['absent', 'absent', 'absent'])
    expect(await servicesEnv({ dir })).toBeNull()
  }, 120_000)

  test('an env var pointing at nothing is an error that names it, not a reason to start another', async () => {
    const dir = privateDir()
    const saved = process.env.REDIS_URL
    process.env.REDIS_URL = 'redis://127.0.0.1:1'
    try {
      const up = servicesUp({ dir, only: ['redis'] })
      await expect(up).rejects.toThrow(/REDIS_URL=redis:\/\/127\.0\.0\.1:1 is set but does not answer/)
      await up.catch((err) => expect(isBatonError(err, 'SERVICE_UNREACHABLE')).toBe(true))
      expect(await servicesEnv({ dir })).toBeNull()
    } finally {
      process.env.REDIS_URL = saved
    }
  })
})
