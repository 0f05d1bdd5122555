import { type Cancellable, type Clock, realClock } from '../core/clock.ts'
import { BatonError } from '../core/errors.ts'
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
/**
 * How long a look at the tail waits for transactions open on the partition (other groups' publishers) to
 * end: twice the transaction timeout (the clients' `timeout`), after which Kafka aborts them itself.
 */
const SETTLE_TIMEOUT_MS = 20_000
/**
 * How long a partition's producer stays open after its last publish. Dead letters are rare, so a node
 * owning thousands of partitions holds a producer (connections, a transactional id at the coordinator)
 * only for those that had letters of late, not for every partition that ever had one.
 */
export const PRODUCER_IDLE_MS = 60_000

/** A step of `publish` where a test may hold a publisher, as a pause of its process would. */
export type PublishStep = 'read' | 'sent'

export interface KafkaDeadLetterPublisherOptions {
  readonly brokers: readonly string[]
  /** This node's id, for the Kafka client ids. */
  readonly nodeId?: string
  /** SASL and TLS of every connection to the brokers (KAFKA_SASL_*, KAFKA_TLS*); default: plaintext. */
  readonly security?: KafkaSecurity
  /** Test seam: awaited after the tail was read (`read`) and after the letters were sent (`sent`). */
  readonly testPauseAt?: (step: PublishStep, key: PartitionKey) => Promise<void>
  /** Times the closing of idle producers (default: the process clock). */
  readonly clock?: Clock
  /** How long a producer stays open after its last publish (default {@link PRODUCER_IDLE_MS}). */
  readonly idleMs?: number
}

/** A partition's producer, the last original offset in the topic (undefined until read), its idle timer. */
interface Publisher {
  readonly producer: KafkaEventProducer
  last?: number | null
  idle?: Cancellable
}

/** What every transactional id of baton starts with, for ACLs (prefixed: `baton-dlq:<group>:`). */
export const deadLetterTransactionalIdPrefix = 'baton-dlq:'

/** The transactional id of the publisher of partition `key`'s dead letters (topic names have no ':'). */
export function deadLetterTransactionalId(key: PartitionKey): string {
  return `${deadLetterTransactionalIdPrefix}${key.group}:${key.topic}:${key.partition}`
}

/**
 * Publishes dead letters to `<topic>.dlq`, into the partition with the original's number, with the
 * original key, value and headers plus baton's (`deadLetterHeaders`), in Kafka transactions.
 *
 * Exactly once into the dead-letter topic (for read_committed consumers): the sink records dead letters in
 * its outbox within the batch transaction; after commit the letters are published here and then marked
 * published. Two things could publish a letter twice, and each has its answer:
 * - a crash (or a failure) between publishing and marking: `publish` reads the tail of the dead-letter
 *   partition first and skips every letter at or below the last original offset it finds there for the
 *   same group, topic and partition. Letters are published in offset order, one transaction at a time,
 *   so what is in the topic is a prefix of the partition's letters and the last one found bounds it.
 * - two publishers of one partition at once: a zombie (a paused process whose partition moved) that wakes
 *   up in the middle of publishing what the new owner publishes too. Each partition has one transactional
 *   id (`deadLetterTransactionalId`), and each owner its own producer: the owner's first transaction
 *   fences every older producer of the id (Kafka aborts what it left open and refuses it from then on)
 *   before it reads the tail. So of two publishers the older cannot commit after the newer started, and
 *   the newer reads the tail after the older's last commit: nothing is published twice. A publisher that
 *   a zombie fenced in turn fails once and starts a new producer (which fences the zombie) on its next try.
 * The tail is read once per producer, after its fence: from then on no one else can commit letters of the
 * partition without failing this producer first, so the last letter it committed bounds the topic's.
 */
export class KafkaDeadLetterPublisher implements DeadLetterPublisher {
  readonly #options: KafkaDeadLetterPublisherOptions
  readonly #clientId: string
  readonly #reader: PartitionReader
  /**
   * One transactional producer per partition whose letters this node published in the last `idleMs`,
   * with the last original offset in the topic (undefined until the producer's first transaction read
   * it). A producer closed for idleness is made again at the next publish, which reads the tail afresh.
   */
  readonly #producers = new Map<string, Publisher>()
  readonly #clock: Clock
  readonly #idleMs: number

