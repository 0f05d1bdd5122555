import { afterAll, beforeAll, expect, test } from 'bun:test'
import { tracingChannel } from 'node:diagnostics_channel'
import { Admin } from '@platformatic/kafka'
import { kafkaBrokers } from '../../test/support/env.ts'
import { uniqueName } from '../../test/support/names.ts'
import type { TopicPartition } from '../ports.ts'
import { deleteTopics, ensureTopics } from './admin.ts'
import { KafkaGroupSource } from './group-source.ts'

const PARTITIONS = 32
/** Kafka's api key of OffsetCommit. */
const OFFSET_COMMIT = 8

let brokers: string[]
let topic: string
const groupId = uniqueName('g')

beforeAll(async () => {
  brokers = kafkaBrokers()
  topic = uniqueName('t')
  await ensureTopics({ brokers, topics: [topic], partitions: PARTITIONS, dlq: false, log: () => {} })
})

afterAll(async () => {
  await deleteTopics(brokers, [topic])
  const admin = new Admin({ clientId: 'baton-test', bootstrapBrokers: brokers })
  await admin.deleteGroups({ groups: [groupId] }).catch(() => {})
  await admin.close()
})

test('the offsets of all partitions committed in one moment reach the broker in one OffsetCommit request', async () => {
  // Every request the Kafka client sends is published on this diagnostics channel, with its api key.
  const requests: number[] = []
  const channel = tracingChannel<{ apiKey?: number }>('plt:kafka:connections:api')
  const subscriber = {
    start: (message: { apiKey?: number }) => {
      if (message.apiKey === OFFSET_COMMIT) requests.push(OFFSET_COMMIT)
    },
  }
  channel.subscribe(subscriber)
  const source = new KafkaGroupSource({
    brokers,
    groupId,
    topics: [topic],
    nodeId: 'node-a',
    log: () => {},
    onAssigned: () => {},
    onRevoked: () => {},
  })
  const admin = new Admin({ clientId: 'baton-test', bootstrapBrokers: brokers })
  try {
    await source.start()
    for (let i = 0; source.assignment().length < PARTITIONS; i++) {
      if (i > 600) throw new Error(`only ${source.assignment().length} of ${PARTITIONS} partitions assigned`)
      await Bun.sleep(50)
    }
    const tps: TopicPartition[] = source.assignment()
    await Promise.all(tps.map((tp) => source.feed(tp).commit(1_000 + tp.partition)))
    expect(requests).toHaveLength(1)

    const [group] = await admin.listConsumerGroupOffsets({ groups: [groupId] })
    const committed = new Map<number, bigint>()
    for (const t of group?.topics ?? []) {
      for (const p of t.partitions) committed.set(p.partitionIndex, p.committedOffset)
    }
    expect(committed.size).toBe(PARTITIONS)
    for (const tp of tps) expect(committed.get(tp.partition)).toBe(BigInt(1_000 + tp.partition))
  } finally {
    channel.unsubscribe(subscriber)
    await source.close()
    await admin.close()
  }
}, 60_000)
