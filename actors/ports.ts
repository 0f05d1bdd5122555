/**
 * The ports a partition actor talks through. Adapters implement them for Kafka, PostgreSQL, Redis
 * (cluster mode) and bun:sqlite (embedded mode); the partition actor, batcher and pipelines only ever
 * see these types. Offsets are plain numbers: a partition would need 2^53 events to overflow them.
 */
import type { BatonError } from './core/errors.ts'

/** Identifies one partition of one topic. */
export interface TopicPartition {
  readonly topic: string
  readonly partition: number
}

/** Identifies the progress record of one consumer group on one partition (watermark, checkpoint, epoch). */
export interface PartitionKey extends TopicPartition {
  readonly group: string
}

/** One event as it came from the source. The buffers belong to the record; pipelines must not mutate them. */
export interface SourceRecord {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly key: Buffer | null
  readonly value: Buffer | null
  /** Header values decoded as UTF-8; a record without headers shares one frozen empty object. */
  readonly headers: Readonly<Record<string, string>>
  /** Event time in milliseconds since the epoch (the producer's timestamp). */
  readonly timestamp: number
}

export const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({})

/** The size a record counts for in the batcher's byte limit. */
export function recordBytes(record: SourceRecord): number {
  return (record.key?.length ?? 0) + (record.value?.length ?? 0)
}

export const tpString = (tp: TopicPartition): string => `${tp.topic}/${tp.partition}`

/** A partition of a consumer group as error messages name it. */
export const describeKey = (key: PartitionKey): string => `${tpString(key)} of group '${key.group}'`

/**
 * Where a partition actor's records come from, one handle per partition. The actor owns its fetch
 * position: the source delivers nothing for a partition until the actor has called `start`, and after
 * `seek` nothing from before the seek. `deliver` may be called again only after the promise it returned
 * settled, which is how a full mailbox slows fetching down (backpressure).
 */
export interface PartitionFeed {
  /**
   * Starts (or restarts) fetching at `offset`, handing fetched records in offset order to `deliver`.
   * `onCorrupt` (sources that check integrity: Kafka's CRC-32C) hears a CORRUPT_RECORD_BATCH error for
   * each damaged copy of the batch at the position, which the source holds at and fetches again, then
   * `null` once the partition flows past it. Called outside the actor's turn, like `deliver`.
   * `taken` (sources with a fetch budget: Kafka) gives the records' bytes back to the node's budget: the
   * partition actor calls it once the records are committed (or dropped), so that the budget bounds what
   * waits in batches too. Not calling it holds them until `stop`.
   */
  start(
    offset: number,
    deliver: (records: SourceRecord[], taken?: () => void) => void | Promise<void>,
    onCorrupt?: (error: BatonError | null) => void,
  ): void
  pause(): void
  resume(): void
  /** Moves the fetch position; records fetched before the seek and not yet delivered are dropped. */
  seek(offset: number): void
  /** Stops fetching for good (revoke, actor stop). */
  stop(): void
  /** The offset after the last record in the partition, as last seen by the source (undefined: unknown). */
  endOffset(): number | undefined
  /** Where to start when no progress was ever stored for this partition (earliest retained offset). */
  initialOffset(): Promise<number>
  /** Records progress at the source (Kafka's group offsets, so lag tooling sees it). Best effort. */
  commit(nextOffset: number): Promise<void>
}

export type SinkKind = 'postgres' | 'sqlite'

/**
 * A batch transaction handed to a pipeline's `handle`. The pipeline writes its effects through it;
 * they commit together with the partition's watermark, or not at all.
 */
export type SinkTx =
  | {
      readonly kind: 'postgres'
      readonly sql: import('postgres').TransactionSql
      /**
       * Present in a batch's commit: rows for `statement` (a `COPY ... FROM STDIN (FORMAT binary)`), as
       * binary COPY tuples without header and trailer, that the transaction sends in one COPY for all its
       * batches once each batch's part ran (one round trip, not one per batch), before it commits. They
       * are not visible in the transaction before that. A batch that fails drops its rows; a row that
       * fails (a primary-key conflict) fails the transaction, whose batches are then retried alone.
       */
      readonly copy?: (statement: string, tuples: Buffer) => void
    }
  | { readonly kind: 'sqlite'; readonly db: import('bun:sqlite').Database }

/** An event that failed processing for good, on its way to the dead-letter topic or table. */
export interface DeadLetter {
  readonly record: SourceRecord
  readonly error: string
  readonly code: string
  readonly attempts: number
}

