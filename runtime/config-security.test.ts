import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isBatonError } from '../actors/core/errors.ts'
import { maskUrl } from '../actors/core/log-redact.ts'
import { loadConfig, printableConfig, secretsOf } from './config.ts'

const dir = mkdtempSync(join(tmpdir(), 'baton-config-'))
const ca = join(dir, 'ca.pem')
writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const services = {
  KAFKA_BROKERS: '127.0.0.1:9092',
  DATABASE_URL: 'postgres://baton_app:pg-pass-1234@db:5432/baton',
  REDIS_URL: 'rediss://baton:redis-pass-1234@cache:6380',
}
const tokens = {
  BATON_API_TOKEN: 'admin-token-0123456789',
  BATON_INGEST_TOKEN: 'ingest-token-0123456789',
  BATON_READ_TOKEN: 'read-token-0123456789',
}

function problemsOf(env: Record<string, string>): string {
  try {
    loadConfig(env)
  } catch (err) {
    if (isBatonError(err, 'CONFIG_INVALID')) return err.message
    throw err
  }
  return ''
}

describe('API tokens', () => {
  test('a cluster node without any token refuses to start, naming the variables and BATON_INSECURE', () => {
    const message = problemsOf(services)
    for (const name of ['BATON_API_TOKEN', 'BATON_INGEST_TOKEN', 'BATON_READ_TOKEN', 'BATON_INSECURE'])
      expect(message).toContain(name)
  })

  test('BATON_INSECURE=true lets it start with every route open', () => {
    const config = loadConfig({ ...services, BATON_INSECURE: 'true' })
    expect(config.openWithoutToken).toBe(true)
  })

  test('a cluster node that listens on loopback only needs no token; on any other address it does', () => {
    expect(loadConfig({ ...services, BATON_HTTP_HOST: '127.0.0.1' }).openWithoutToken).toBe(true)
    expect(loadConfig({ ...services, BATON_HTTP_HOST: '::1' }).openWithoutToken).toBe(true)
    expect(problemsOf(services)).toContain('BATON_HTTP_HOST=0.0.0.0, the cluster-mode default')
    expect(problemsOf({ ...services, BATON_HTTP_HOST: '10.0.0.7' })).toContain('BATON_HTTP_HOST=10.0.0.7')
  })

  test('with tokens, a route whose token is unset is not open in cluster mode', () => {
    const config = loadConfig({ ...services, BATON_API_TOKEN: tokens.BATON_API_TOKEN })
    expect(config.openWithoutToken).toBe(false)
  })

  test('embedded mode on loopback needs no token; on another address it does', () => {
    expect(loadConfig({}).openWithoutToken).toBe(true)
    expect(loadConfig({ BATON_HTTP_HOST: '::1' }).openWithoutToken).toBe(true)
    expect(problemsOf({ BATON_HTTP_HOST: '0.0.0.0' })).toContain('BATON_HTTP_HOST=0.0.0.0')
    expect(loadConfig({ BATON_HTTP_HOST: '0.0.0.0', ...tokens }).openWithoutToken).toBe(false)
  })

  test('tokens are at least 16 characters, and the ingest and read tokens differ from the admin token', () => {
    expect(problemsOf({ ...services, BATON_READ_TOKEN: 'short' })).toContain(
      'BATON_READ_TOKEN: must be at least 16',
    )
    const same = problemsOf({ ...services, ...tokens, BATON_INGEST_TOKEN: tokens.BATON_API_TOKEN })
    expect(same).toContain('BATON_INGEST_TOKEN: must differ from BATON_API_TOKEN')
    expect(same).not.toContain(tokens.BATON_API_TOKEN)
  })

  test('ingest rate, request timeout and metrics auth have defaults and can be set', () => {
    expect(loadConfig({})).toMatchObject({ ingestRate: 50_000, requestTimeoutMs: 60_000, metricsAuth: false })
    expect(
      loadConfig({ BATON_INGEST_RATE: '0', BATON_REQUEST_TIMEOUT_MS: '5000', BATON_METRICS_AUTH: 'true' }),
    ).toMatchObject({ ingestRate: 0, requestTimeoutMs: 5_000, metricsAuth: true })
  })
})

describe('service credentials and TLS', () => {
  const secure = {
    ...services,
    ...tokens,
    DATABASE_MIGRATION_URL: 'postgres://baton_owner:owner-pass-1234@db:5432/baton',
    REDIS_TLS_CA: ca,
    KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
    KAFKA_SASL_USERNAME: 'baton',
    KAFKA_SASL_PASSWORD: 'kafka-pass-1234',
    KAFKA_TLS_CA: ca,
  }

  test('SASL, TLS and the migration URL are read', () => {
    const config = loadConfig(secure)
    expect(config.kafkaSasl).toEqual({
      mechanism: 'SCRAM-SHA-512',
      username: 'baton',
      password: 'kafka-pass-1234',
    })
    expect(config.kafkaTls).toEqual({ ca })
    expect(config.redisTlsCa).toBe(ca)
    expect(config.databaseMigrationUrl).toBe(secure.DATABASE_MIGRATION_URL)
    expect(loadConfig({ ...services, ...tokens, KAFKA_TLS: 'true' }).kafkaTls).toEqual({ ca: undefined })
    expect(loadConfig({ ...services, ...tokens }).kafkaTls).toBeUndefined()
  })

  test('every problem is listed at once, naming its variable', () => {
    const message = problemsOf({
      ...services,
      ...tokens,
      REDIS_URL: 'redis://cache:6379',
      REDIS_TLS_CA: ca,
      KAFKA_TLS_CA: join(dir, 'missing.pem'),
      KAFKA_SASL_USERNAME: 'baton',
      DATABASE_MIGRATION_URL: 'mysql://x',
    })
    expect(message).toContain('REDIS_TLS_CA: set, but REDIS_URL is not rediss://')
    expect(message).toContain('KAFKA_TLS_CA: must be the path of a readable PEM file')
    expect(message).toContain('KAFKA_SASL_MECHANISM, KAFKA_SASL_PASSWORD: needed with KAFKA_SASL_USERNAME')
    expect(message).toContain('DATABASE_MIGRATION_URL')
  })

  test('PLAIN only over TLS; cluster settings in embedded mode are refused', () => {
    const plain = { KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' }
    expect(problemsOf({ ...services, ...tokens, ...plain })).toContain('use it only with KAFKA_TLS=true')
    expect(problemsOf({ KAFKA_TLS: 'true' })).toContain('KAFKA_TLS: only used in cluster mode')
  })

  test('--print-config shows no secret, and secretsOf lists every one of them', () => {
    const config = loadConfig(secure)
    const printed = JSON.stringify(printableConfig(config))
    const secrets = [
      'pg-pass-1234',
      'redis-pass-1234',
      'owner-pass-1234',
      'kafka-pass-1234',
      ...Object.values(tokens),
    ]
    for (const secret of secrets) {
      expect(printed).not.toContain(secret)
      expect(secretsOf(config)).toContain(secret)
    }
    expect(printed).toContain('postgres://baton_owner:***@db:5432/baton')
    expect(printed).toContain('"username":"baton"')
  })

  test('a URL that URL cannot parse (several PostgreSQL hosts) is masked all the same', () => {
    const masked = maskUrl('postgres://app:multi-host-pw@db1:5432,db2:5432/baton?password=query-pw')
    expect(masked).toBe('postgres://app:***@db1:5432,db2:5432/baton?password=***')
  })
})
