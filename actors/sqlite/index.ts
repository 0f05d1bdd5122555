import { join } from 'node:path'
import type { Pipeline } from '../pipeline.ts'
import type { PartitionKey } from '../ports.ts'
import { SqliteCheckpoints } from './checkpoints.ts'
import { SqliteFeed, type SqliteFeedOptions } from './feed.ts'
import { type LogRetention, SqliteLog } from './log.ts'
import { SqliteSink } from './sink.ts'
import { type Durability, SqliteStore } from './store.ts'

export { SqliteCheckpoints } from './checkpoints.ts'
export { isSqliteUnavailable } from './classify-error.ts'
export {
  type DeadLetterPage,
  type DeadLetterQuery,
  type SqliteDeadLetters,
  type StoredDeadLetter,
  sqliteDeadLetters,
} from './dead-letters.ts'
export { SqliteFeed, type SqliteFeedOptions } from './feed.ts'
export {
  type Appended,
  DEFAULT_RETENTION,
  type LogEvent,
  type LogRetention,
  SqliteLog,
  type SqliteLogOptions,
  type TopicInfo,
} from './log.ts'
export { SqliteSink, type SqliteSinkOptions } from './sink.ts'
export { type DatabaseOptions, type Durability, openDatabase, SqliteStore } from './store.ts'
export { assertTopicName } from './topic-name.ts'

export interface EmbeddedOptions {
  /** BATON_DATA_DIR: holds `log.db` (the event log) and `sink.db` (sink, checkpoints, dead letters). */
  readonly dataDir: string
  /** BATON_TOPICS: created in the log when missing, with `partitions` partitions. */
  readonly topics: readonly string[]
  /** BATON_PARTITIONS. */
  readonly partitions: number
  /** BATON_GROUP_ID: whose dead letters the sink's `deadLetters` reads. */
  readonly group: string
  readonly pipeline: Pipeline
  /** Default FULL: see `Durability`. */
  readonly durability?: Durability
  readonly retention?: Partial<LogRetention>
  /** Passed to every feed `feed()` creates. */
  readonly feed?: SqliteFeedOptions
}

/** Every adapter of an embedded node, over the two files in the data folder. */
export interface Embedded {
  readonly log: SqliteLog
  readonly sink: SqliteSink
  readonly checkpoints: SqliteCheckpoints
  /** A new feed for one partition of one of the log's topics. */
  feed(key: PartitionKey): SqliteFeed
  /** Closes the sink, the checkpoints and the log. Stop the feeds (the partition actors) first. */
  close(): Promise<void>
}

/**
 * Opens the embedded adapters in `dataDir`: the log in `log.db` with the topics created, and the sink with
 * the pipeline's migrations, checkpoints and dead letters sharing `sink.db`. Two files because SQLite has
 * one writer per file: ingest and batch commits never wait for each other.
 *
 * @example
 * const embedded = await openEmbedded({ dataDir: './data', topics: ['events'], partitions: 8, group: 'baton', pipeline })
 * embedded.log.append('events', [{ key: 'a', value: { n: 1 } }])
 */
export async function openEmbedded(options: EmbeddedOptions): Promise<Embedded> {
  const { dataDir, durability, group, pipeline } = options
  const log = SqliteLog.open(join(dataDir, 'log.db'), {
    durability,
    partitions: options.partitions,
    retention: options.retention,
  })
  let store: SqliteStore | undefined
  try {
    for (const topic of options.topics) log.createTopic(topic, options.partitions)
    store = SqliteStore.open(join(dataDir, 'sink.db'), { durability })
    const sink = await SqliteSink.open(store, { pipeline, group })
    const checkpoints = new SqliteCheckpoints(store)
    return {
      log,
      sink,
      checkpoints,
      feed: (key) => new SqliteFeed(log, key, options.feed),
      async close() {
        await sink.close()
        await checkpoints.close()
        log.close()
      },
    }
  } catch (err) {
    await store?.close()
    log.close()
    throw err
  }
}
