import { connectionError } from '../connection-failure.ts'
import { BatonError } from '../core/errors.ts'
import type { Pipeline } from '../pipeline.ts'
import { describeKey, type Sink } from '../ports.ts'
import type { QuarantineStore } from '../quarantine.ts'
import { partitionClaims } from './claims.ts'
import { classifyPostgresError, describeError, toSinkError } from './classify-error.ts'
import { type PostgresClients, postgresClients } from './clients.ts'
import { type CommitGroupOptions, commitGroups } from './commit-group.ts'
import { type PostgresDeadLetters, postgresDeadLetters } from './dead-letters.ts'
import { checkRuntimeGrants } from './grants.ts'
import { migratePostgres } from './migrations.ts'
import { postgresQuarantine } from './quarantine.ts'
import { commitSettler } from './settle.ts'
import { type PostgresTarget, postgresTarget } from './target.ts'
import { postgresConnection } from './tls.ts'

export interface PostgresSinkOptions {
  /**
   * A postgres.js connection URL (DATABASE_URL); its password never appears in an error. libpq's
   * `sslmode` and `sslrootcert` are honoured (tls.ts).
   */
  readonly url: string
  /**
   * The role that runs the migrations (DATABASE_MIGRATION_URL), on a connection of its own that is closed
   * afterwards; `url`'s role then needs only DML on baton's tables, which is checked. Default: `url`.
   */
  readonly migrationUrl?: string
  /** The pipeline whose `migrations.postgres` run at start and whose `handle` the batches' `work` calls. */
  readonly pipeline: Pipeline
  /** The consumer group whose dead letters `deadLetters` reads. */
  readonly group: string
  /** Connections (default 10): partitions committing at the same moment each need one, the rest wait. */
  readonly max?: number
  /**
   * How long one call on the batch path may take, connecting included (default 30 s): a batch's
   * transaction, a claim, a pipeline state read, a dead-letter read. A batch whose pipeline needs longer
   * than this per transaction needs a larger value; the server's `statement_timeout` and
   * `idle_in_transaction_session_timeout` follow it.
   */
  readonly deadlineMs?: number
  /**
   * How batches of different partitions share transactions (commit-group.ts): by default up to 32 in one,
   * at most 2 such transactions at once.
   */
  readonly grouping?: CommitGroupOptions
}

/**
 * Far above a batch's usual 5-50 ms and a PostgreSQL restart's few seconds, so that only a connection that
 * will never answer reaches it; and below the partition actor's 60 s sink outage limit, so that a hung
 * call is given up and retried while the actor still waits for the sink rather than after it failed.
 */
const DEFAULT_DEADLINE_MS = 30_000

/** The PostgreSQL sink, with the dead-letter table its batches write to. */
export interface PostgresSink extends Sink {
  readonly kind: 'postgres'
  readonly deadLetters: PostgresDeadLetters
  /** The group's per-key quarantine (issue 20). */
  readonly quarantine: QuarantineStore
}

/**
 * Connects to PostgreSQL, checks that it answers, and migrates baton's tables and the pipeline's schema.
 * Throws BatonError SERVICE_UNREACHABLE (host, port and database named, password masked) when the server
 * cannot be reached or refuses the credentials, MIGRATION_FAILED when a migration statement fails, and
 * PIPELINE_INVALID when the pipeline does not support PostgreSQL. Nothing is half-written in any case.
 *
 * @example
 * const sink = await createPostgresSink({ url: process.env.DATABASE_URL, pipeline: eventStore, group: 'baton' })
 */
export async function createPostgresSink(options: PostgresSinkOptions): Promise<PostgresSink> {
  const { pipeline, group } = options
  if (!pipeline.sinks.includes('postgres')) {
    throw new BatonError(
      'PIPELINE_INVALID',
      `Pipeline '${pipeline.name}' supports only ${pipeline.sinks.join(', ')}, not PostgreSQL; ` +
        "run it in embedded mode or add 'postgres' to its `sinks` with SQL for it.",
    )
  }
  const target = postgresTarget(options.url)
  const deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS
  const clients = await connect(options.url, 'DATABASE_URL', options.max ?? 10, deadlineMs)
  try {
    // Migrations run on a connection of their own, without the batch path's deadlines: building an index
    // on a large table may take minutes.
    const migrationUrl = options.migrationUrl ?? options.url
    const migrator = await connect(
      migrationUrl,
      options.migrationUrl ? 'DATABASE_MIGRATION_URL' : 'DATABASE_URL',
      1,
      null,
    )
    try {
      await migrate(migrator, pipeline, postgresTarget(migrationUrl))
    } finally {
      await migrator.end(5)
    }
    if (options.migrationUrl) {
      await checkRuntimeGrants(clients, target).catch((err) => {
        throw classifyPostgresError(err) === 'unavailable' ? unreachable(err, target) : err
      })
    }
  } catch (err) {
    await clients.end(0)
    throw err
  }
  return postgresSink(clients, target, group, deadlineMs, options.grouping ?? {})
}

