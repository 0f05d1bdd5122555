import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import Redis from 'ioredis'
import postgres from 'postgres'
import { deleteTopics } from '../../actors/kafka/admin.ts'
import { kafkaErrorIds } from '../../actors/kafka/kafka-errors.ts'
import { kafkaSecurityFromEnv } from '../../actors/kafka/kafka-security.ts'
import { KafkaEventProducer } from '../../actors/kafka/producer.ts'
import { postgresConnection } from '../../actors/postgres/tls.ts'
import type { NodeProcess } from '../../deploy/local/node-process.ts'
import { runBaton } from '../../deploy/local/node-process.ts'
import { syntheticEvent } from '../../runtime/cli/synthetic-events.ts'
import { ClusterScenario } from '../cluster/harness.ts'
import { until } from '../support/until.ts'
import { leaked, type SecureSet, tokens, upSecureSet } from './secure-set.ts'

const EVENTS = 20_000

let set: SecureSet
let scenario: ClusterScenario
let node: NodeProcess
/** Every body the node served during the run, for the last test's search for secrets. */
const served: string[] = []

beforeAll(async () => {
  set = await upSecureSet()
  scenario = new ClusterScenario({ keys: 1000, valueBytes: 100, poison: 0.01 }, { services: set.env })
  await scenario.createTopics()
  await scenario.produce(EVENTS)
  node = await scenario.startNode('baton-0', { ...set.nodeEnv, BATON_LOG_LEVEL: 'debug' })
}, 180_000)

afterAll(async () => {
  await scenario?.cleanup()
  await set?.down()
})

