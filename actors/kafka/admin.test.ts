import { afterAll, describe, expect, test } from 'bun:test'
import { Admin } from '@platformatic/kafka'
import { kafkaBrokers } from '../../test/support/env.ts'
import { uniqueName } from '../../test/support/names.ts'
import { until } from '../../test/support/until.ts'
import { isBatonError } from '../core/errors.ts'
import { deleteTopics, ensureTopics } from './admin.ts'

const created: string[] = []

afterAll(async () => {
  await deleteTopics(kafkaBrokers(), created)
})

describe('ensureTopics', () => {
  test('creates missing topics and their .dlq with the same partitions, once, even when raced', async () => {
    const brokers = kafkaBrokers()
    const topics = [uniqueName('t'), uniqueName('t')]
    created.push(...topics, ...topics.map((t) => `${t}.dlq`))
    const results = await Promise.all(
      [1, 2, 3].map(() => ensureTopics({ brokers, topics, partitions: 3, dlq: true, log: () => {} })),
    )
    expect(results.flatMap((r) => r.created).sort()).toEqual(
      [...topics, ...topics.map((t) => `${t}.dlq`)].sort(),
    )
    for (const result of results) {
      expect(result.partitions).toEqual(
        Object.fromEntries([...topics, ...topics.map((t) => `${t}.dlq`)].map((t) => [t, 3])),
      )
    }
    const again = await ensureTopics({ brokers, topics, partitions: 5, dlq: true, log: () => {} })
    expect(again.created).toEqual([])
    expect(again.partitions[topics[0] as string]).toBe(3)
  }, 60_000)

  test('gives a dead-letter topic the partitions its topic has', async () => {
    const brokers = kafkaBrokers()
    const topic = uniqueName('t')
    created.push(topic, `${topic}.dlq`)
    const admin = new Admin({ clientId: 'baton-test', bootstrapBrokers: brokers })
    try {
      await admin.createTopics({ topics: [topic], partitions: 4, replicas: 1 })
      await admin.createTopics({ topics: [`${topic}.dlq`], partitions: 2, replicas: 1 })
      // A topic is listed a moment after its creation is acknowledged.
      await until('both topics listed', 10_000, async () => {
        const listed = await admin.listTopics()
        return listed.includes(topic) && listed.includes(`${topic}.dlq`) ? true : undefined
      })
    } finally {
      await admin.close()
    }
    // Without the right to create (BATON_CREATE_TOPICS=false), the short .dlq is refused, untouched.
    const options = { brokers, topics: [topic], partitions: 8, dlq: true, log: () => {} }
    const refused = await ensureTopics({ ...options, create: false }).catch((e) => e)
    expect(isBatonError(refused, 'PREREQUISITE_MISSING')).toBe(true)
    expect(refused.message).toContain(`${topic}.dlq has 2 partitions, ${topic} 4`)
    const result = await ensureTopics(options)
    expect(result.created).toEqual([])
    expect(result.partitions).toEqual({ [topic]: 4, [`${topic}.dlq`]: 4 })
    // Now all there: checking alone answers the counts.
    expect((await ensureTopics({ ...options, create: false })).partitions).toEqual(result.partitions)
  }, 60_000)

  test('an unreachable Kafka is SERVICE_UNREACHABLE, naming the brokers', async () => {
    const error = await ensureTopics({
      brokers: ['127.0.0.1:1'],
      topics: ['x'],
      partitions: 1,
      dlq: false,
    }).catch((e) => e)
    expect(isBatonError(error, 'SERVICE_UNREACHABLE')).toBe(true)
    expect(error.message).toContain('127.0.0.1:1')
  }, 30_000)
})
