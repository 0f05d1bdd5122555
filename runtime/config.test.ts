import { describe, expect, test } from 'bun:test'
import { isBatonError } from '../actors/core/errors.ts'
import { loadConfig, printableConfig } from './config.ts'

describe('loadConfig', () => {
  test('no services configured: embedded mode with the documented defaults', () => {
    const config = loadConfig({ BATON_NODE_ID: 'n1' })
    expect(config).toMatchObject({
      mode: 'embedded',
      nodeId: 'n1',
      httpHost: '127.0.0.1',
      httpPort: 8080,
      groupId: 'baton',
      topics: ['events'],
      partitions: 8,
      batchMaxEvents: 1000,
      batchMaxWaitMs: 100,
      maxRetries: 3,
      dataDir: './data',
      onPoison: 'dead-letter',
      quarantineMaxKeys: 10_000,
    })
  })

  test('BATON_ON_POISON is for the built-in event store: with BATON_PIPELINE it is refused, naming both', () => {
    expect(loadConfig({ BATON_ON_POISON: 'quarantine-key' }).onPoison).toBe('quarantine-key')
    expect(() => loadConfig({ BATON_ON_POISON: 'quarantine-key', BATON_PIPELINE: 'mine.ts' })).toThrow(
      /BATON_ON_POISON: applies to the built-in event store only.*BATON_PIPELINE/,
    )
    expect(() => loadConfig({ BATON_ON_POISON: 'quarantine' })).toThrow(/BATON_ON_POISON/)
  })

  test('cluster mode needs all three services and reports every missing one at once', () => {
    let thrown: unknown
    try {
      loadConfig({ KAFKA_BROKERS: 'localhost:9092', BATON_PARTITIONS: 'eight', BATON_HTTP_PORT: '99999' })
    } catch (err) {
      thrown = err
    }
    expect(isBatonError(thrown, 'CONFIG_INVALID')).toBe(true)
    const message = (thrown as Error).message
    for (const name of ['DATABASE_URL', 'REDIS_URL', 'BATON_PARTITIONS', 'BATON_HTTP_PORT']) {
      expect(message).toContain(name)
    }
  })

  test('malformed values name their variable', () => {
    expect(() => loadConfig({ BATON_TOPICS: 'ok,bad topic' })).toThrow(/BATON_TOPICS/)
    expect(() =>
      loadConfig({ KAFKA_BROKERS: 'nohost', DATABASE_URL: 'x', REDIS_URL: 'redis://h:1' }),
    ).toThrow(/KAFKA_BROKERS[\s\S]*DATABASE_URL/)
  })

  test('printable config masks passwords and tokens', () => {
    const config = loadConfig({
      KAFKA_BROKERS: '127.0.0.1:9092',
      DATABASE_URL: 'postgres://baton:s3cret-pw@db:5432/baton',
      REDIS_URL: 'redis://:r3dis-pw@cache:6379',
      BATON_API_TOKEN: 'token-token-token-token',
    })
    const printed = JSON.stringify(printableConfig(config))
    expect(printed).not.toContain('s3cret-pw')
    expect(printed).not.toContain('r3dis-pw')
    expect(printed).not.toContain('token-token-token-token')
    expect(printed).toContain('postgres://baton:***@db:5432/baton')
  })
})
