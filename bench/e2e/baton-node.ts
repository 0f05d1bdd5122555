import { randomBytes } from 'node:crypto'
import { resolve } from 'node:path'
import { type NodeProcess, startNodeProcess } from '../../deploy/local/node-process.ts'
import type { BenchServices } from './services.ts'

/** How the e2e benchmark starts baton: one cluster-mode node, as a process of its own. */
export interface BatonNodeOptions {
  readonly topic: string
  readonly group: string
  /** BATON_PIPELINE (a module path); the built-in event store when undefined. */
  readonly pipeline: string | undefined
  /** More environment for the node's process (say, the heap sizing a container limit gives). */
  readonly env?: Readonly<Record<string, string>>
  /** false: resolve once the process is spawned, not once it is ready (to time its start-up yourself). */
  readonly waitReady?: boolean
}

/** Starts a node that consumes `topic` as group `group` into the run's database; resolves once it is ready. */
export function startBatonNode(services: BenchServices, options: BatonNodeOptions): Promise<NodeProcess> {
  return startNodeProcess(
    {
      KAFKA_BROKERS: services.brokers.join(','),
      DATABASE_URL: services.databaseUrl,
      REDIS_URL: services.redisUrl,
      BATON_TOPICS: options.topic,
      BATON_GROUP_ID: options.group,
      BATON_NODE_ID: options.group,
      // Logs cost CPU too; the benchmark wants only what goes wrong.
      BATON_LOG_LEVEL: 'warn',
      // Cluster mode serves its API only with a token; the benchmark calls none of the guarded routes.
      BATON_API_TOKEN: randomBytes(16).toString('hex'),
      ...(options.pipeline ? { BATON_PIPELINE: resolve(options.pipeline) } : {}),
      ...options.env,
    },
    { waitReady: options.waitReady },
  )
}

/**
 * Events committed so far by `group` on `topic`: the sum of the partitions' watermarks; 0 while the node
 * has not yet created its tables (a node not waited for until ready).
 */
export async function committedEvents(
  services: BenchServices,
  group: string,
  topic: string,
): Promise<number> {
  try {
    const [row] = await services.sql<{ n: string | null }[]>`
      select sum(next_offset) as n from baton_watermarks where group_id = ${group} and topic = ${topic}`
    return Number(row?.n ?? 0)
  } catch (err) {
    if ((err as { code?: string }).code === UNDEFINED_TABLE) return 0
    throw err
  }
}

/** PostgreSQL's SQLSTATE for a relation that does not exist. */
const UNDEFINED_TABLE = '42P01'
