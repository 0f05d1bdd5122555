import type { Statement } from 'bun:sqlite'
import { type Clock, realClock } from '../core/clock.ts'
import { BatonError, errorMessage } from '../core/errors.ts'
import type { Checkpoints, PartitionKey } from '../ports.ts'
import type { SqliteStore } from './store.ts'

type CheckpointRow = { epoch: number; next_offset: number | null }

/**
 * The embedded `Checkpoints`: epochs and the fast-path checkpoint in table `baton_checkpoints` of the sink's
 * store (pass the store the sink uses: epochs must be at least as durable as the watermarks they fence,
 * or an epoch handed out twice after a crash could fence the partition's rightful owner out).
 */
export class SqliteCheckpoints implements Checkpoints {
  readonly #store: SqliteStore
  readonly #clock: Clock
  readonly #sql: { next: Statement<{ epoch: number }>; read: Statement<CheckpointRow>; write: Statement }
  #closed = false

  /** Creates the table if needed and shares `store` until `close`. */
  constructor(store: SqliteStore, clock: Clock = realClock) {
    this.#store = store
    this.#clock = clock
    const db = store.db
    try {
      db.run(`create table if not exists baton_checkpoints (
        group_id text not null,
        topic text not null,
        partition integer not null,
        epoch integer not null,
        next_offset integer,
        updated_at integer not null,
        primary key (group_id, topic, partition)
      ) without rowid`)
    } catch (err) {
      throw unavailable(`create baton_checkpoints in ${store.path}`, err)
    }
    const key = 'group_id = ? and topic = ? and partition = ?'
    this.#sql = {
      // One statement, so two callers can never get the same epoch.
      next: db.prepare(
        `insert into baton_checkpoints (group_id, topic, partition, epoch, next_offset, updated_at)
         values (?, ?, ?, max(1, ? + 1), null, ?)
         on conflict (group_id, topic, partition)
           do update set epoch = max(epoch + 1, excluded.epoch), updated_at = excluded.updated_at
         returning epoch`,
      ),
      read: db.prepare(`select epoch, next_offset from baton_checkpoints where ${key}`),
      write: db.prepare(
        `update baton_checkpoints set next_offset = ?, updated_at = ?
         where ${key} and epoch = ? and (next_offset is null or next_offset < ?)`,
      ),
    }
    store.acquire()
  }

  /** Hands out the partition's next epoch: one more than the last one handed out and than `above`. */
  nextEpoch(key: PartitionKey, above = 0): Promise<number> {
    return this.#run('take a new epoch', () => {
      const row = this.#sql.next.get(key.group, key.topic, key.partition, above, this.#clock.now())
      return (row as { epoch: number }).epoch
    })
  }

  /** The last checkpoint written, with the current epoch; null when none was ever written. */
  read(key: PartitionKey): Promise<{ nextOffset: number; epoch: number } | null> {
    return this.#run('read a checkpoint', () => {
      const row = this.#sql.read.get(key.group, key.topic, key.partition)
      return row && row.next_offset !== null ? { nextOffset: row.next_offset, epoch: row.epoch } : null
    })
  }

  /**
   * Stores `nextOffset` if `epoch` is still the partition's current epoch and the offset grows. Returns
   * false, changing nothing, otherwise (a zombie's write, or a replay of an older one).
   */
  write(key: PartitionKey, epoch: number, nextOffset: number): Promise<boolean> {
    return this.#run('write a checkpoint', () => {
      const { changes } = this.#sql.write.run(
        nextOffset,
        this.#clock.now(),
        key.group,
        key.topic,
        key.partition,
        epoch,
        nextOffset,
      )
      return changes > 0
    })
  }

  /** Gives up this share of the store (the last user closes the file). */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#store.release()
  }

  /** One statement, alone on the connection so it never lands inside a sink transaction. */
  #run<T>(what: string, fn: () => T): Promise<T> {
    if (this.#closed) {
      return Promise.reject(
        new BatonError('CHECKPOINT_UNAVAILABLE', `Cannot ${what}: the embedded checkpoint store is closed.`),
      )
    }
    return this.#store
      .exclusive(() => fn())
      .catch((err) => {
        throw unavailable(`${what} in ${this.#store.path}`, err)
      })
  }
}

function unavailable(what: string, err: unknown): BatonError {
  return new BatonError(
    'CHECKPOINT_UNAVAILABLE',
    `Could not ${what}: ${errorMessage(err)}. The sink's watermark still holds the progress; check free disk space and BATON_DATA_DIR.`,
    { cause: err },
  )
}