/**
 * Clients for `url` that answered a `select 1`; throws the start-up error of `unreachable` otherwise. With
 * `deadlineMs`, the server ends a statement or an idle transaction that outlives it, so that a client that
 * gave up (or died) does not leave its transaction holding a watermark row.
 */
async function connect(
  url: string,
  variable: string,
  size: number,
  deadlineMs: number | null,
): Promise<PostgresClients> {
  const connection = postgresConnection(url, variable)
  const clients = postgresClients(connection.url, size, {
    ssl: connection.ssl,
    // Fail a start-up or a batch against a dead address in seconds, not after the driver's 30 s default.
    connect_timeout: 10,
    // `create table if not exists` sends a NOTICE on every start; postgres.js would print each one.
    onnotice: () => {},
    connection: {
      application_name: 'baton',
      ...(deadlineMs === null
        ? {}
        : { statement_timeout: deadlineMs, idle_in_transaction_session_timeout: deadlineMs }),
    },
  })
  try {
    await clients.run((sql) => sql`select 1`, deadlineMs ?? undefined)
    return clients
  } catch (err) {
    await clients.end(0)
    throw unreachable(err, postgresTarget(url))
  }
}

async function migrate(clients: PostgresClients, pipeline: Pipeline, target: PostgresTarget): Promise<void> {
  try {
    await migratePostgres(clients, pipeline, target)
  } catch (err) {
    throw classifyPostgresError(err) === 'unavailable' ? unreachable(err, target) : err
  }
}

function postgresSink(
  clients: PostgresClients,
  target: PostgresTarget,
  group: string,
  deadlineMs: number,
  grouping: CommitGroupOptions,
): PostgresSink {
  const settler = commitSettler(clients, target, deadlineMs)
  const groups = commitGroups({ clients, settler, target, deadlineMs }, grouping)
  const claims = partitionClaims(clients, target, deadlineMs)
  return {
    kind: 'postgres',
    deadLetters: postgresDeadLetters(clients, group, target, deadlineMs),
    quarantine: postgresQuarantine(clients, group, target, deadlineMs),

    storedEpoch: claims.storedEpoch,
    claim: claims.claim,

    /**
     * Moves the watermark and stores the batch's dead letters in one statement, then runs the pipeline's
     * `work`, all in one transaction, which it may share with other partitions' batches (commit-group.ts:
     * the batch keeps its own savepoint, fence and errors there). The watermark moves only if the row holds
     * `batch.epoch` and `fromOffset` (null: no progress yet, the partition's first batch ever). Otherwise
     * nothing is applied
     * and it throws FENCED when a newer epoch owns the partition, WATERMARK_MISMATCH when the batch is a
     * duplicate or out of order under this epoch (the actor restarts from the watermark).
     * One exception: a batch whose commit this same epoch already made (the acknowledgement was lost with
     * the connection, and the actor retried) is accepted without applying anything again, so that a
     * PostgreSQL restart does not also cost a fenced actor.
     *
     * The transaction has a deadline. When it passes, or the connection is lost, after the watermark moved,
     * the outcome is unknown (COMMIT may have been sent): settle.ts decides it from the watermark row. It
     * committed: return. It did not: SINK_UNAVAILABLE, retry. A newer epoch took over: FENCED. A shared
     * transaction that failed as a whole fails its batches with SINK_UNAVAILABLE; each is retried alone.
     */
    async commit(batch) {
      try {
        if (await settler.before(batch)) return
        await groups.commit(batch)
      } catch (err) {
        throw toSinkError(
          err,
          target,
          `committing up to offset ${batch.toOffset} of ${describeKey(batch.key)}`,
        )
      }
    },

    async read(fn) {
      try {
        await settler.settleAll()
        return await clients.transaction(
          (tx) => Promise.resolve(fn({ kind: 'postgres', sql: tx })),
          deadlineMs,
        )
      } catch (err) {
        throw toSinkError(err, target, 'reading pipeline state')
      }
    },

    async close() {
      await clients.end(5)
    },
  }
}

/** The start-up error for a server baton cannot use: SERVICE_AUTH_FAILED, SERVICE_TLS_FAILED or SERVICE_UNREACHABLE. */
function unreachable(err: unknown, target: PostgresTarget): BatonError {
  if ((err as { code?: unknown }).code === '3D000') {
    return new BatonError(
      'SERVICE_UNREACHABLE',
      `PostgreSQL at ${target.where} (${target.masked}) has no such database: ${describeError(err, target)}. ` +
        'Check the database name in DATABASE_URL.',
      { cause: err },
    )
  }
  return connectionError(
    'PostgreSQL',
    `${target.where} (${target.masked})`,
    err,
    describeError(err, target),
    {
      authentication:
        'Check the user and password in DATABASE_URL (or DATABASE_MIGRATION_URL), and that pg_hba.conf lets that ' +
        'user in over this connection (a "hostssl" line needs sslmode=require or stronger in the URL).',
      certificate:
        "Add sslrootcert=<PEM file of the CA that signed the server's certificate> to DATABASE_URL, and check " +
        'that the certificate names the host of the URL (sslmode=verify-full).',
      unreachable: 'Check DATABASE_URL and that the server is running and reachable from this node.',
    },
  )
}
