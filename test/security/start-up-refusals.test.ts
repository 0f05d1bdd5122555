import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Admin } from '@platformatic/kafka'
import { clientOptions } from '../../actors/kafka/kafka-client.ts'
import { kafkaSecurityFromEnv } from '../../actors/kafka/kafka-security.ts'
import { runBaton } from '../../deploy/local/node-process.ts'
import { ClusterScenario } from '../cluster/harness.ts'
import { uniqueName } from '../support/names.ts'
import { leaked, type SecureSet, upSecureSet, withPassword } from './secure-set.ts'

let set: SecureSet
let scenario: ClusterScenario

beforeAll(async () => {
  set = await upSecureSet()
  scenario = new ClusterScenario({ keys: 10, valueBytes: 50, poison: 0 }, { services: set.env })
  await scenario.createTopics()
  await scenario.produce(100)
}, 180_000)

afterAll(async () => {
  await scenario?.cleanup()
  await set?.down()
})

/** Starts a node over the secure set with `change` applied; it must exit at once, saying why. */
async function refused(change: Record<string, string>, topic = scenario.topic) {
  const { code, output } = await runBaton({
    ...set.nodeEnv,
    BATON_TOPICS: topic,
    BATON_GROUP_ID: scenario.group,
    BATON_NODE_ID: 'refused-0',
    ...change,
  })
  expect(code).not.toBe(0)
  expect(leaked(output, set.secrets)).toEqual([])
  return output
}

async function topicExists(topic: string): Promise<boolean> {
  const admin = new Admin(
    clientOptions('refusals', set.env.KAFKA_BROKERS.split(','), kafkaSecurityFromEnv(set.env)),
  )
  try {
    return (await admin.listTopics()).includes(topic)
  } finally {
    await admin.close()
  }
}

/** Nothing of the produced events was processed: no watermark, no stored event, no dead letter. */
async function nothingStored(): Promise<void> {
  expect(await scenario.committed()).toBe(0)
  const [events] = await scenario.sql<{ n: number }[]>`
    select case when to_regclass('baton_events') is null then 0
      else (select count(*)::int from baton_events where topic = ${scenario.topic}) end as n`
  expect(events?.n).toBe(0)
}

describe('a node over the secure services refuses to start, naming what failed, and stores nothing', () => {
  test('no API token in cluster mode on an address other machines reach: CONFIG_INVALID naming the variables', async () => {
    const topic = uniqueName('t')
    const output = await refused(
      {
        BATON_API_TOKEN: '',
        BATON_INGEST_TOKEN: '',
        BATON_READ_TOKEN: '',
        BATON_INSECURE: '',
        BATON_HTTP_HOST: '0.0.0.0',
      },
      topic,
    )
    expect(output).toContain('[CONFIG_INVALID]')
    for (const name of ['BATON_API_TOKEN', 'BATON_INGEST_TOKEN', 'BATON_READ_TOKEN', 'BATON_INSECURE=true'])
      expect(output).toContain(name)
    expect(await topicExists(topic)).toBe(false)
  })

  test('Redis: a wrong password is an authentication failure; a wrong CA a certificate failure', async () => {
    const topic = uniqueName('t')
    const wrongPassword = await refused(
      { REDIS_URL: withPassword(set.env.REDIS_URL, 'not-the-password') },
      topic,
    )
    expect(wrongPassword).toContain('[SERVICE_AUTH_FAILED]')
    expect(wrongPassword).toContain('Redis at rediss://baton:***@127.0.0.1')
    expect(wrongPassword).not.toContain('not-the-password')
    // Also when baton creates no topics, the refusal comes at start, not after the group join times out.
    const notCreating = await refused({
      KAFKA_SASL_PASSWORD: 'not-the-password',
      BATON_CREATE_TOPICS: 'false',
    })
    expect(notCreating).toContain('[SERVICE_AUTH_FAILED]')
    const wrongCa = await refused({ REDIS_TLS_CA: set.wrongCa }, topic)
    expect(wrongCa).toContain('[SERVICE_TLS_FAILED]')
    expect(wrongCa).toContain('REDIS_TLS_CA')
    // Redis is checked first: nothing was created anywhere.
    expect(await topicExists(topic)).toBe(false)
  }, 60_000)

  test('PostgreSQL: wrong passwords of either role, and a wrong CA', async () => {
    const topic = uniqueName('t')
    const runtime = await refused(
      { DATABASE_URL: withPassword(set.env.DATABASE_URL, 'not-the-password') },
      topic,
    )
    expect(runtime).toContain('[SERVICE_AUTH_FAILED]')
    expect(runtime).toContain('PostgreSQL at 127.0.0.1:')
    expect(runtime).toContain('password authentication failed for user "baton_app"')
    const owner = await refused(
      { DATABASE_MIGRATION_URL: withPassword(set.env.DATABASE_MIGRATION_URL, 'not-the-password') },
      topic,
    )
    expect(owner).toContain('[SERVICE_AUTH_FAILED]')
    expect(owner).toContain('"baton_owner"')
    const wrongCa = await refused(
      { DATABASE_URL: set.env.DATABASE_URL.replace(/sslrootcert=[^&]*/, `sslrootcert=${set.wrongCa}`) },
      topic,
    )
    expect(wrongCa).toContain('[SERVICE_TLS_FAILED]')
    expect(wrongCa).toContain('sslrootcert')
    expect(await topicExists(topic)).toBe(false)
  }, 60_000)

  test('PostgreSQL: the runtime role alone may not migrate, and is told to use DATABASE_MIGRATION_URL', async () => {
    const output = await refused({ DATABASE_MIGRATION_URL: '' }, uniqueName('t'))
    expect(output).toMatch(/\[(MIGRATION_FAILED|SERVICE_AUTH_FAILED)\]/)
    expect(output).toContain('DATABASE_MIGRATION_URL')
  }, 60_000)

  test('Kafka: a wrong SCRAM password, a wrong CA, and no TLS at all', async () => {
    const wrongPassword = await refused({ KAFKA_SASL_PASSWORD: 'not-the-password' })
    expect(wrongPassword).toContain('[SERVICE_AUTH_FAILED]')
    expect(wrongPassword).toContain('Kafka at 127.0.0.1:')
    expect(wrongPassword).not.toContain('not-the-password')
    // Also when baton creates no topics, the refusal comes at start, not after the group join times out.
    const notCreating = await refused({
      KAFKA_SASL_PASSWORD: 'not-the-password',
      BATON_CREATE_TOPICS: 'false',
    })
    expect(notCreating).toContain('[SERVICE_AUTH_FAILED]')
    const wrongCa = await refused({ KAFKA_TLS_CA: set.wrongCa })
    expect(wrongCa).toContain('[SERVICE_TLS_FAILED]')
    expect(wrongCa).toContain('certificate')
    const plaintext = await refused({ KAFKA_TLS_CA: '' })
    expect(plaintext).toContain('Kafka at 127.0.0.1:')
    expect(plaintext).toContain('KAFKA_TLS=true')
    await nothingStored()
  }, 90_000)
})
