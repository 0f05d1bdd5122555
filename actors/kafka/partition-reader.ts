import { ConnectionPool, Consumer, FetchIsolationLevels, ListOffsetTimestamps } from '@platformatic/kafka'
import { type Clock, realClock, sleep } from '../core/clock.ts'
import { BatonError } from '../core/errors.ts'
import { type SourceRecord, tpString } from '../ports.ts'
import { defaultFetchTuning, sendFetch } from './fetch-request.ts'
import { clientOptions } from './kafka-client.ts'
import { kafkaErrorName } from './kafka-errors.ts'
import type { KafkaSecurity } from './kafka-security.ts'
import { corruptBatchError, decodePartition } from './record-decoder.ts'

/**
 * Reads a range of one partition outside any consumer group: the dead-letter publisher reads the tail of
 * a dead-letter partition with it, tests read back what they produced. Not for streaming (that is the
 * group source's fetcher); each call asks the leader afresh.
 */
export class PartitionReader {
  readonly #client: Consumer
  readonly #pool: ConnectionPool
  readonly #clock: Clock

  /** `clock` times the waits of `settledOffsets` (default: the process clock). */
  constructor(
    brokers: readonly string[],
    clientId = 'baton-reader',
    security?: KafkaSecurity,
    clock: Clock = realClock,
  ) {
    this.#clock = clock
    const options = clientOptions(clientId, brokers, security)
    this.#client = new Consumer({ ...options, groupId: `${clientId}-unused` })
    this.#pool = new ConnectionPool(`${clientId}-fetch`, options)
  }

  /**
   * The first offset still in the log (`earliest`), the end of what a read_committed reader sees (`end`,
   * the last stable offset: before the first record of a transaction still open) and the offset after
   * the last record written (`highWatermark`, open transactions included).
   */
  async offsets(
    topic: string,
    partition: number,
  ): Promise<{ earliest: number; end: number; highWatermark: number }> {
    const ask = async (timestamp: bigint, isolationLevel: number) => {
      const offsets = await this.#client.listOffsets({
        topics: [topic],
        partitions: { [topic]: [partition] },
        timestamp,
        isolationLevel,
      })
      return Number(offsets.get(topic)?.[partition] ?? 0n)
    }
    const { READ_COMMITTED, READ_UNCOMMITTED } = FetchIsolationLevels
    const [earliest, end, highWatermark] = await Promise.all([
      ask(ListOffsetTimestamps.EARLIEST, READ_COMMITTED),
      ask(ListOffsetTimestamps.LATEST, READ_COMMITTED),
      ask(ListOffsetTimestamps.LATEST, READ_UNCOMMITTED),
    ])
    return { earliest, end, highWatermark }
  }

  /**
   * `earliest`, and as `end` the high watermark when called, once the last stable offset has reached it:
   * every record written by then is committed or aborted, so a read_committed read up to `end` misses
   * none committed by then (a commit's markers land a moment after the producer hears it committed).
   * Throws SOURCE_UNAVAILABLE when a transaction stays open longer than `timeoutMs`.
   */
  async settledOffsets(
    topic: string,
    partition: number,
    timeoutMs: number,
  ): Promise<{ earliest: number; end: number }> {
    const first = await this.offsets(topic, partition)
    const deadline = this.#clock.now() + timeoutMs
    let stable = first.end
    for (let wait = 10; stable < first.highWatermark; wait = Math.min(wait * 2, 1_000)) {
      if (this.#clock.now() > deadline)
        throw new BatonError(
          'SOURCE_UNAVAILABLE',
          `${tpString({ topic, partition })} has had a transaction open at offset ${stable} for over ` +
            `${timeoutMs / 1000} s; what comes after it cannot be read until it ends. Check the producers writing to it.`,
        )
      await sleep(this.#clock, wait)
      stable = (await this.offsets(topic, partition)).end
    }
    return { earliest: first.earliest, end: first.highWatermark }
  }

  /** The records with offsets in [from, to), in order (control and aborted records left out). */
  async read(topic: string, partition: number, from: number, to: number): Promise<SourceRecord[]> {
    const records: SourceRecord[] = []
    let position = from
    while (position < to) {
      const metadata = await this.#client.metadata({ topics: [topic] })
      const meta = metadata.topics.get(topic)
      const leader = meta?.partitions[partition]?.leader ?? -1
      const broker = metadata.brokers.get(leader)
      if (!meta || !broker) {
        this.#client.clearMetadata()
        throw new BatonError(
          'SOURCE_UNAVAILABLE',
          `${tpString({ topic, partition })} has no leader right now; try again.`,
        )
      }
      const response = await sendFetch(
        this.#pool,
        broker,
        [{ topicId: meta.id, partition, offset: position }],
        {
          ...defaultFetchTuning,
          maxWaitMs: 0,
        },
      )
      const part = response.responses[0]?.partitions[0]
      if (!part) break
      if (part.errorCode !== 0) {
        this.#client.clearMetadata()
        throw new BatonError(
          'SOURCE_UNAVAILABLE',
          `reading ${tpString({ topic, partition })} at ${position} failed: ${kafkaErrorName(part.errorCode)}`,
        )
      }
      const decoded = decodePartition(
        topic,
        partition,
        part.records ?? null,
        position,
        part.abortedTransactions,
      )
      for (const record of decoded.records) if (record.offset < to) records.push(record)
      if (decoded.corrupt && decoded.corrupt.firstOffset < to)
        throw corruptBatchError({ topic, partition }, decoded.corrupt)
      // Nothing more to read below `to` (it lies past the end, or only markers were left).
      if (decoded.nextOffset <= position) break
      position = decoded.nextOffset
    }
    return records
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.#pool.close(), this.#client.close()])
  }
}
