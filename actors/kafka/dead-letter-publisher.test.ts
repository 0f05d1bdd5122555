import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { kafkaBrokers } from '../../test/support/env.ts'
import { uniqueName } from '../../test/support/names.ts'
import { ManualClock } from '../core/manual-clock.ts'
import type { DeadLetter, PartitionKey } from '../ports.ts'
import { deleteTopics, ensureTopics } from './admin.ts'
import { KafkaDeadLetterPublisher, PRODUCER_IDLE_MS, type PublishStep } from './dead-letter-publisher.ts'
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

function letter(offset: number, partition = 2): DeadLetter {
  return {
    record: {
      topic,
      partition,
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

/** What a read_committed consumer of the partition's dead letters sees. */
async function deadLetters(partition = 2) {
  const { earliest, end } = await reader.settledOffsets(`${topic}.dlq`, partition, 10_000)
  return reader.read(`${topic}.dlq`, partition, earliest, end)
}

async function publishedOffsets(key: PartitionKey): Promise<string[]> {
  return (await deadLetters(key.partition))
    .filter((r) => r.headers['baton-group'] === key.group)
    .map((r) => r.headers['baton-original-offset'] ?? '')
}

/** A publisher that stops at `step` of its next publish until released, as a paused process would. */
function pausedPublisher(step: PublishStep) {
  let reached = () => {}
  const atStep = new Promise<void>((resolve) => {
    reached = resolve
  })
  let release = () => {}
  const gate = new Promise<void>((resolve) => {
    release = resolve
  })
  const publisher = new KafkaDeadLetterPublisher({
    brokers: kafkaBrokers(),
    nodeId: 'zombie',
    testPauseAt: async (at) => {
      if (at !== step) return
      reached()
      await gate
    },
  })
  return { publisher, atStep, release }
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

describe('idle producers', () => {
  test('a partition holds a producer only while it has letters: closed after it was idle, made again for the next letters', async () => {
    const clock = new ManualClock(1_000)
    const idle = new KafkaDeadLetterPublisher({ brokers: kafkaBrokers(), nodeId: 'idle', clock })
    const key: PartitionKey = { group: 'shipping', topic, partition: 1 }
    try {
      expect(idle.openProducers).toBe(0)
      await idle.publish(key, [letter(50, 1)])
      expect(idle.openProducers).toBe(1)
      await clock.advance(PRODUCER_IDLE_MS - 1)
      expect(idle.openProducers).toBe(1)
      // A publish restarts the idle time.
      await idle.publish(key, [letter(51, 1)])
      await clock.advance(PRODUCER_IDLE_MS - 1)
      expect(idle.openProducers).toBe(1)
      await clock.advance(1)
      expect(idle.openProducers).toBe(0)
      // The new producer reads the tail again: what was published is not published twice.
      await idle.publish(key, [letter(50, 1), letter(51, 1), letter(52, 1)])
      expect(idle.openProducers).toBe(1)
      expect(await publishedOffsets(key)).toEqual(['50', '51', '52'])
    } finally {
      await idle.close()
    }
    expect(idle.openProducers).toBe(0)
  }, 60_000)
})

describe('two publishers of one partition: a zombie and the new owner', () => {
  test('a zombie held after reading the tail cannot publish once the new owner has', async () => {
    const key: PartitionKey = { group: 'payments', topic, partition: 1 }
    const zombie = pausedPublisher('read')
    const owner = new KafkaDeadLetterPublisher({ brokers: kafkaBrokers(), nodeId: 'owner' })
    try {
      // The zombie read the tail (nothing there) and would send 20 and 21 next.
      const late = zombie.publisher.publish(key, [letter(20, 1), letter(21, 1)])
      await zombie.atStep
      await owner.publish(key, [letter(20, 1), letter(21, 1)])
      zombie.release()
      expect(await late.catch((err) => err.code)).toBe('DEAD_LETTER_FAILED')
      expect(await publishedOffsets(key)).toEqual(['20', '21'])
      // The owner was not disturbed.
      await owner.publish(key, [letter(22, 1)])
      expect(await publishedOffsets(key)).toEqual(['20', '21', '22'])
    } finally {
      await Promise.all([zombie.publisher.close(), owner.close()])
    }
  }, 60_000)

  test("a zombie held after sending, before its commit: its letters are aborted, the new owner's count", async () => {
    const key: PartitionKey = { group: 'payments', topic, partition: 3 }
    const zombie = pausedPublisher('sent')
    const owner = new KafkaDeadLetterPublisher({ brokers: kafkaBrokers(), nodeId: 'owner' })
    try {
      const late = zombie.publisher.publish(key, [letter(40, 3), letter(41, 3)])
      // The zombie's letters are in the partition, in a transaction it has not committed.
      await zombie.atStep
      const { end, highWatermark } = await reader.offsets(`${topic}.dlq`, 3)
      expect(highWatermark - end).toBe(2)
      await owner.publish(key, [letter(40, 3), letter(41, 3)])
      zombie.release()
      expect(await late.catch((err) => err.code)).toBe('DEAD_LETTER_FAILED')
      expect(await publishedOffsets(key)).toEqual(['40', '41'])
    } finally {
      await Promise.all([zombie.publisher.close(), owner.close()])
    }
  }, 60_000)

  test('an owner fenced by a zombie that publishes late fails once, then goes on with a new producer', async () => {
    const key: PartitionKey = { group: 'payments', topic, partition: 0 }
    const owner = new KafkaDeadLetterPublisher({ brokers: kafkaBrokers(), nodeId: 'owner' })
    const zombie = new KafkaDeadLetterPublisher({ brokers: kafkaBrokers(), nodeId: 'zombie' })
    try {
      await owner.publish(key, [letter(30, 0)])
      // The zombie committed 31 before it lost the partition, and publishes it now: it fences the owner.
      await zombie.publish(key, [letter(30, 0), letter(31, 0)])
      const fenced = await owner.publish(key, [letter(31, 0), letter(32, 0)]).catch((err) => err)
      expect(fenced.code).toBe('DEAD_LETTER_FAILED')
      expect(fenced.message).toMatch(/fenced/)
      await owner.publish(key, [letter(31, 0), letter(32, 0)])
      expect(await publishedOffsets(key)).toEqual(['30', '31', '32'])
    } finally {
      await Promise.all([zombie.close(), owner.close()])
    }
  }, 60_000)
})
