import type { Sql, TransactionSql } from 'postgres'
import { toSinkError } from './classify-error.ts'
import type { PostgresClients } from './clients.ts'
import type { PostgresTarget } from './target.ts'

/**
 * `clients.run` and `clients.transaction` for the tables beside the batch path (dead letters,
 * quarantine), each within `deadlineMs` like every call of the batch path: a lost connection becomes
 * SINK_UNAVAILABLE saying what was being `doing`; anything else (a BatonError, a pipeline's error) passes
 * as it is.
 */
export function sinkCalls(clients: PostgresClients, target: PostgresTarget, deadlineMs?: number) {
  return {
    async run<T>(doing: string, fn: (sql: Sql) => Promise<T>): Promise<T> {
      try {
        return await clients.run(fn, deadlineMs)
      } catch (err) {
        throw toSinkError(err, target, doing)
      }
    },
    async transaction<T>(doing: string, fn: (tx: TransactionSql) => Promise<T>): Promise<T> {
      try {
        return await clients.transaction(fn, deadlineMs)
      } catch (err) {
        throw toSinkError(err, target, doing)
      }
    },
  }
}
