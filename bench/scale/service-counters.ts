import Redis from 'ioredis'
import type { BenchServices } from '../e2e/services.ts'

/** Work the services have done so far: PostgreSQL's committed transactions and Redis's commands. */
export interface CounterReading {
  /** pg_stat_database.xact_commit of the run's database (every client of it, this one's too). */
  readonly pgTransactions: number
  /** INFO stats total_commands_processed of the Redis server. */
  readonly redisCommands: number
}

export interface ServiceCounters {
  read(): Promise<CounterReading>
  close(): Promise<void>
}

/**
 * Reads the two counters. Each reading is itself one PostgreSQL transaction and one Redis command,
 * which the next reading counts: the difference of two readings holds one of each of the reader's own.
 */
export async function openServiceCounters(services: BenchServices): Promise<ServiceCounters> {
  const redis = new Redis(services.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 })
  await redis.connect()
  return {
    async read() {
      const [[pg], info] = await Promise.all([
        services.sql<{ n: number }[]>`
          select xact_commit::float8 as n from pg_stat_database where datname = current_database()`,
        redis.info('stats'),
      ])
      const commands = /^total_commands_processed:(\d+)/m.exec(info)?.[1]
      return { pgTransactions: Number(pg?.n), redisCommands: Number(commands) }
    },
    async close() {
      redis.disconnect()
    },
  }
}
