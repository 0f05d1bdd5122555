import { realClock, sleep } from '../../../actors/core/clock.ts'
import type { Pipeline } from '../../../actors/pipeline.ts'
import pkg from '../../../package.json'
import type { Backend } from '../../backends/backend.ts'
import { embeddedBackend } from '../../backends/embedded.ts'
import type { Config } from '../../config.ts'
import { loadConfig, printableConfig, secretsOf } from '../../config.ts'
import { restartWithHeapBudget } from '../../heap-budget.ts'
import { listen } from '../../http/index.ts'
import { createLogger, type Logger } from '../../log.ts'
import { memoryLimitBytes } from '../../memory-limit.ts'
import { createMetrics, type Metrics } from '../../metrics.ts'
import { type RunningNode, startNode } from '../../node/node.ts'
import { loadPipeline } from '../../pipeline-loader.ts'
import { testCrashAfterCommit } from '../../test-hooks.ts'
import { type Command, wantsHelp } from '../command.ts'

const help = `Usage: baton start [--print-config]

Runs a baton node. With no KAFKA_BROKERS set it runs embedded: an event log, sink and checkpoints in
bun:sqlite under BATON_DATA_DIR, fed by POST /v1/topics/:topic/events. With KAFKA_BROKERS, DATABASE_URL
and REDIS_URL set it joins the consumer group BATON_GROUP_ID and moves BATON_TOPICS into PostgreSQL.

Options:
  --print-config  Print the validated configuration (secrets masked) and exit.

Environment (defaults in brackets):
  KAFKA_BROKERS            host:port[,host:port]; cluster mode when set
  DATABASE_URL             postgres://…  (cluster mode)
  REDIS_URL                redis://… or rediss://…  (cluster mode)
  BATON_NODE_ID            [hostname]
  BATON_HTTP_HOST          [127.0.0.1 embedded, 0.0.0.0 cluster]
  BATON_HTTP_PORT          [8080]
  BATON_ADVERTISE_URL      where other nodes reach this node's API, e.g. http://baton-0.baton:8080
                           [the listening address; with 0.0.0.0 this host's first non-loopback IP]
  BATON_GROUP_ID           [baton]
  BATON_TOPICS             [events]
  BATON_PARTITIONS         [8] partitions of topics baton creates
  BATON_BATCH_MAX_EVENTS   [1000]
  BATON_BATCH_MAX_BYTES    [4194304]
  BATON_BATCH_MAX_WAIT_MS  [100]
  BATON_MAX_RETRIES        [3] retries of a failing event before it is dead-lettered
  BATON_DATA_DIR           [./data] embedded mode's files
  BATON_PIPELINE           [the built-in event store] module exporting definePipeline(...)
  BATON_API_TOKEN          bearer token of the admin routes; it opens the ingest and read routes too
  BATON_INGEST_TOKEN       bearer token of POST /v1/topics/:topic/events
  BATON_READ_TOKEN         bearer token of GET /v1/cluster, /v1/actors…, /v1/dlq
                           (a route whose token is unset is open only in embedded mode on 127.0.0.1;
                           elsewhere it takes the admin token. A cluster node with no token at all
                           refuses to start unless BATON_INSECURE=true)
  BATON_INSECURE           [false] serve routes whose token is unset to everyone, even in cluster mode
  BATON_METRICS_AUTH       [false] /metrics takes the read token
  BATON_INGEST_RATE        [50000] events per second each client may ingest (0: no limit)
  BATON_REQUEST_TIMEOUT_MS [60000] longest an HTTP request may take before a 503
  DATABASE_MIGRATION_URL   PostgreSQL role that runs migrations (DDL); DATABASE_URL's role then needs DML only
                           (both URLs take sslmode=verify-full&sslrootcert=<CA file>)
  REDIS_TLS_CA             PEM file of the CA of Redis's certificate (with rediss://user:pass@host:port)
  KAFKA_SASL_MECHANISM     SCRAM-SHA-512 | SCRAM-SHA-256 | PLAIN (PLAIN only with TLS)
  KAFKA_SASL_USERNAME      SASL user
  KAFKA_SASL_PASSWORD      SASL password
  KAFKA_TLS                [false; true when KAFKA_TLS_CA is set] TLS to the brokers
  KAFKA_TLS_CA             PEM file of the CA of the brokers' certificates
  BATON_CREATE_TOPICS      [true] create missing topics and their .dlq topics (cluster mode)
  BATON_CHECK_CRCS         [true] check fetched Kafka record batches against their CRC-32C (cluster mode)
  BATON_ON_POISON          [dead-letter] the event store's onPoison: dead-letter | quarantine-key
  BATON_QUARANTINE_MAX_KEYS [10000] quarantined keys a partition may hold before it pauses
  BATON_DRAIN_TIMEOUT_MS   [15000] how long a stop may take to commit in-flight batches
  BATON_MAILBOX_CAPACITY   [16] fetched chunks queued per partition before fetching pauses
  BATON_FETCH_BUFFER_BYTES [8388608] fetched bytes the node buffers, all partitions together
  BATON_LOG_LEVEL          [info] debug | info | warn | error
  BUN_JSC_forceRAMSize     [the cgroup memory limit, else 268435456] RAM (bytes) the heap is sized for;
                           on a host without a limit the node restarts itself (same pid) with it set
  BATON_RETAIN_EVENTS      [10000] embedded log: events kept per partition after every consumer passed them
  BATON_RETAIN_MS          [0] embedded log: and kept at least this long by event time (0: no limit)

SIGTERM or SIGINT stops the node gracefully: fetching stops, in-flight batches commit, the node leaves
the group; exit 0, or 1 when the drain deadline passed. More signals during the drain are ignored (SIGKILL
is the stop that does not wait). A start-up that fails (the port taken, the pipeline module, a service,
a migration) exits 1 at once, before any partition is taken, with the reason and what to do.`

