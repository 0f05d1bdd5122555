import type { Database, Statement } from 'bun:sqlite'
import { type Clock, realClock } from '../core/clock.ts'
import { BatonError } from '../core/errors.ts'
import type { Pipeline } from '../pipeline.ts'
import type { BatchCommit, DeadLetter, PartitionKey, Sink, SinkTx } from '../ports.ts'
import type { QuarantineStore } from '../quarantine.ts'
import { isSqliteUnavailable } from './classify-error.ts'
import { type SqliteDeadLetters, sqliteDeadLetters } from './dead-letters.ts'
import { own, unavailable } from './own.ts'
import { sqliteQuarantine, writeQuarantine } from './quarantine.ts'
import { migrateSqlite } from './schema.ts'
import type { SqliteStore } from './store.ts'

export interface SqliteSinkOptions {
  /** The pipeline whose `migrations.sqlite` run after baton's own tables at every start. */
  readonly pipeline: Pipeline
  /** The consumer group whose dead letters `deadLetters` reads. */
  readonly group: string
  /** The time of `updated_at`, `failed_at` and `replayed_at` (default: the process clock). */
  readonly clock?: Clock
}

type WatermarkRow = { next_offset: number | null; epoch: number }

/**
 * The embedded `Sink`: the pipeline's writes, the dead letters and the fenced watermark of a batch commit
 * in one SQLite transaction on the store's connection. Transactions of different partitions run one after
 * the other (the store's lock), never interleaved, since they share the connection.
 *
 * The sink's database is a file of its own (not the log's): SQLite has one writer per file, and a batch
 * transaction stays open while an async pipeline awaits; sharing the log's file would make every HTTP
 * append wait for it, and a second connection to one file would block the event loop in SQLite's busy wait
 * while the transaction that holds the lock cannot finish. Checkpoints and the dead-letter API share this
 * store, so epochs are exactly as durable as the watermarks they fence.
 */
