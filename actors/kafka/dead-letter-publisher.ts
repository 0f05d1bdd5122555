import { BatonError } from '../../runtime/errors.ts'
import type { DeadLetter, DeadLetterPublisher, PartitionKey, SourceRecord } from '../ports.ts'
import { deadLetterTopic } from './admin.ts'
import { describeKafkaError } from './kafka-errors.ts'
import type { KafkaSecurity } from './kafka-security.ts'
import { PartitionReader } from './partition-reader.ts'
import { type EventToProduce, KafkaEventProducer } from './producer.ts'

/** The headers baton adds to a dead letter (the original headers come along too; these win a clash). */
export const deadLetterHeaders = {
  error: 'baton-error',
  code: 'baton-error-code',
  attempts: 'baton-attempts',
  topic: 'baton-original-topic',
  partition: 'baton-original-partition',
  offset: 'baton-original-offset',
  timestamp: 'baton-original-timestamp',
  group: 'baton-group',
} as const

/** Longest error text kept in a header; stack-sized messages only bloat the topic. */
const MAX_ERROR_CHARS = 4_096
/** How many records the first look at a dead-letter partition's tail reads; each next look reads 4 times more. */
const FIRST_TAIL_WINDOW = 64

export interface KafkaDeadLetterPublisherOptions {
  readonly brokers: readonly string[]
  /** This node's id, for the Kafka client ids. */
  readonly nodeId?: string
  /** SASL and TLS of every connection to the brokers (KAFKA_SASL_*, KAFKA_TLS*); default: plaintext. */
  readonly security?: KafkaSecurity
}

/**
 * Publishes dead letters to `<topic>.dlq`, into the partition with the original's number, with the
 * original key, value and headers plus baton's (`deadLetterHeaders`), acks from all in-sync replicas and
 * an idempotent producer.
 *
 * Exactly once into the dead-letter topic: the sink records dead letters in its outbox within the batch
 * transaction; after commit the letters are published here and then marked published. A crash between
 * the two would publish them again, so `publish` first reads the tail of the dead-letter partition and
 * skips every letter at or below the last original offset it finds there for the same group, topic and
 * partition. That is enough because:
 * - only the partition's single owner publishes its letters (one owner per partition, DESIGN.md), and it
 *   publishes them in offset order, one `publish` at a time, so what is in the topic is always a prefix of
 *   the partition's letters and the last one found bounds it;
 * - a `publish` that failed half-way wrote a prefix too (its requests go out one after the other, each
 *   a single batch, which Kafka appends whole or not at all), and the idempotent producer keeps the
 *   client's own retries from doubling a batch.
 * What it cannot prevent: a zombie owner (one that lost the partition but does not know yet) publishing
 * the same outbox rows concurrently with the new owner; the epoch fencing keeps such a zombie from
 * committing new letters, but not from publishing ones already committed.
 */
export class KafkaDeadLetterPublisher implements DeadLetterPublisher {
  readonly #producer: KafkaEventProducer
  readonly #reader: PartitionReader

  constructor(options: KafkaDeadLetterPublisherOptions) {
    const id = options.nodeId ? `baton-${options.nodeId}` : 'baton'
    const { brokers, security } = options
    this.#producer = new KafkaEventProducer({ brokers, clientId: `${id}-dlq`, security })
    this.#reader = new PartitionReader(brokers, `${id}-dlq-reader`, security)
  }

  /** Publishes the letters of partition `key` not yet in the dead-letter topic. Throws DEAD_LETTER_FAILED. */
  async publish(key: PartitionKey, letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return
    const topic = deadLetterTopic(key.topic)
    try {
      const last = await this.lastDeadLetteredOffset(key.topic, key.partition, key.group)
      const fresh = [...letters]
        .sort((a, b) => a.record.offset - b.record.offset)
        .filter((letter) => last === null || letter.record.offset > last)
      if (fresh.length === 0) return
      await this.#producer.produce(
        topic,
        fresh.map((letter) => toEvent(key, letter)),
      )
    } catch (err) {
      throw new BatonError(
        'DEAD_LETTER_FAILED',
        `Publishing ${letters.length} dead letter(s) of ${key.topic}/${key.partition} to ${topic} failed: ` +
          `${describeKafkaError(err)}. They stay in the outbox and are published on the next try.`,
        { cause: err },
      )
    }
  }

  /**
   * The highest original offset of `topic`/`partition` found in its dead-letter partition (only letters
   * of `group` when given), or null when there is none. Reads the partition backwards from its end in
   * growing windows, stopping at the first window holding a match: letters are published in offset
   * order, so the newest match is the highest.
   */
  async lastDeadLetteredOffset(topic: string, partition: number, group?: string): Promise<number | null> {
    const dlq = deadLetterTopic(topic)
    const { earliest, end } = await this.#reader.offsets(dlq, partition)
    const matches = (record: SourceRecord) =>
      record.headers[deadLetterHeaders.topic] === topic &&
      record.headers[deadLetterHeaders.partition] === String(partition) &&
      (group === undefined || record.headers[deadLetterHeaders.group] === group)
    let window = FIRST_TAIL_WINDOW
    let upper = end
    while (upper > earliest) {
      const lower = Math.max(earliest, upper - window)
      let last: number | null = null
      for (const record of await this.#reader.read(dlq, partition, lower, upper)) {
        if (!matches(record)) continue
        const offset = Number(record.headers[deadLetterHeaders.offset])
        if (Number.isInteger(offset) && (last === null || offset > last)) last = offset
      }
      if (last !== null) return last
      upper = lower
      window *= 4
    }
    return null
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.#producer.close(), this.#reader.close()])
  }
}

function toEvent(key: PartitionKey, letter: DeadLetter): EventToProduce {
  const { record } = letter
  return {
    key: record.key,
    value: record.value,
    partition: key.partition,
    headers: {
      ...record.headers,
      [deadLetterHeaders.error]: letter.error.slice(0, MAX_ERROR_CHARS),
      [deadLetterHeaders.code]: letter.code,
      [deadLetterHeaders.attempts]: String(letter.attempts),
      [deadLetterHeaders.topic]: key.topic,
      [deadLetterHeaders.partition]: String(key.partition),
      [deadLetterHeaders.offset]: String(record.offset),
      [deadLetterHeaders.timestamp]: String(record.timestamp),
      [deadLetterHeaders.group]: key.group,
    },
  }
}