// A failed start ends the process: closing politely may not hold that up.
const closeOnFailureMs = 5_000

/**
 * Everything that can refuse a start, cheapest first and before any partition is taken: the HTTP port,
 * the pipeline module, the backend (services checked, migrations, topics), then the node joins. On a
 * failure what was opened is closed (for at most a few seconds) and the error is thrown, to end the process.
 */
async function startUp(
  config: Config,
  logger: Logger,
  testAfterCommit: (() => void) | undefined,
): Promise<RunningNode> {
  const listener = listen({ host: config.httpHost, port: config.httpPort })
  let backend: Backend | undefined
  try {
    const pipeline = await loadPipeline(
      config.pipeline,
      config.mode === 'embedded' ? 'sqlite' : 'postgres',
      config.onPoison,
    )
    const metrics = createMetrics({
      nodeId: config.nodeId,
      version: pkg.version,
      memoryLimitBytes: memoryLimitBytes(),
    })
    backend = await openBackend(config, pipeline, metrics)
    const node = await startNode({ config, backend, pipeline, metrics, logger, listener, testAfterCommit })
    logger.info(
      { url: node.url, mode: config.mode, pipeline: pipeline.name, topics: config.topics },
      'node started',
    )
    return node
  } catch (err) {
    const closing = Promise.all([listener.stop(0), backend?.close()]).catch(() => {})
    await Promise.race([closing, sleep(realClock, closeOnFailureMs)])
    throw err
  }
}

async function openBackend(config: Config, pipeline: Pipeline, metrics: Metrics): Promise<Backend> {
  if (config.mode === 'embedded') return embeddedBackend(config, pipeline)
  const { clusterBackend } = await import('../../backends/cluster.ts')
  return clusterBackend(config, pipeline, metrics)
}

export const start: Command = {
  name: 'start',
  help,
  async run(args) {
    if (wantsHelp(args)) {
      process.stdout.write(`${help}\n`)
      return 0
    }
    const config = loadConfig()
    const testAfterCommit = testCrashAfterCommit(process.env)
    if (args.includes('--print-config')) {
      process.stdout.write(`${JSON.stringify(printableConfig(config), null, 2)}\n`)
      return 0
    }
    // Before anything is opened: a host without a memory limit gets a heap sized for 256 MiB of RAM.
    restartWithHeapBudget()
    const logger = createLogger({
      level: config.logLevel,
      nodeId: config.nodeId,
      secrets: secretsOf(config),
    })
    const node = await startUp(config, logger, testAfterCommit)
    const topic = config.topics[0]
    const base = node.url.replace(/\/$/, '').replace('//0.0.0.0:', '//127.0.0.1:')
    process.stderr.write(
      `\nbaton ${config.mode} node ${config.nodeId} is up at ${node.url}\n` +
        `Try it:\n  curl -s -X POST ${base}/v1/topics/${topic}/events -H 'content-type: application/json' \\\n` +
        `    -d '[{"key":"user-1","value":{"action":"login"}}]'\n` +
        `  curl -s ${base}/v1/actors/${topic}/0\n\n`,
    )

    const stopped = new Promise<number>((resolve) => {
      let stopping = false
      // Listeners stay installed: a second signal must not end the drain. Ctrl-C under `npm start` sends
      // SIGINT twice (the terminal to the whole group, npm once more to its child); the drain has its own
      // deadline, and SIGKILL remains for a stop that must not wait.
      const onSignal = async (signal: NodeJS.Signals) => {
        if (stopping) {
          logger.info({ signal }, 'already stopping: the drain goes on until it ends or its deadline passes')
          return
        }
        stopping = true
        logger.info({ signal }, 'stopping: draining partitions')
        const deadline = realClock.schedule(config.drainTimeoutMs + 10_000, () => {
          logger.error({ deadlineMs: config.drainTimeoutMs + 10_000 }, 'stop deadline passed; exiting')
          resolve(1)
        })
        const { clean } = await node.stop()
        deadline.cancel()
        logger.info({ clean }, 'stopped')
        resolve(clean ? 0 : 1)
      }
      process.on('SIGTERM', onSignal)
      process.on('SIGINT', onSignal)
    })
    const failed = node.failed.then((failure) => {
      if (failure === undefined) return new Promise<number>(() => {})
      logger.error({ err: failure }, 'the node failed: its top-level supervisor gave up')
      return 1
    })
    const code = await Promise.race([stopped, failed])
    // Open sockets of client libraries must not keep a stopped node alive.
    process.exit(code)
  },
}
