import postgres, { type Sql } from 'postgres'
import { eventStore } from '../../actors/event-store.ts'
import { servicesDown, servicesUp } from '../../deploy/local/services.ts'
import { waitForIdleHost } from '../kit/host-cpu.ts'

/** The services one e2e run measures against, with a PostgreSQL database of its own. */
export interface BenchServices {
  readonly brokers: string[]
  readonly redisUrl: string
  /** The run's own database (`baton_bench_<pid>`): baton, the peers and COPY all write there. */
  readonly databaseUrl: string
  /** A connection to that database, for setup, progress polls and result queries. */
  readonly sql: Sql
  /** What else the figures shared the machine with: services reused from the environment or baton's own. */
  readonly reused: string[]
  /**
   * Writes PostgreSQL's dirty pages out now (CHECKPOINT), so that one phase's millions of rows are not
   * flushed during the next phase's measurement (a checkpoint in the latency phase cost seconds of p99);
   * skipped where the role may not checkpoint. Then waits until the host's CPUs are idle (at most
   * SETTLE_IDLE.maxBusy busy in a second, for at most a minute and a half), so that what the services
   * still do after one phase, such as a broker creating a new topic's logs, is not measured in the next.
   * A wait of more than two seconds, or one that timed out, shows in the progress lines.
   */
  settle(): Promise<void>
  /** Drops the database and stops the services this run started (not the ones it found running). */
  close(): Promise<void>
}

/** Idle: at most 15% of the host's CPU time busy in one second (an idle broker and database take 3%). */
const SETTLE_IDLE = { maxBusy: 0.15, windowMs: 1_000, timeoutMs: 90_000 }

/**
 * Uses the services that KAFKA_BROKERS, DATABASE_URL and REDIS_URL name, or those `baton services up`
 * runs, or starts them. A private database keeps the run's tables (baton_events, the peers' tables,
 * the COPY target) apart from whatever else uses the server, and is dropped, with all rows, at the end.
 */
export async function benchServices(progress: (line: string) => void): Promise<BenchServices> {
  const up = await servicesUp({ onProgress: (line) => progress(`  ${line}`) })
  const { KAFKA_BROKERS, DATABASE_URL, REDIS_URL } = up.env
  if (!KAFKA_BROKERS || !DATABASE_URL || !REDIS_URL) throw new Error('services up returned no URLs')
  const stopStarted = () => (up.started.length > 0 ? servicesDown({ only: up.started }) : Promise.resolve())
  const name = `baton_bench_${process.pid}`
  const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} })
  try {
    await admin.unsafe(`drop database if exists ${name} with (force)`)
    await admin.unsafe(`create database ${name}`)
  } catch (err) {
    await admin.end()
    await stopStarted()
    throw err
  }
  const url = new URL(DATABASE_URL)
  url.pathname = `/${name}`
  const databaseUrl = url.toString()
  const sql = postgres(databaseUrl, { max: 4, onnotice: () => {} })
  // The table every writer shares the shape of, created as the node itself would.
  for (const statement of eventStore.migrations?.postgres ?? []) await sql.unsafe(statement)
  return {
    brokers: KAFKA_BROKERS.split(','),
    redisUrl: REDIS_URL,
    databaseUrl,
    sql,
    reused: (['kafka', 'postgres', 'redis'] as const).filter((s) => !up.started.includes(s)),
    async settle() {
      await sql`checkpoint`.catch(() => {})
      const wait = await waitForIdleHost(SETTLE_IDLE)
      const waited = `${(wait.waitedMs / 1000).toFixed(1)} s`
      if (!wait.idle && wait.busy !== null) {
        progress(
          `  the host was still ${Math.round(wait.busy * 100)}% busy after ${waited}; measuring anyway`,
        )
      } else if (wait.waitedMs > 2_000) {
        progress(`  waited ${waited} for the host to go idle`)
      }
    },
    async close() {
      await sql.end({ timeout: 5 })
      await admin.unsafe(`drop database if exists ${name} with (force)`).catch(() => {})
      await admin.end()
      await stopStarted()
    },
  }
}

/** What shares the machine: services this run did not start, and the load before it began. */
export function sharedWith(reused: readonly string[], load: number): string {
  const services = reused.length > 0 ? `${reused.join(', ')} already running (shared with other users)` : ''
  return [services, `load average ${load.toFixed(2)} when the run began`].filter(Boolean).join('; ')
}
