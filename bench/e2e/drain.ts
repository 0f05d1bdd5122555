import type { NodeProcess } from '../../deploy/local/node-process.ts'
import { Progress } from '../../runtime/cli/progress.ts'
import { cpuSeconds, peakRssMb } from '../kit/process-stats.ts'
import { committedEvents, startBatonNode } from './baton-node.ts'
import type { Dataset } from './dataset.ts'
import type { BenchServices } from './services.ts'

/** One baton node draining the dataset into PostgreSQL. */
export interface DrainRun {
  readonly eventsPerSec: number
  /** From the first commit to the last. */
  readonly seconds: number
  /** From the process's start until its first commit: start-up, group join, first fetch. */
  readonly startupSeconds: number
  readonly cpuSecondsPerMillion: number
  readonly peakRssMb: number
}

/** What `watchDrain` saw of a node draining a dataset. */
export interface DrainWatch {
  /** Events committed when the watch ended: all of them, unless `stopped` says why not. */
  readonly committed: number
  /** performance.now() of the first commit seen (0 when there was none) and of the last poll. */
  readonly firstAt: number
  readonly doneAt: number
  /** CPU seconds of the node's process from the first commit seen to the end of the watch. */
  readonly cpuSeconds: number
  /** Progress polls sent to PostgreSQL after `onFirstCommit` ran: they count among its transactions. */
  readonly pollsAfterFirst: number
  /** Why the watch ended before every event was committed; undefined when all were. */
  readonly stopped?: string
}

export interface DrainWatchOptions {
  /** A node that commits nothing for this long has stalled (default 60 s). */
  readonly stallMs?: number
  /** Runs once, when the first commit is seen, with the events committed by then. */
  readonly onFirstCommit?: (committed: number) => Promise<void>
}

/** How often progress is polled: often enough to time a quick run to a few percent, cheap (8 rows). */
const POLL_MS = 50
/** A run that commits nothing for this long has failed; its output tells why. */
const STALL_MS = 60_000

/**
 * Polls the group's watermarks until every event of `dataset` is committed, the node stalls or exits;
 * never throws for those, it says so in `stopped`. Shows progress on stderr.
 */
export async function watchDrain(
  services: BenchServices,
  node: NodeProcess,
  dataset: Dataset,
  group: string,
  options: DrainWatchOptions = {},
): Promise<DrainWatch> {
  const stallMs = options.stallMs ?? STALL_MS
  const pid = node.proc.pid
  const progress = new Progress(`  baton ${group}`, dataset.events)
  let firstAt = 0
  let firstCpu = 0
  let lastChange = performance.now()
  let done = 0
  let polls = 0
  let stopped: string | undefined
  while (done < dataset.events) {
    await Bun.sleep(POLL_MS)
    const now = performance.now()
    const committed = await committedEvents(services, group, dataset.topic)
    if (firstAt !== 0) polls++
    if (committed > done) lastChange = now
    if (firstAt === 0 && committed > 0) {
      firstAt = now
      firstCpu = cpuSeconds(pid)
      await options.onFirstCommit?.(committed)
    }
    done = committed
    progress.update(done)
    if (node.proc.exitCode !== null) stopped = `the node exited with code ${node.proc.exitCode}`
    else if (now - lastChange > stallMs) stopped = `nothing was committed for ${stallMs / 1000} s`
    if (stopped) break
  }
  const doneAt = performance.now()
  const cpu = node.proc.exitCode === null && firstAt !== 0 ? cpuSeconds(pid) - firstCpu : Number.NaN
  progress.done(done)
  return { committed: done, firstAt, doneAt, cpuSeconds: cpu, pollsAfterFirst: polls, stopped }
}

/**
 * Starts a node in a new consumer group (so it reads the topic from the beginning), times it from its
 * first commit until every event is committed, and reads its CPU time and peak RSS from /proc. The
 * event store's table is emptied afterwards, ready for the next run.
 */
export async function drainRun(
  services: BenchServices,
  dataset: Dataset,
  group: string,
  pipeline: string | undefined,
  env?: Readonly<Record<string, string>>,
): Promise<DrainRun> {
  await services.settle()
  const spawned = performance.now()
  const node = await startBatonNode(services, { topic: dataset.topic, group, pipeline, env })
  try {
    const watch = await watchDrain(services, node, dataset, group)
    if (watch.stopped)
      throw new Error(
        `baton committed ${watch.committed} of ${dataset.events} events and then stopped (${watch.stopped}):\n${node.output()}`,
      )
    const rss = peakRssMb(node.proc.pid)
    if (pipeline === undefined) await expectStored(services, dataset)
    const seconds = (watch.doneAt - watch.firstAt) / 1000
    return {
      eventsPerSec: dataset.events / seconds,
      seconds,
      startupSeconds: (watch.firstAt - spawned) / 1000,
      cpuSecondsPerMillion: (watch.cpuSeconds / dataset.events) * 1e6,
      peakRssMb: rss,
    }
  } finally {
    await node.stop()
    await services.sql`truncate baton_events`
  }
}

/** Rows of `dataset.topic` in the event store's table. */
export async function storedEvents(services: BenchServices, dataset: Dataset): Promise<number> {
  const [row] = await services.sql<{ n: number }[]>`
    select count(*)::int as n from baton_events where topic = ${dataset.topic}`
  return row?.n ?? 0
}

/** The event store must hold every event exactly once: a benchmark that loses or doubles one is void. */
async function expectStored(services: BenchServices, dataset: Dataset): Promise<void> {
  const n = await storedEvents(services, dataset)
  if (n !== dataset.events)
    throw new Error(`baton_events holds ${n} rows of ${dataset.topic}, expected ${dataset.events}`)
}
