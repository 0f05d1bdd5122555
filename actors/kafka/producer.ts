import { type MessageToProduce, ProduceAcks, Producer } from '@platformatic/kafka'
import { BatonError } from '../core/errors.ts'
import { Partitioner } from '../partitioner.ts'
import { CLIENT_RETRY_DELAY_MS, clientOptions } from './kafka-client.ts'
import { describeKafkaError, isUnreachable, kafkaErrorIds } from './kafka-errors.ts'
import type { KafkaSecurity } from './kafka-security.ts'

/** One event to produce. Strings are sent as their UTF-8 bytes. */
export interface EventToProduce {
  readonly key: string | Buffer | null
  readonly value: string | Buffer | null
  readonly headers?: Readonly<Record<string, string | Buffer>>
  /** Event time in milliseconds since the epoch; the time of producing when omitted. */
  readonly time?: number
  /** The partition to write to; Kafka's default partitioner picks one (by key) when omitted. */
  readonly partition?: number
}

/** Where an event landed. */
export interface ProducedEvent {
  readonly partition: number
  readonly offset: number
}

export interface KafkaEventProducerOptions {
  readonly brokers: readonly string[]
  /** Kafka client id (default `baton-producer`). */
  readonly clientId?: string
  /** SASL and TLS of every connection to the brokers (KAFKA_SASL_*, KAFKA_TLS*); default: plaintext. */
  readonly security?: KafkaSecurity
  /**
   * Makes the producer transactional (see `transaction`): the first transaction of a producer with this
   * id fences every older producer that had it, so only the newest may still commit.
   */
  readonly transactionalId?: string
}

/** An open transaction of the client (its class is not exported). */
type Transaction = Awaited<ReturnType<Producer['beginTransaction']>>

/** Produces within one transaction: what `produce` does, atomically with the rest of the transaction. */
export type TransactionalSend = (topic: string, events: readonly EventToProduce[]) => Promise<ProducedEvent[]>

/**
 * Most bytes of events sent in one produce request. Below the brokers' default `message.max.bytes`
 * (1 MiB), which a partition's batch in one request must not exceed.
 */
const MAX_REQUEST_BYTES = 512 * 1024
/** Per-record overhead of the record format, for the estimate above. */
const RECORD_OVERHEAD_BYTES = 32

/**
 * Produces events for `POST /v1/topics/:topic/events` (cluster mode) and `baton produce`: acks from all
 * in-sync replicas, idempotent (the brokers drop the duplicates of the client's own retries), and an
 * answer per event saying where it landed.
 *
 * Partitions come from baton's `Partitioner` (actors/partitioner.ts): murmur2 of the key like Kafka's
 * Java client (the library's default partitioner hashes differently), keyless events round-robin.
 * Events keep their order per partition: a large batch is sent in requests of at most 512 KiB, one after
 * the other.
 *
 * Throws NOT_FOUND when the topic does not exist, PRODUCE_FAILED when Kafka cannot be reached or refuses
 * the events. After a failure, some of the events may have been written (the answer did not arrive):
 * a caller that retries may write them twice.
 */
export class KafkaEventProducer {
  readonly #producer: Producer
  readonly #brokers: readonly string[]
  readonly #transactionalId: string | undefined
  readonly #partitioners = new Map<string, Partitioner>()