/** One request to the node; its body is kept for the search for secrets. */
async function call(method: string, path: string, token?: string, body?: unknown) {
  const res = await fetch(`${node.url}${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  served.push(text)
  return { status: res.status, text }
}

const endOffsets = async () => (await scenario.kafkaOffsets()).end.reduce((a, b) => a + b, 0)

describe('cluster mode over SASL_SSL Kafka, TLS PostgreSQL with a DML-only role, TLS Redis with an ACL user', () => {
  test(`${EVENTS.toLocaleString('en')} events over 8 partitions land exactly once, 1% poison in the DLQ once`, async () => {
    await scenario.caughtUp(120_000)
    const { stored, deadLettered } = await scenario.check()
    expect(deadLettered).toBe(scenario.poisonSeqs.size)
    expect(stored + deadLettered).toBe(EVENTS)
    // Published to the .dlq topic in transactions, which needs exactly the ACLs the README lists.
    const published = await until('every dead letter published', 30_000, async () => {
      const [row] = await scenario.sql<{ n: number }[]>`
        select count(*)::int as n from baton_dead_letters
        where group_id = ${scenario.group} and published_at is not null`
      return row?.n === deadLettered ? row.n : undefined
    })
    expect(published).toBe(deadLettered)
  }, 150_000)

  test('ingest: no token is 401, a wrong one or the read token 403, and nothing reaches Kafka', async () => {
    const before = await endOffsets()
    const events = [{ key: 'k', value: { seq: -1 } }]
    const path = `/v1/topics/${scenario.topic}/events`
    expect((await call('POST', path, undefined, events)).status).toBe(401)
    expect((await call('POST', path, 'not-a-token-0123456789', events)).status).toBe(403)
    const wrongRole = await call('POST', path, tokens.BATON_READ_TOKEN, events)
    expect(wrongRole.status).toBe(403)
    expect(JSON.parse(wrongRole.text).message).toContain('BATON_INGEST_TOKEN')
    expect(await endOffsets()).toBe(before)
  })

  test('ingest with the ingest token (and the admin token) is stored exactly once too', async () => {
    const path = `/v1/topics/${scenario.topic}/events`
    for (const token of [tokens.BATON_INGEST_TOKEN, tokens.BATON_API_TOKEN]) {
      const events = Array.from({ length: 50 }, (_, i) => {
        const e = syntheticEvent(scenario.produced + i, { keys: 1000, valueBytes: 100, poison: 0 })
        return { key: e.key, value: JSON.parse(e.value) }
      })
      const res = await call('POST', path, token, events)
      expect(res.status).toBe(200)
      scenario.produced += events.length
    }
    await scenario.caughtUp(60_000)
    const { stored, deadLettered } = await scenario.check()
    expect(stored + deadLettered).toBe(EVENTS + 100)
  }, 90_000)

  test('read routes take the read or admin token, admin routes only the admin token', async () => {
    const actor = `/v1/actors/${scenario.topic}/0`
    expect((await call('GET', actor)).status).toBe(401)
    expect((await call('GET', actor, tokens.BATON_INGEST_TOKEN)).status).toBe(403)
    expect((await call('GET', actor, tokens.BATON_READ_TOKEN)).status).toBe(200)
    expect((await call('GET', '/v1/cluster', tokens.BATON_API_TOKEN)).status).toBe(200)
    expect((await call('GET', '/v1/actors', tokens.BATON_READ_TOKEN)).status).toBe(200)
    const dlq = await call('GET', `/v1/dlq?topic=${scenario.topic}`, tokens.BATON_READ_TOKEN)
    expect(dlq.status).toBe(200)
    expect(JSON.parse(dlq.text).entries.length).toBeGreaterThan(0)

    for (const token of [undefined, tokens.BATON_READ_TOKEN, tokens.BATON_INGEST_TOKEN]) {
      expect((await call('POST', `${actor}/pause`, token)).status).toBe(token ? 403 : 401)
      expect((await call('POST', '/v1/dlq/replay', token, { topic: scenario.topic })).status).toBe(
        token ? 403 : 401,
      )
    }
    expect(JSON.parse((await call('GET', actor, tokens.BATON_READ_TOKEN)).text).status).toBe('running')
    const [replayed] = await scenario.sql<{ n: number }[]>`
      select count(*)::int as n from baton_dead_letters where group_id = ${scenario.group} and replayed_at is not null`
    expect(replayed?.n).toBe(0)

    expect(JSON.parse((await call('POST', `${actor}/pause`, tokens.BATON_API_TOKEN)).text).status).toBe(
      'paused',
    )
    expect(JSON.parse((await call('POST', `${actor}/resume`, tokens.BATON_API_TOKEN)).text).status).toBe(
      'running',
    )
    for (const path of ['/healthz', '/readyz', '/metrics']) expect((await call('GET', path)).status).toBe(200)
  })

  test("least privilege in Kafka: baton's user has only the ACLs the README lists, and the broker enforces them", async () => {
    // Everything above (topics created, events consumed, offsets committed, dead letters published in
    // transactions) ran as that user; here is what it may not do.
    const security = kafkaSecurityFromEnv(set.env)
    const brokers = [set.env.KAFKA_BROKERS]
    const producer = new KafkaEventProducer({ brokers, security, transactionalId: 'not-baton:0' })
    try {
      const refused = await producer.transaction(async () => {}).catch((err: unknown) => err)
      expect([...kafkaErrorIds(refused)]).toContain('TRANSACTIONAL_ID_AUTHORIZATION_FAILED')
    } finally {
      await producer.close()
    }
    const deleted = await deleteTopics(brokers, [`${scenario.topic}.dlq`], security).catch(
      (err: unknown) => err,
    )
    expect([...kafkaErrorIds(deleted)]).toContain('TOPIC_AUTHORIZATION_FAILED')
  })

  test('least privilege: the runtime role may not change the schema; the Redis user may not KEYS, FLUSHALL or CONFIG', async () => {
    const runtime = postgresConnection(set.env.DATABASE_URL)
    const sql = postgres(runtime.url, { ssl: runtime.ssl, max: 1, onnotice: () => {} })
    try {
      const ddl = await sql`create table baton_intruder (x int)`.then(
        () => null,
        (err: { code?: string }) => err.code,
      )
      expect(ddl).toBe('42501')
      const drop = await sql`drop table baton_watermarks`.then(
        () => null,
        (err: { code?: string }) => err.code,
      )
      expect(drop).toBe('42501')
    } finally {
      await sql.end()
    }
    const redis = new Redis(set.env.REDIS_URL, {
      tls: { ca: readFileSync(set.env.REDIS_TLS_CA, 'utf8') },
      enableReadyCheck: false,
      maxRetriesPerRequest: 0,
    })
    try {
      for (const command of [() => redis.keys('*'), () => redis.flushall(), () => redis.config('GET', '*')]) {
        expect(
          await command().then(
            () => 'allowed',
            (err: Error) => err.message,
          ),
        ).toMatch(/^NOPERM/)
      }
      // baton's keys are there, under its prefix: it worked under this ACL.
      expect(await redis.exists(`baton:members:{${scenario.group}}`)).toBe(1)
    } finally {
      redis.disconnect()
    }
  })

  test('no secret appears in what baton printed or served: logs, /metrics, --print-config, error bodies', async () => {
    served.push((await call('GET', '/metrics')).text)
    served.push((await call('GET', '/v1/cluster', tokens.BATON_READ_TOKEN)).text)
    served.push((await call('GET', '/v1/nowhere', tokens.BATON_API_TOKEN)).text)
    served.push(
      (await call('POST', `/v1/topics/${scenario.topic}/events`, tokens.BATON_INGEST_TOKEN, '{')).text,
    )
    const printed = await runBaton(set.nodeEnv, ['start', '--print-config'])
    expect(printed.code).toBe(0)
    expect(printed.output).toContain('"databaseMigrationUrl": "postgres://baton_owner:***@127.0.0.1:')
    expect(printed.output).toContain('"apiToken": "(set)"')
    expect(await node.stop()).toBe(0)
    const everything = [node.output(), printed.output, ...served].join('\n')
    // The search would find nothing if nothing had been printed: the logs do name the services.
    expect(node.output()).toContain('"msg":"node started"')
    expect(leaked(everything, set.secrets)).toEqual([])
  }, 60_000)
})