export class SqliteSink implements Sink {
  readonly kind = 'sqlite' as const
  /** The group's dead-letter table, for GET /v1/dlq and POST /v1/dlq/replay. */
  readonly deadLetters: SqliteDeadLetters
  /** The group's per-key quarantine (issue 20). */
  readonly quarantine: QuarantineStore
  readonly #store: SqliteStore
  readonly #clock: Clock
  readonly #sql: {
    watermark: Statement<WatermarkRow>
    insertWatermark: Statement
    takeWatermark: Statement
    advance: Statement
    insertDeadLetter: Statement
  }
  #closed = false

  private constructor(store: SqliteStore, options: SqliteSinkOptions) {
    this.#store = store
    this.#clock = options.clock ?? realClock
    this.deadLetters = sqliteDeadLetters(store, options.group, this.#clock)
    this.quarantine = sqliteQuarantine(store, options.group, this.#clock)
    const db = store.db
    const key = 'group_id = ? and topic = ? and partition = ?'
    this.#sql = {
      watermark: db.prepare(`select next_offset, epoch from baton_watermarks where ${key}`),
      insertWatermark: db.prepare(
        'insert into baton_watermarks (group_id, topic, partition, next_offset, epoch, updated_at) values (?, ?, ?, null, ?, ?)',
      ),
      takeWatermark: db.prepare(`update baton_watermarks set epoch = ?, updated_at = ? where ${key}`),
      // `is` compares null with null as equal: a first batch (fromOffset null) matches only a row that has
      // never been committed, any other batch only the offset the previous batch left.
      advance: db.prepare(
        `update baton_watermarks set next_offset = ?, updated_at = ? where ${key} and epoch = ? and next_offset is ?`,
      ),
      insertDeadLetter: db.prepare(
        `insert into baton_dead_letters
           (group_id, topic, partition, "offset", key, value, headers, event_time, error, error_code, attempts, failed_at)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         on conflict (group_id, topic, partition, "offset") do nothing`,
      ),
    }
  }

  /**
   * Migrates the store's database (baton's tables, then the pipeline's `migrations.sqlite`) and returns the
   * sink, which shares the store until `close`. PIPELINE_INVALID when the pipeline does not support SQLite,
   * MIGRATION_FAILED when one of its migrations fails (nothing of the migration is kept then).
   *
   * @example
   * const store = SqliteStore.open(join(dataDir, 'sink.db'))
   * const sink = await SqliteSink.open(store, { pipeline, group: 'baton' })
   * const checkpoints = new SqliteCheckpoints(store)
   */
  static async open(store: SqliteStore, options: SqliteSinkOptions): Promise<SqliteSink> {
    const { pipeline } = options
    if (!pipeline.sinks.includes('sqlite')) {
      throw new BatonError(
        'PIPELINE_INVALID',
        `Pipeline '${pipeline.name}' supports only ${pipeline.sinks.join(', ')}, not SQLite; run it in cluster mode or add 'sqlite' to its \`sinks\` with SQL for it.`,
      )
    }
    try {
      await migrateSqlite(store, pipeline.migrations?.sqlite ?? [])
    } catch (err) {
      throw unavailable(`migrate ${store.path}`, err)
    }
    store.acquire()
    return new SqliteSink(store, options)
  }

  /** The epoch that last claimed the partition's watermark row, or null when it was never claimed. */
  storedEpoch(key: PartitionKey): Promise<number | null> {
    const what = `read the epoch of ${describe(key)}`
    return this.#transaction(what, () => {
      const row = own(what, () => this.#sql.watermark.get(key.group, key.topic, key.partition))
      return row ? row.epoch : null
    })
  }

  /**
   * Takes the partition's watermark row for `epoch`: creates it (with no offset yet) or raises its epoch.
   * Returns the stored next offset, null when nothing was ever committed. A row held by the same or a
   * higher epoch is FENCED (a newer actor owns the partition); one held by this epoch is WATERMARK_MISMATCH
   * (an epoch is claimed once: the actor restarts with a new one).
   */
  claim(key: PartitionKey, epoch: number): Promise<number | null> {
    const what = `claim ${describe(key)}`
    return this.#transaction(what, () => {
      const now = this.#clock.now()
      const row = own(what, () => this.#sql.watermark.get(key.group, key.topic, key.partition))
      if (!row) {
        own(what, () => this.#sql.insertWatermark.run(key.group, key.topic, key.partition, epoch, now))
        return null
      }
      if (row.epoch > epoch) {
        throw new BatonError(
          'FENCED',
          `Partition ${describe(key)} is owned by epoch ${row.epoch}; this actor (epoch ${epoch}) is a zombie and stops.`,
        )
      }
      if (row.epoch === epoch) {
        throw new BatonError(
          'WATERMARK_MISMATCH',
          `Partition ${describe(key)} was already claimed by epoch ${epoch}: an epoch is claimed once. The actor restarts with a new epoch.`,
        )
      }
      own(what, () => this.#sql.takeWatermark.run(epoch, now, key.group, key.topic, key.partition))
      return row.next_offset
    })
  }

  /**
   * Commits one batch in one transaction: moves the watermark from `fromOffset` to `toOffset` if the row
   * still has this epoch and that offset, stores the dead letters, runs the pipeline's `work`. When the
   * watermark does not match nothing is applied: FENCED for a zombie (a newer epoch holds the row),
   * WATERMARK_MISMATCH for a duplicate or out-of-order batch of this epoch.
   * What `work` throws rolls everything back and is rethrown as it is, except SQLite errors that say the
   * database cannot be used (disk full, I/O, locked), which become SINK_UNAVAILABLE.
   */
  async commit(batch: BatchCommit): Promise<void> {
    const { key, epoch, fromOffset, toOffset, deadLetters, work } = batch
    const what = `commit a batch of ${describe(key)}`
    await this.#transaction(what, async (db) => {
      const now = this.#clock.now()
      const moved = own(what, () =>
        this.#sql.advance.run(toOffset, now, key.group, key.topic, key.partition, epoch, fromOffset),
      )
      if (moved.changes === 0) throw own(what, () => this.#refusal(batch))
      own(what, () => {
        for (const letter of deadLetters) this.#insertDeadLetter(key, letter, now)
        writeQuarantine(db, batch, now)
      })
      if (work) await runWork(work, db)
    })
  }

  /** Stops taking claims and commits (after the one under way) and gives up the sink's share of the store. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#store.release()
  }

  #insertDeadLetter(key: PartitionKey, letter: DeadLetter, now: number): void {
    const { record } = letter
    this.#sql.insertDeadLetter.run(
      key.group,
      key.topic,
      key.partition,
      record.offset,
      record.key,
      record.value,
      JSON.stringify(record.headers),
      record.timestamp,
      letter.error,
      letter.code,
      letter.attempts,
      now,
    )
  }

  #refusal(batch: BatchCommit): BatonError {
    const { key, epoch, fromOffset } = batch
    const row = this.#sql.watermark.get(key.group, key.topic, key.partition)
    const what = describe(key)
    if (row && row.epoch > epoch) {
      return new BatonError(
        'FENCED',
        `Partition ${what} is owned by epoch ${row.epoch}; this actor (epoch ${epoch}) is a zombie and stops.`,
      )
    }
    let message: string
    if (!row)
      message = `Partition ${what} has no watermark row: it was never claimed. Nothing was applied; the actor restarts and claims it.`
    else if (row.epoch < epoch)
      message = `Partition ${what} is claimed by epoch ${row.epoch}, not by this actor's epoch ${epoch}. Nothing was applied; the actor restarts and claims it.`
    else
      message = `Partition ${what} has its watermark at ${row.next_offset ?? 'none yet'} but the batch starts at ${fromOffset ?? 'none'} (epoch ${epoch}): a duplicate or out-of-order batch. Nothing was applied; the actor restarts and resumes from the watermark.`
    return new BatonError('WATERMARK_MISMATCH', message)
  }

  /** Runs `fn` in a transaction of its own, with no watermark moved (a pipeline loading its state). */
  read<T>(fn: (tx: SinkTx) => Promise<T> | T): Promise<T> {
    return this.#transaction('read pipeline state', (db) => fn({ kind: 'sqlite', db }))
  }

  #transaction<T>(what: string, fn: (db: Database) => T | Promise<T>): Promise<T> {
    if (this.#closed) {
      return Promise.reject(
        new BatonError(
          'SINK_UNAVAILABLE',
          `Cannot ${what}: the embedded sink is closed (the node is stopping).`,
        ),
      )
    }
    return this.#store.transaction(fn)
  }
}

/** Runs the pipeline's writes; their failures pass through unless the database itself is at fault. */
async function runWork(work: (tx: SinkTx) => Promise<void> | void, db: Database): Promise<void> {
  try {
    await work({ kind: 'sqlite', db })
  } catch (err) {
    throw isSqliteUnavailable(err) ? unavailable('run the pipeline', err) : err
  }
}

const describe = (key: PartitionKey) => `${key.topic}/${key.partition} (group ${key.group})`
