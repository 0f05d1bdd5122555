import { type Broker, type ConnectionPool, FetchIsolationLevels } from '@platformatic/kafka'
import { type FetchResponse, type FetchTopic, fetchRecordBytes } from './fetch-wire.ts'
import { errorResponse } from './kafka-errors.ts'

/** How big and how patient fetches are. The defaults favour throughput; memory stays bounded by them. */
export interface FetchTuning {
  /** Upper bound of one fetch response, all partitions of one broker together. */
  readonly maxBytes: number
  /** Upper bound per partition in one response (one batch larger than this still comes, alone). */
  readonly partitionMaxBytes: number
  /** How long the broker may hold a fetch open waiting for `minBytes`. */
  readonly maxWaitMs: number
  readonly minBytes: number
  /** Read only committed transactions (and skip aborted ones), as an exactly-once consumer must. */
  readonly readCommitted: boolean
  /**
   * Check each fetched record batch against its CRC-32C and hold the partition at one that fails
   * (BATON_CHECK_CRCS). Off saves the checksum's CPU and trusts the network and the brokers' disks.
   */
  readonly checkCrcs: boolean
}

export const defaultFetchTuning: FetchTuning = {
  maxBytes: 8 * 1024 * 1024,
  // One fetched chunk of a partition: ~650 100-byte events. A partition's mailbox holds up to
  // BATON_MAILBOX_CAPACITY (16) of them, within its share of the node's fetch budget
  // (BATON_FETCH_BUFFER_BYTES, fetch-budget.ts). With Kafka's 1 MiB the node held most of a 1M-event
  // backlog in memory (peak RSS 740-850 MB in bench e2e, against 410-440 MB at 64 KiB), for no gain in
  // throughput; the broker answers a few more, smaller fetches.
  partitionMaxBytes: 64 * 1024,
  maxWaitMs: 250,
  minBytes: 1,
  readCommitted: true,
  checkCrcs: true,
}

/** One partition to fetch, by topic id (what Fetch v13+ speaks), from `offset` on. */
export interface PartitionToFetch {
  readonly topicId: string
  readonly partition: number
  readonly offset: number
  /** This partition's part of the response at most (default: the tuning's `partitionMaxBytes`). */
  readonly maxBytes?: number
}

export type { FetchResponse } from './fetch-wire.ts'

/**
 * Sends one Fetch (v17) to `broker` for `partitions`. Each request is a full one that opens no fetch
 * session (id 0, epoch -1, KIP-227), so a partition left out is simply not fetched. When only some
 * partitions failed, the response still comes back, with their error codes: the caller handles them one
 * by one. Throws when the broker could not be asked or answered with a request-level error.
 */
export async function sendFetch(
  pool: ConnectionPool,
  broker: Broker,
  partitions: readonly PartitionToFetch[],
  tuning: FetchTuning,
): Promise<FetchResponse> {
  const topics = new Map<string, { topicId: string; partitions: FetchTopic['partitions'][number][] }>()
  for (const { topicId, partition, offset, maxBytes } of partitions) {
    let topic = topics.get(topicId)
    if (!topic) {
      topic = { topicId, partitions: [] }
      topics.set(topicId, topic)
    }
    topic.partitions.push({ partition, offset, maxBytes: maxBytes ?? tuning.partitionMaxBytes })
  }
  const { maxWaitMs, minBytes, maxBytes, readCommitted } = tuning
  const isolation = readCommitted
    ? FetchIsolationLevels.READ_COMMITTED
    : FetchIsolationLevels.READ_UNCOMMITTED
  const connection = await pool.get(broker)
  try {
    return await fetchRecordBytes.async(connection, maxWaitMs, minBytes, maxBytes, isolation, [
      ...topics.values(),
    ])
  } catch (err) {
    const partial = errorResponse<FetchResponse>(err)
    if (partial && partial.errorCode === 0 && Array.isArray(partial.responses)) return partial
    throw err
  }
}