/** A dead letter as a sink's `baton_dead_letters` table keeps it: the letter, its row id and its fate. */
export interface StoredDeadLetter extends DeadLetter {
  readonly id: number
  readonly group: string
  readonly failedAt: Date
  /** When it was produced to the dead-letter topic; null while it waits in the outbox (always, embedded). */
  readonly publishedAt: Date | null
  /** When an operator last replayed it (POST /v1/dlq/replay); null when never. */
  readonly replayedAt: Date | null
  /** What an operator decided for a letter that held its key back (POST /v1/dlq/:id/{retry,skip}). */
  readonly resolution?: 'retried' | 'skipped' | null
}

/** Which dead letters a sink's `list` returns: all of the group's, or one topic's, or one partition's. */
export interface DeadLetterQuery {
  readonly topic?: string
  readonly partition?: number
  /** The `next` of the previous page; omit for the first page. */
  readonly after?: number
  /** Page size, 1 to 1000 (default 100). */
  readonly limit?: number
}

export interface DeadLetterPage {
  readonly letters: readonly StoredDeadLetter[]
  /** Pass as `after` for the next page; null on the last page. */
  readonly next: number | null
}

/** One unit of progress for one partition: records [fromOffset, toOffset) as seen by the sink. */
export interface BatchCommit {
  readonly key: PartitionKey
  readonly epoch: number
  /**
   * The watermark this batch starts from: must equal the stored `next_offset`, or the commit is refused.
   * null for the first batch ever committed for the partition (the claimed row has no offset yet).
   */
  readonly fromOffset: number | null
  /** The new watermark: the last record's offset + 1. */
  readonly toOffset: number
  /** Dead letters recorded in the same transaction (their offsets lie in [fromOffset, toOffset)). */
  readonly deadLetters: readonly DeadLetter[]
  /** The pipeline's writes. Runs inside the transaction; throwing rolls everything back. */
  readonly work: ((tx: SinkTx) => Promise<void> | void) | null
  /** `work` only hands rows to `tx.copy` and runs no statement (the pipeline's `copyOnly`). */
  readonly copyOnly?: boolean
  /** Keys quarantined and events held by this batch (onPoison 'quarantine-key'), written after the letters. */
  readonly quarantine?: import('./quarantine.ts').QuarantineWrite
}

/**
 * The transactional sink: the pipeline's effects and the fenced watermark commit together.
 * `claim` and `commit` throw BatonError FENCED when a newer epoch owns the partition, and
 * SINK_UNAVAILABLE when the database cannot be reached (not an event's fault).
 */
export interface Sink {
  readonly kind: SinkKind
  /** The epoch that last claimed the partition's watermark row, or null when it was never claimed. */
  storedEpoch(key: PartitionKey): Promise<number | null>
  /** Takes the partition's watermark row for `epoch`; returns the stored next offset, or null when none. */
  claim(key: PartitionKey, epoch: number): Promise<number | null>
  /** Commits one batch: moves the watermark from `fromOffset` to `toOffset` only if epoch and offset match. */
  commit(batch: BatchCommit): Promise<void>
  /**
   * Runs `fn` in a transaction of its own that moves no watermark: how a pipeline loads its per-partition
   * state when an actor starts. Whatever `fn` writes commits too; pipelines should only read here.
   */
  read<T>(fn: (tx: SinkTx) => Promise<T> | T): Promise<T>
  close(): Promise<void>
}

/**
 * Epochs and the fast-path checkpoint. `write` applies only when `epoch` is the partition's current
 * epoch and `nextOffset` grows; otherwise it returns false (a zombie or a replay) and changes nothing.
 */
export interface Checkpoints {
  /**
   * Hands out a new epoch, greater than every epoch handed out before and than `above` (the sink's
   * stored epoch: if the checkpoint store lost its data, epochs must still grow, or the partition's
   * rightful owner would be fenced out by the watermark row).
   */
  nextEpoch(key: PartitionKey, above?: number): Promise<number>
  read(key: PartitionKey): Promise<{ nextOffset: number; epoch: number } | null>
  write(key: PartitionKey, epoch: number, nextOffset: number): Promise<boolean>
  close(): Promise<void>
}

/**
 * Publishes dead letters that the sink already recorded (the sink's table is the outbox, so a crash
 * between commit and publish is retried, never lost). Embedded mode keeps them in the table only.
 */
export interface DeadLetterPublisher {
  /**
   * `epoch`: the publishing actor's. A publisher backed by the sink's outbox publishes only while that
   * epoch still owns the partition, so a zombie that wakes up leaves publishing to the new owner.
   */
  publish(key: PartitionKey, letters: readonly DeadLetter[], epoch?: number): Promise<void>
  /** Frees what publishing for `key` holds; its actor stopped (the partition left, or it restarts). */
  release?(key: PartitionKey): Promise<void>
  close(): Promise<void>
}