  constructor(options: KafkaDeadLetterPublisherOptions) {
    this.#options = options
    this.#clock = options.clock ?? realClock
    this.#idleMs = options.idleMs ?? PRODUCER_IDLE_MS
    this.#clientId = `${options.nodeId ? `baton-${options.nodeId}` : 'baton'}-dlq`
    this.#reader = new PartitionReader(options.brokers, `${this.#clientId}-reader`, options.security)
  }

  /** Publishes the letters of partition `key` not yet in the dead-letter topic. Throws DEAD_LETTER_FAILED. */
  async publish(key: PartitionKey, letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return
    const topic = deadLetterTopic(key.topic)
    const publisher = this.#publisherFor(key)
    publisher.idle?.cancel()
    const pause = this.#options.testPauseAt
    try {
      publisher.last = await publisher.producer.transaction(async (send) => {
        const last =
          publisher.last === undefined
            ? await this.lastDeadLetteredOffset(key.topic, key.partition, key.group)
            : publisher.last
        const fresh = [...letters]
          .sort((a, b) => a.record.offset - b.record.offset)
          .filter((letter) => last === null || letter.record.offset > last)
        await pause?.('read', key)
        if (fresh.length === 0) return last
        await send(
          topic,
          fresh.map((letter) => toEvent(key, letter)),
        )
        await pause?.('sent', key)
        return fresh[fresh.length - 1]?.record.offset ?? last
      })
    } catch (err) {
      // Fenced, or in a state only Kafka knows: the next try starts from a new producer.
      await this.#drop(key, publisher.producer)
      throw new BatonError(
        'DEAD_LETTER_FAILED',
        `Publishing ${letters.length} dead letter(s) of ${key.topic}/${key.partition} to ${topic} failed: ` +
          `${describeKafkaError(err)}. They stay in the outbox and are published on the next try.`,
        { cause: err },
      )
    }
    publisher.idle = this.#clock.schedule(this.#idleMs, () => void this.#drop(key, publisher.producer))
  }

  /** How many partitions' producers are open: those that published in the last `idleMs`. */
  get openProducers(): number {
    return this.#producers.size
  }

  /** Closes the producer of partition `key` (the node no longer owns it); the next `publish` makes a new one. */
  async release(key: PartitionKey): Promise<void> {
    await this.#drop(key)
  }

  /**
   * The highest original offset of `topic`/`partition` found in its dead-letter partition (only letters
   * of `group` when given), or null when there is none. Reads the partition backwards from its end in
   * growing windows, stopping at the first window holding a match: letters are published in offset
   * order, so the newest match is the highest. Only committed letters count; it first waits until the
   * transactions open when it started have ended, so none of them hides a letter committed after it.
   */
  async lastDeadLetteredOffset(topic: string, partition: number, group?: string): Promise<number | null> {
    const dlq = deadLetterTopic(topic)
    const { earliest, end } = await this.#reader.settledOffsets(dlq, partition, SETTLE_TIMEOUT_MS)
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
    const producers = [...this.#producers.values()].map((p) => {
      p.idle?.cancel()
      return p.producer
    })
    this.#producers.clear()
    await Promise.allSettled([...producers.map((p) => p.close()), this.#reader.close()])
  }

  /** Closes the producer of `key` (only if it is still `only`, when given). */
  async #drop(key: PartitionKey, only?: KafkaEventProducer): Promise<void> {
    const id = deadLetterTransactionalId(key)
    const publisher = this.#producers.get(id)
    if (!publisher || (only && publisher.producer !== only)) return
    publisher.idle?.cancel()
    this.#producers.delete(id)
    await publisher.producer.close()
  }

  #publisherFor(key: PartitionKey): Publisher {
    const id = deadLetterTransactionalId(key)
    let publisher = this.#producers.get(id)
    if (!publisher) {
      const { brokers, security } = this.#options
      const producer = new KafkaEventProducer({
        brokers,
        clientId: this.#clientId,
        security,
        transactionalId: id,
      })
      publisher = { producer }
      this.#producers.set(id, publisher)
    }
    return publisher
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
