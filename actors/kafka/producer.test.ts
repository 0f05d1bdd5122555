import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { kafkaBrokers } from '../../test/support/env.ts'
import { uniqueName } from '../../test/support/names.ts'
import { isBatonError } from '../core/errors.ts'
import { partitionForKey } from '../partitioner.ts'
import { deleteTopics, ensureTopics } from './admin.ts'
import { PartitionReader } from './partition-reader.ts'
import { KafkaEventProducer } from './producer.ts'

const topic = uniqueName('t')
let producer: KafkaEventProducer

beforeAll(async () => {
  await ensureTopics({ brokers: kafkaBrokers(), topics: [topic], partitions: 4, dlq: false, log: () => {} })
  producer = new KafkaEventProducer({ brokers: kafkaBrokers() })
})

afterAll(async () => {
  await producer.close()
  await deleteTopics(kafkaBrokers(), [topic])
})

describe('KafkaEventProducer', () => {
  test('says where each event landed: the key decides the partition, offsets follow the order', async () => {
    const events = Array.from({ length: 200 }, (_, i) => ({
      key: i % 10 === 0 ? null : `user-${i % 17}`,
      value: JSON.stringify({ i }),
      headers: { n: String(i) },
      time: 1_700_000_000_000 + i,
    }))
    const produced = await producer.produce(topic, events)
    expect(produced).toHaveLength(events.length)
    events.forEach((event, i) => {
      if (event.key !== null) expect(produced[i]?.partition).toBe(partitionForKey(event.key, 4))
    })
    const reader = new PartitionReader(kafkaBrokers())
    try {
      for (let partition = 0; partition < 4; partition++) {
        const mine = produced.map((p, i) => ({ ...p, i })).filter((p) => p.partition === partition)
        const offsets = mine.map((p) => p.offset)
        expect(offsets).toEqual(offsets.map((_, n) => (offsets[0] as number) + n))
        const records = await reader.read(
          topic,
          partition,
          offsets[0] as number,
          (offsets.at(-1) as number) + 1,
        )
        expect(records.map((r) => r.headers.n)).toEqual(mine.map((p) => String(p.i)))
        expect(records.map((r) => r.timestamp)).toEqual(mine.map((p) => 1_700_000_000_000 + p.i))
        expect(records.map((r) => r.key?.toString() ?? null)).toEqual(
          mine.map((p) => events[p.i]?.key ?? null),
        )
      }
    } finally {
      await reader.close()
    }
  }, 30_000)

  test('an unknown topic is NOT_FOUND', async () => {
    const error = await producer.produce(uniqueName('missing'), [{ key: 'a', value: 'b' }]).catch((e) => e)
    expect(isBatonError(error, 'NOT_FOUND')).toBe(true)
  }, 30_000)
})
