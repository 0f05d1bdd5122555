import { ConnectionPool, Consumer, ListOffsetTimestamps } from '@platformatic/kafka'
import { BatonError } from '../../runtime/errors.ts'
import { type SourceRecord, tpString } from '../ports.ts'
import { defaultFetchTuning, sendFetch } from './fetch-request.ts'
import { clientOptions } from './kafka-client.ts'
import { kafkaErrorName } from './kafka-errors.ts'
import type { KafkaSecurity } from './kafka-security.ts'
import { decodePartition } from './record-decoder.ts'

/**
 * Reads a range of one partition outside any consumer group: the dead-letter publisher reads the tail of
 * a dead-letter partition with it, tests read back what they produced. Not for streaming (that is the
 * group source's fetcher); each call asks the leader afresh.
 */
export class PartitionReader {
  readonly #client: Consumer
  readonly #pool: ConnectionPool

  constructor(brokers: readonly string[], clientId = 'baton-reader', security?: KafkaSecurity) {
    const options = clientOptions(clientId, brokers, security)
    this.#client = new Consumer({ ...options, groupId: `${clientId}-unused` })
    this.#pool = new ConnectionPool(`${clientId}-fetch`, options)
  }

  /** The first offset still in the log and the offset after the last one (the high watermark). */
  async offsets(topic: string, partition: number): Promise<{ earliest: number; end: number }> {
    const ask = async (timestamp: bigint) => {
      const offsets = await this.#client.listOffsets({
        topics: [topic],
        partitions: { [topic]: [partition] },
        timestamp,
      })
      return Number(offsets.get(topic)?.[partition] ?? 0n)
    }
    const [earliest, end] = await Promise.all([
      ask(ListOffsetTimestamps.EARLIEST),
      ask(ListOffsetTimestamps.LATEST),
    ])
    return { earliest, end }
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
