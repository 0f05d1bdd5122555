import { SQLiteError } from 'bun:sqlite'

/**
 * SQLite's primary result codes that say the database, not the data, is at fault: the disk is full or
 * failing, the file is locked, unreadable or not a database, memory ran out. Retrying the same batch later
 * can succeed, and dead-lettering an event for them would blame the event. Everything else a statement
 * can fail with (constraint, datatype mismatch, SQL error, too big) is about what was written.
 */
const UNAVAILABLE = new Set([
  5, // SQLITE_BUSY: another process holds the write lock
  6, // SQLITE_LOCKED
  7, // SQLITE_NOMEM
  8, // SQLITE_READONLY: the file or its folder lost write permission
  9, // SQLITE_INTERRUPT
  10, // SQLITE_IOERR
  11, // SQLITE_CORRUPT: not fixed by a retry, but not the event's fault either; the actor fails after its outage limit
  13, // SQLITE_FULL
  14, // SQLITE_CANTOPEN
  15, // SQLITE_PROTOCOL
  26, // SQLITE_NOTADB
])

/** True when `err` is a SQLite error that means the database cannot be used right now (see UNAVAILABLE). */
export function isSqliteUnavailable(err: unknown): boolean {
  return err instanceof SQLiteError && UNAVAILABLE.has(err.errno & 0xff)
}
