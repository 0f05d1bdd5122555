import { randomBytes } from 'node:crypto'
import { errorMessage } from '../../actors/core/errors.ts'
import type { NodeProcess } from '../../deploy/local/node-process.ts'
import { startBatonNode } from '../e2e/baton-node.ts'
import type { Dataset } from '../e2e/dataset.ts'
import { storedEvents, watchDrain } from '../e2e/drain.ts'
import type { BenchServices } from '../e2e/services.ts'
import { peakRssMb, rssMb } from '../kit/process-stats.ts'
import { watchPartitionsRunning } from './partitions-running.ts'
import type { CounterReading, ServiceCounters } from './service-counters.ts'

/** One node draining the dataset at one partition count. A figure the run could not measure is null. */
export interface ScaleRun {
  readonly partitions: number
  readonly events: number
  /** Rows of the topic in baton_events once the node stopped. */
  readonly stored: number
  /** null when every event was committed; else what happened, e.g. "did not drain: 244,000 of 1,000,000 events stored (…)". */
  readonly failure: string | null
  /** From the first commit to the last; null unless every event was committed. */
  readonly eventsPerSec: number | null
  readonly drainSeconds: number | null
  /** From the spawn of the process to its first commit. */
  readonly firstCommitSeconds: number | null
  /** The node's CPU seconds, PostgreSQL transactions and Redis commands from the first commit to the last, per million events committed meanwhile. */
  readonly cpuSecondsPerMillion: number | null
  readonly pgTransactionsPerMillion: number | null
  readonly redisCommandsPerMillion: number | null
  /** VmHWM at the end of the drain, and VmRSS once the node was idle for SETTLE_MS after it. */
  readonly peakRssMb: number | null
  readonly rssAfterDrainMb: number | null
  /** From the spawn until every partition ran; null when not all did within the start timeout. */
  readonly allRunningSeconds: number | null
  readonly maxRunning: number
  /** From SIGTERM to the exit of the process; null when it had to be killed. */
  readonly sigtermSeconds: number | null
  readonly exitCode: number | null
}

export interface ScaleRunOptions {
  readonly dataset: Dataset
  readonly group: string
  readonly startTimeoutMs: number
  readonly stallMs: number
  readonly sigtermTimeoutMs: number
  readonly counters: ServiceCounters
}

/**
 * An idle node for this long after its last commit: PostgreSQL publishes a busy backend's statistics at
 * most once a second (and an idle one's within a second), so the last reading waits for them.
 */
const SETTLE_MS = 2_000

/**
 * Starts a node in a new group on the dataset's topic, watches its partitions start and its drain, reads
 * the services' counters at its first commit and after its last, then times its SIGTERM drain. Never
 * waits unbounded: the start, the drain (no progress for `stallMs`) and the stop each have a timeout,
 * and a run that hits one reports what it got to.
 */
export async function scaleRun(services: BenchServices, options: ScaleRunOptions): Promise<ScaleRun> {
  const { dataset, group, counters } = options
  await services.settle()
  const token = randomBytes(16).toString('hex')
  const spawned = performance.now()
  const node = await startBatonNode(services, {
    topic: dataset.topic,
    group,
    pipeline: undefined,
    env: { BATON_API_TOKEN: token },
    waitReady: false,
  })
  const pid = node.proc.pid
  let stopped = false
  try {
    const starting = watchPartitionsRunning(
      node,
      token,
      dataset.topic,
      dataset.partitions,
      spawned,
      spawned + options.startTimeoutMs,
    )
    let first: { reading: CounterReading; committed: number } | undefined
    const watch = await watchDrain(services, node, dataset, group, {
      stallMs: options.stallMs,
      onFirstCommit: async (committed) => {
        first = { reading: await counters.read(), committed }
      },
    })
    const alive = node.proc.exitCode === null
    const peak = alive ? peakRssMb(pid) : null
    if (alive) await Bun.sleep(SETTLE_MS)
    const after = alive ? rssMb(pid) : null
    const last = await counters.read()
    const running = await starting
    const sigterm = await stopTimed(node, options.sigtermTimeoutMs)
    stopped = true
    const stored = await storedEvents(services, dataset)
    const drained = watch.stopped === undefined
    const seconds = (watch.doneAt - watch.firstAt) / 1000
    // Per million events committed between the two readings; each reading and each progress poll after
    // the first is one of the benchmark's own transactions, and a reading one Redis command.
    const perMillion = (n: number) =>
      first && watch.committed > first.committed ? (n / (watch.committed - first.committed)) * 1e6 : null
    const own = 1 + watch.pollsAfterFirst
    const failure = drained
      ? stored === dataset.events
        ? null
        : `stored ${stored.toLocaleString('en')} rows for ${dataset.events.toLocaleString('en')} events`
      : `did not drain: ${stored.toLocaleString('en')} of ${dataset.events.toLocaleString('en')} events stored (${watch.stopped}; ${running.maxRunning} of ${dataset.partitions} partitions ran)`
    return {
      partitions: dataset.partitions,
      events: dataset.events,
      stored,
      failure,
      eventsPerSec: drained ? dataset.events / seconds : null,
      drainSeconds: drained ? seconds : null,
      firstCommitSeconds: watch.firstAt === 0 ? null : (watch.firstAt - spawned) / 1000,
      cpuSecondsPerMillion: Number.isNaN(watch.cpuSeconds) ? null : perMillion(watch.cpuSeconds),
      pgTransactionsPerMillion: first
        ? perMillion(last.pgTransactions - first.reading.pgTransactions - own)
        : null,
      redisCommandsPerMillion: first
        ? perMillion(last.redisCommands - first.reading.redisCommands - 1)
        : null,
      peakRssMb: peak,
      rssAfterDrainMb: after,
      allRunningSeconds: running.allRunningSeconds,
      maxRunning: running.maxRunning,
      ...sigterm,
    }
  } finally {
    if (!stopped) await node.kill()
    await services.sql`truncate baton_events`
  }
}

/** A run that did not get to measure anything (its topic could not be filled, its node not started): why. */
export function failedRun(partitions: number, events: number, error: unknown): ScaleRun {
  return {
    partitions,
    events,
    stored: 0,
    failure: `failed: ${errorMessage(error)}`,
    eventsPerSec: null,
    drainSeconds: null,
    firstCommitSeconds: null,
    cpuSecondsPerMillion: null,
    pgTransactionsPerMillion: null,
    redisCommandsPerMillion: null,
    peakRssMb: null,
    rssAfterDrainMb: null,
    allRunningSeconds: null,
    maxRunning: 0,
    sigtermSeconds: null,
    exitCode: null,
  }
}

/** SIGTERM, then SIGKILL after `timeoutMs`: seconds to the exit, or null when it was killed. */
async function stopTimed(
  node: NodeProcess,
  timeoutMs: number,
): Promise<{ sigtermSeconds: number | null; exitCode: number | null }> {
  const at = performance.now()
  const exitCode = await node.stop(timeoutMs)
  const seconds = (performance.now() - at) / 1000
  return { sigtermSeconds: node.proc.signalCode === 'SIGKILL' ? null : seconds, exitCode }
}
