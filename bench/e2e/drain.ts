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

/** How often progress is polled: often enough to time a quick run to a few percent, cheap (8 rows). */
const POLL_MS = 50
/** A run that commits nothing for this long has failed; its output tells why. */
const STALL_MS = 60_000

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
  const pid = node.proc.pid
  const progress = new Progress(`  baton ${group}`, dataset.events)
  try {
    let firstAt = 0
    let firstCpu = 0
    let lastChange = performance.now()
    let done = 0
    while (done < dataset.events) {
      await Bun.sleep(POLL_MS)
      const now = performance.now()
      const committed = await committedEvents(services, group, dataset.topic)
      if (committed > done) lastChange = now
      if (firstAt === 0 && committed > 0) {
        firstAt = now
        firstCpu = cpuSeconds(pid)
      }
      done = committed
      progress.update(done)
      if (now - lastChange > STALL_MS || node.proc.exitCode !== null) {
        throw new Error(
          `baton committed ${done} of ${dataset.events} events and then stopped:\n${node.output()}`,
        )
      }
    }
    const doneAt = performance.now()
    const cpu = cpuSeconds(pid) - firstCpu
    const rss = peakRssMb(pid)
    progress.done(done)
    if (pipeline === undefined) await expectStored(services, dataset)
    const seconds = (doneAt - firstAt) / 1000
    return {
      eventsPerSec: dataset.events / seconds,
      seconds,
      startupSeconds: (firstAt - spawned) / 1000,
      cpuSecondsPerMillion: (cpu / dataset.events) * 1e6,
      peakRssMb: rss,
    }
  } finally {
    await node.stop()
    await services.sql`truncate baton_events`
  }
}

/** The event store must hold every event exactly once: a benchmark that loses or doubles one is void. */
async function expectStored(services: BenchServices, dataset: Dataset): Promise<void> {
  const [row] = await services.sql<{ n: number }[]>`
    select count(*)::int as n from baton_events where topic = ${dataset.topic}`
  if (row?.n !== dataset.events)
    throw new Error(`baton_events holds ${row?.n} rows of ${dataset.topic}, expected ${dataset.events}`)
}
