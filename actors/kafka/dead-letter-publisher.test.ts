import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { kafkaBrokers } from '../../test/support/env.ts'
import { uniqueName } from '../../test/support/names.ts'
import type { DeadLetter, PartitionKey } from '../ports.ts'
import { deleteTopics, ensureTopics } from './admin.ts'
import { KafkaDeadLetterPublisher } from './dead-letter-publisher.ts'
import { PartitionReader } from './partition-reader.ts'

const topic = uniqueName('t')
let publisher: KafkaDeadLetterPublisher
let reader: PartitionReader

beforeAll(async () => {
  await ensureTopics({ brokers: kafkaBrokers(), topics: [topic], partitions: 4, dlq: true, log: () => {} })
  publisher = new KafkaDeadLetterPublisher({ brokers: kafkaBrokers(), nodeId: 'node-a' })
  reader = new PartitionReader(kafkaBrokers())
})

afterAll(async () => {
  await publisher.close()
  await reader.close()
  await deleteTopics(kafkaBrokers(), [topic, `${topic}.dlq`])
})

function letter(offset: number): DeadLetter {
  return {
    record: {
      topic,
      partition: 2,
      offset,
      key: Buffer.from(`key-${offset}`),
      value: Buffer.from(`not json ${offset}`),
      headers: { origin: 'test', 'baton-error': 'an original header that baton overrides' },
      timestamp: 1_700_000_000_000 + offset,
    },
    error: `Unexpected token at ${offset}`,
    code: 'POISON_EVENT',
    attempts: 4,
  }
}

async function deadLetters() {
  const { earliest, end } = await reader.offsets(`${topic}.dlq`, 2)
  return reader.read(`${topic}.dlq`, 2, earliest, end)
}

describe('KafkaDeadLetterPublisher', () => {
  const key: PartitionKey = { group: 'orders', topic, partition: 2 }

  test('publishes to <topic>.dlq, same partition, original key/value/headers plus baton headers', async () => {
    expect(await publisher.lastDeadLetteredOffset(topic, 2)).toBeNull()
    await publisher.publish(key, [letter(9), letter(5)])
    const records = await deadLetters()
    expect(records.map((r) => r.key?.toString())).toEqual(['key-5', 'key-9'])
    expect(records[0]?.value?.toString()).toBe('not json 5')
    expect(records[0]?.headers).toEqual({
      origin: 'test',
      'baton-error': 'Unexpected token at 5',
      'baton-error-code': 'POISON_EVENT',
      'baton-attempts': '4',
      'baton-original-topic': topic,
      'baton-original-partition': '2',
      'baton-original-offset': '5',
      'baton-original-timestamp': String(1_700_000_000_005),
      'baton-group': 'orders',
    })
    expect(await publisher.lastDeadLetteredOffset(topic, 2)).toBe(9)
    expect(await publisher.lastDeadLetteredOffset(topic, 2, 'another-group')).toBeNull()
  }, 30_000)

  test('publishing again after a crash before marking writes each letter once', async () => {
    // The outbox still holds 5 and 9 (never marked) and now 12 and 15 too.
    await publisher.publish(key, [letter(5), letter(9), letter(12), letter(15)])
    await publisher.publish(key, [letter(12), letter(15)])
    const offsets = (await deadLetters()).map((r) => r.headers['baton-original-offset'])
    expect(offsets).toEqual(['5', '9', '12', '15'])
    expect(await publisher.lastDeadLetteredOffset(topic, 2, 'orders')).toBe(15)
  }, 30_000)

  test('finds the last letter behind many letters of other groups', async () => {
    const other: PartitionKey = { group: 'billing', topic, partition: 2 }
    await publisher.publish(
      other,
      Array.from({ length: 300 }, (_, i) => letter(1_000 + i)),
    )
    expect(await publisher.lastDeadLetteredOffset(topic, 2, 'orders')).toBe(15)
    expect(await publisher.lastDeadLetteredOffset(topic, 2, 'billing')).toBe(1_299)
    await publisher.publish(key, [letter(15), letter(16)])
    const orders = (await deadLetters()).filter((r) => r.headers['baton-group'] === 'orders')
    expect(orders.map((r) => r.headers['baton-original-offset'])).toEqual(['5', '9', '12', '15', '16'])
  }, 30_000)
})