  constructor(options: KafkaEventProducerOptions) {
    this.#brokers = options.brokers
    this.#transactionalId = options.transactionalId
    this.#producer = new Producer({
      ...clientOptions(options.clientId ?? 'baton-producer', options.brokers, options.security),
      idempotent: true,
      acks: ProduceAcks.ALL,
      ...(options.transactionalId ? transactionalOptions(options.transactionalId) : {}),
    })
    if (options.transactionalId) speakClientAddPartitionsToTxn(this.#producer)
  }

  async produce(topic: string, events: readonly EventToProduce[]): Promise<ProducedEvent[]> {
    return this.#produce(topic, events, null)
  }

  /**
   * Runs `work` in a Kafka transaction (the producer must have a `transactionalId`): what it sends is
   * committed when it resolves and aborted when it throws, and read_committed consumers see all of it or
   * none. The first transaction fences older producers of the same id (Kafka aborts their open
   * transaction, and refuses their sends and commits from then on), before `work` starts. Throws
   * PRODUCE_FAILED when Kafka refuses, this producer included once a newer one fenced it; a fenced
   * producer stays fenced, so make a new one.
   */
  async transaction<T>(work: (send: TransactionalSend) => Promise<T>): Promise<T> {
    if (!this.#transactionalId)
      throw new BatonError(
        'INTERNAL',
        'A transaction needs a producer with a transactionalId: without one, nothing fences.',
      )
    let txn: Transaction
    try {
      // -1/-1 asks for the id's current producer with its epoch bumped, as the Java client does; the
      // client's default (0/0) is refused as PRODUCER_FENCED once another producer had the id.
      txn = await this.#producer.beginTransaction({ producerId: -1n, producerEpoch: -1 })
    } catch (err) {
      throw this.#failed(`Beginning a transaction of '${this.#transactionalId}'`, err)
    }
    let sent = false
    let result: T
    try {
      result = await work((topic, events) => {
        sent ||= events.length > 0
        return this.#produce(topic, events, txn)
      })
    } catch (err) {
      // Nothing of it becomes visible either way; an abort only frees the partitions sooner.
      await (sent ? txn.abort() : txn.cancel()).catch(() => txn.cancel().catch(() => {}))
      throw err
    }
    try {
      // A transaction that sent nothing has nothing at the coordinator to end.
      await (sent ? txn.commit() : txn.cancel())
    } catch (err) {
      throw this.#failed(`Committing the transaction of '${this.#transactionalId}'`, err)
    }
    return result
  }

  async #produce(
    topic: string,
    events: readonly EventToProduce[],
    txn: Transaction | null,
  ): Promise<ProducedEvent[]> {
    if (events.length === 0) return []
    const partitioner = await this.#partitioner(topic)
    const messages = events.map((event) => toMessage(topic, event, partitioner))
    const produced: ProducedEvent[] = []
    let chunk: MessageToProduce[] = []
    let bytes = 0
    for (const message of messages) {
      const size = messageBytes(message)
      if (chunk.length > 0 && bytes + size > MAX_REQUEST_BYTES) {
        produced.push(...(await this.#send(topic, chunk, txn)))
        chunk = []
        bytes = 0
      }
      chunk.push(message)
      bytes += size
    }
    produced.push(...(await this.#send(topic, chunk, txn)))
    return produced
  }

  async close(): Promise<void> {
    await this.#producer.close().catch(() => {})
  }

  async #partitioner(topic: string): Promise<Partitioner> {
    let metadata: Awaited<ReturnType<Producer['metadata']>>
    try {
      metadata = await this.#producer.metadata({ topics: [topic] })
    } catch (err) {
      if (isUnreachable(err)) throw this.#failed(`Producing to '${topic}'`, err)
      throw new BatonError(
        'NOT_FOUND',
        `Topic '${topic}' does not exist in Kafka at ${this.#brokers.join(',')}. Produce to one of BATON_TOPICS (baton start creates them).`,
        { cause: err },
      )
    }
    const partitions = metadata.topics.get(topic)?.partitionsCount ?? 0
    let partitioner = this.#partitioners.get(topic)
    // The topic may have gained partitions since we last looked: hash over the count it has now.
    if (!partitioner || partitioner.partitions !== partitions) {
      partitioner = new Partitioner(partitions)
      this.#partitioners.set(topic, partitioner)
    }
    return partitioner
  }

  async #send(
    topic: string,
    messages: MessageToProduce[],
    txn: Transaction | null,
  ): Promise<ProducedEvent[]> {
    let result: Awaited<ReturnType<Producer['send']>>
    try {
      result = await (txn ?? this.#producer).send({ messages })
    } catch (err) {
      throw this.#failed(`Producing to '${topic}'`, err)
    }
    // One batch per partition per request, in the order given: the n-th event of a partition in this
    // request sits at that partition's base offset + n.
    const base = new Map<number, number>()
    for (const { partition, offset } of result.offsets ?? []) base.set(partition, Number(offset))
    const next = new Map<number, number>()
    return messages.map((message) => {
      const partition = message.partition as number
      const index = next.get(partition) ?? 0
      next.set(partition, index + 1)
      const offset = base.get(partition)
      if (offset === undefined) {
        throw new BatonError(
          'PRODUCE_FAILED',
          `Kafka did not say where the events for ${topic}/${partition} landed.`,
        )
      }
      return { partition, offset: offset + index }
    })
  }

  /** `doing`: what failed, as the start of a sentence ("Producing to 'events'"). */
  #failed(doing: string, err: unknown): BatonError {
    const ids = kafkaErrorIds(err)
    const hint = isUnreachable(err)
      ? `Kafka at ${this.#brokers.join(',')} cannot be reached; try again when it is back.`
      : ids.has('NOT_ENOUGH_REPLICAS') || ids.has('NOT_ENOUGH_REPLICAS_AFTER_APPEND')
        ? 'Too few in-sync replicas to acknowledge the write; try again when the brokers recover.'
        : ids.has('PRODUCER_FENCED') || ids.has('INVALID_PRODUCER_EPOCH')
          ? 'A newer producer with the same transactional id fenced this one; only a new producer can go on.'
          : 'Kafka refused the events.'
    return new BatonError('PRODUCE_FAILED', `${doing} failed: ${describeKafkaError(err)}. ${hint}`, {
      cause: err,
    })
  }
}

/**
 * A transaction that starts right after the last one committed finds it still completing (its markers
 * are being written) and is told CONCURRENT_TRANSACTIONS, for a few milliseconds: retry that quickly (as
 * the Java client does), not after the usual 250 ms. Measured: 222 ms per one-letter dead-letter publish
 * with the usual delay, against a few ms.
 */
function transactionalOptions(transactionalId: string) {
  return {
    transactionalId,
    retries: 6,
    retryDelay: (_client: unknown, _operation: string, attempt: number, _retries: number, error: unknown) =>
      kafkaErrorIds(error).has('CONCURRENT_TRANSACTIONS') ? 5 * 2 ** attempt : CLIENT_RETRY_DELAY_MS,
  }
}

/** The highest AddPartitionsToTxn version a client may send; v4 and later are the brokers' own (KIP-890). */
const CLIENT_ADD_PARTITIONS_TO_TXN_MAX_VERSION = 3

/**
 * Makes `producer` send AddPartitionsToTxn v3, as the Java client does. @platformatic/kafka 2.12 sends the
 * highest version the broker lists (v5), which brokers keep for themselves: one with an authorizer
 * refuses it with CLUSTER_AUTHORIZATION_FAILED unless the user may ClusterAction (found by
 * test/security/secure-cluster.test.ts, which enforces ACLs). The client keeps the broker's API list in
 * a symbol-keyed field it does not export; this caps that list's entry whenever the client fills it.
 * Its v3 request takes the same arguments as v5.
 */
function speakClientAddPartitionsToTxn(producer: Producer): void {
  const key = Object.getOwnPropertySymbols(producer).find((s) => s.description === 'plt.kafka.base.apis')
  if (!key)
    throw new BatonError(
      'INTERNAL',
      '@platformatic/kafka no longer keeps its API versions where baton caps AddPartitionsToTxn ' +
        '(actors/kafka/producer.ts); check whether the new version still needs the cap.',
    )
  type ApiVersion = { name: string; minVersion: number; maxVersion: number }
  const holder = producer as unknown as Record<symbol, ApiVersion[]>
  let apis = holder[key] ?? []
  Object.defineProperty(producer, key, {
    configurable: true,
    get: () => apis,
    set: (list: ApiVersion[]) => {
      apis = list.map((api) =>
        api.name === 'AddPartitionsToTxn'
          ? { ...api, maxVersion: Math.min(api.maxVersion, CLIENT_ADD_PARTITIONS_TO_TXN_MAX_VERSION) }
          : api,
      )
    },
  })
}

function toMessage(topic: string, event: EventToProduce, partitioner: Partitioner): MessageToProduce {
  const key = toBuffer(event.key)
  const headers = new Map<Buffer, Buffer>()
  for (const [name, value] of Object.entries(event.headers ?? {}))
    headers.set(Buffer.from(name), toBuffer(value))
  return {
    topic,
    key: key ?? undefined,
    value: toBuffer(event.value) ?? undefined,
    headers,
    partition: event.partition ?? partitioner.partition(key),
    timestamp: event.time === undefined ? undefined : BigInt(Math.trunc(event.time)),
  } as MessageToProduce
}

function toBuffer(value: string | Buffer): Buffer
function toBuffer(value: string | Buffer | null | undefined): Buffer | null
function toBuffer(value: string | Buffer | null | undefined): Buffer | null {
  if (value === null || value === undefined) return null
  return typeof value === 'string' ? Buffer.from(value) : value
}

function messageBytes(message: MessageToProduce): number {
  let bytes = RECORD_OVERHEAD_BYTES + (message.key?.length ?? 0) + (message.value?.length ?? 0)
  for (const [name, value] of (message.headers as Map<Buffer, Buffer>) ?? [])
    bytes += name.length + value.length
  return bytes
}
