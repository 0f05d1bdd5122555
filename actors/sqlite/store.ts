import { Database } from 'bun:sqlite'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { BatonError, type ErrorCode } from '../core/errors.ts'
import { Mutex } from './mutex.ts'

/**
 * How a commit is made durable.
 *
 * - `FULL` (the default): WAL is fsynced at every commit, so a commit that returned survives a crash of
 *   the process, the OS or the machine. This is what "acknowledged only once durable" means; measured on
 *   this 2-core box the fsync costs well under the time to insert a 1,000-event batch (see log.ts).
 * - `NORMAL`: WAL is fsynced only at checkpoints. Commits survive a crash of the process (kill -9), but
 *   the last ones may be lost when the machine loses power. Only for tests and throwaway data.
 */
export type Durability = 'FULL' | 'NORMAL'

export interface DatabaseOptions {
  readonly durability?: Durability
  /**
   * How long a statement waits for another process's write lock before failing with SQLITE_BUSY. The wait
   * blocks the event loop, so keep it short; within one baton process nothing ever waits (each file has
   * one connection).
   */
  readonly busyTimeoutMs?: number
}

/**
 * Opens (creating it and its folder when missing) a bun:sqlite database in WAL mode with baton's settings.
 * Throws `failCode` (SINK_UNAVAILABLE by default) with the path when the file cannot be opened.
 */
export function openDatabase(
  path: string,
  options: DatabaseOptions = {},
  failCode: ErrorCode = 'SINK_UNAVAILABLE',
): Database {
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
    const db = new Database(path, { create: true, readwrite: true })
    db.run('pragma journal_mode = wal')
    db.run(`pragma synchronous = ${options.durability ?? 'FULL'}`)
    db.run(`pragma busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 2_000)}`)
    // Without a limit the WAL file keeps the size of its largest burst after every checkpoint.
    db.run('pragma journal_size_limit = 67108864')
    db.run('pragma cache_size = -32000')
    return db
  } catch (err) {
    throw new BatonError(
      failCode,
      `Cannot open the SQLite database at ${path}: ${(err as Error).message}. Check that BATON_DATA_DIR is a writable folder with free space.`,
      { cause: err },
    )
  }
}

/**
 * One bun:sqlite connection shared by the embedded sink, checkpoints and dead-letter API, with the lock that
 * keeps their transactions apart. Whoever opens the store hands it to the adapters, which each `acquire` it;
 * the file closes when the last of them is closed (or at once with `close` when nobody acquired it).
 */
export class SqliteStore {
  readonly db: Database
  readonly path: string
  readonly #mutex = new Mutex()
  #users = 0
  #closed = false

  private constructor(db: Database, path: string) {
    this.db = db
    this.path = path
  }

  /** Opens the database file at `path` (see `openDatabase`). */
  static open(path: string, options: DatabaseOptions = {}): SqliteStore {
    return new SqliteStore(openDatabase(path, options), path)
  }

  /**
   * Runs `fn` alone on the connection: no other `exclusive` or `transaction` of this store starts before
   * it ends. For reads and single statements that must not land inside someone's open transaction.
   */
  exclusive<T>(fn: (db: Database) => T | Promise<T>): Promise<T> {
    return this.#mutex.run(() => {
      this.#assertOpen()
      return fn(this.db)
    })
  }

  /**
   * Runs `fn` inside `BEGIN IMMEDIATE … COMMIT`, alone on the connection; `fn` may await. Whatever `fn`
   * throws rolls the transaction back and is rethrown as it is; a failing BEGIN or COMMIT (disk full, I/O
   * error, the file locked by another process) is a SINK_UNAVAILABLE error.
   */
  transaction<T>(fn: (db: Database) => T | Promise<T>): Promise<T> {
    return this.exclusive(async (db) => {
      this.#control('begin immediate')
      let result: T
      try {
        result = await fn(db)
      } catch (err) {
        if (db.inTransaction) db.run('rollback')
        throw err
      }
      if (!db.inTransaction) {
        throw new BatonError(
          'PIPELINE_INVALID',
          'The SQLite transaction ended before baton committed it: code running inside it must not run COMMIT, ROLLBACK or END itself (use SAVEPOINT for nested work).',
        )
      }
      try {
        this.#control('commit')
      } catch (err) {
        if (db.inTransaction) db.run('rollback')
        throw err
      }
      return result
    })
  }

  /** Registers one more user of the connection (an adapter); each must call `release` once. */
  acquire(): void {
    this.#assertOpen()
    this.#users++
  }

  /** Gives up one user's share; the last one closes the file, after any transaction under way. */
  async release(): Promise<void> {
    this.#users--
    if (this.#users <= 0) await this.close()
  }

  /** Closes the file once the transaction under way (if any) has ended. Later calls do nothing. */
  async close(): Promise<void> {
    await this.#mutex.run(() => {
      if (this.#closed) return
      this.#closed = true
      this.db.close()
    })
  }

  #control(statement: string): void {
    try {
      this.db.run(statement)
    } catch (err) {
      throw new BatonError(
        'SINK_UNAVAILABLE',
        `SQLite could not ${statement} on ${this.path}: ${(err as Error).message}. baton retries the batch; check free disk space and that no other process holds the file.`,
        { cause: err },
      )
    }
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new BatonError(
        'SINK_UNAVAILABLE',
        `The SQLite database ${this.path} is closed: the node is shutting down.`,
      )
    }
  }
}
