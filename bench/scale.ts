import { loadavg } from 'node:os'
import { BatonError } from '../actors/core/errors.ts'
import { forgetGroups } from './e2e/cleanup.ts'
import { type Dataset, datasetEvents, deleteDataset, produceDataset } from './e2e/dataset.ts'
import { benchServices, sharedWith } from './e2e/services.ts'
import {
  type Benchmark,
  countOption,
  defaultResultPath,
  humanNumber,
  machineInfo,
  option,
  progress,
  report,
} from './kit/benchmark.ts'
import { buildScaleResult, type ScaleConfig, scaleTable } from './scale/report.ts'
import { failedRun, type ScaleRun, scaleRun } from './scale/scale-run.ts'
import { openServiceCounters } from './scale/service-counters.ts'

const help = `Usage: baton bench scale [options]

One baton node (a process, cluster mode, the built-in event store) draining the same number of events
spread over more and more partitions, on the services of 'baton services'. For each partition count, a
new topic with that many partitions gets --events keyed 100-byte JSON events, an equal share in each
partition; then in each of --runs rounds a node in a new consumer group drains it, and the run measures:

  events/s          from the node's first commit to its last
  CPU / M events    CPU seconds of the node's process (/proc/<pid>/stat), first commit to last
  peak RSS          VmHWM at the end of the drain; RSS after: VmRSS once the node idled for 2 s
  PG tx / M events  pg_stat_database.xact_commit of the run's database, first commit to last (less the
                    benchmark's own queries)
  Redis / M events  INFO total_commands_processed, the same window
  all running       from the spawn until GET /v1/actors shows every partition actor running
  SIGTERM           from SIGTERM to the exit of the process

Figures are per million events committed in the window, medians of the rounds with their spread. Each
phase is bounded: a start whose partitions do not all run within --start-timeout, a drain that commits
nothing for --stall-seconds, a stop that takes longer than --sigterm-timeout are reported as such (e.g.
"did not drain: N of M events stored") and the bench goes on. It judges issue 16's targets: at the
largest count events/s >= 0.8x and CPU per million events <= 1.25x and PostgreSQL transactions per
million events <= 2x those at the smallest; peak RSS <= 300 MB at every count; every partition running
within 15 s of start; SIGTERM to exit within 10 s. Before each round, PostgreSQL is checkpointed and the
bench waits (up to 90 s) until the machine's CPUs are at most 15% busy in a second: a broker that has
just created 4,096 partitions and as many dead-letter ones spends half a minute of CPU on their logs.
Works in a database, topics and groups of its own and removes them. Progress goes to stderr, the table to stdout, the figures to bench/results/scale.json.

Options:
  --partitions <list>      partition counts, comma-separated (default 8,64,512,4096)
  --events <n>             events per partition count (default 1000000)
  --runs <n>               rounds per partition count, the median is reported (default 3)
  --start-timeout <s>      how long to wait for every partition to run (default 60)
  --stall-seconds <s>      a drain that commits nothing for this long has stopped (default 30)
  --sigterm-timeout <s>    SIGKILL after this long (default 30)
  --out <path>             where to write the JSON (default bench/results/scale.json)
  --quick                  100,000 events, 1 round`

/**
 * How long a new topic's partitions may take to get a leader: one broker under load took more than 15 s
 * for the 8,192 of a 4,096-partition topic and its dead-letter topic.
 */
const TOPIC_READY_MS = 120_000

/** The partition counts of --partitions: whole numbers >= 1, each at most once. */
function partitionsOption(args: readonly string[]): number[] {
  const raw = option(args, '--partitions') ?? '8,64,512,4096'
  const counts = raw.split(',').map((s) => Number(s.trim().replaceAll('_', '')))
  if (counts.some((n) => !Number.isInteger(n) || n < 1) || new Set(counts).size !== counts.length)
    throw new BatonError(
      'CONFIG_INVALID',
      `--partitions must list distinct whole numbers >= 1, comma-separated, got '${raw}'`,
    )
  return counts
}

/**
 * The topic of one partition count: event `seq` goes to partition seq * partitions / events, so each
 * partition holds an equal, contiguous share (the dataset's 1,000 keys could fill at most 1,000
 * partitions) and a produce request carries a few long batches rather than thousands of one-event ones.
 */
function scaleDataset(topic: string, partitions: number, events: number): Dataset {
  return {
    topic,
    partitions,
    events,
    synthetic: datasetEvents,
    partitionOf: (seq) => Math.floor((seq * partitions) / events),
  }
}

export const scaleBenchmark: Benchmark = {
  name: 'scale',
  summary: 'one node over 8 to 4,096 partitions: events/s, CPU, RSS, PG and Redis work, start and stop',
  help,
  async run(args) {
    const quick = args.includes('--quick')
    const config: ScaleConfig = {
      partitions: partitionsOption(args),
      events: countOption(args, '--events', quick ? 100_000 : 1_000_000),
      valueBytes: datasetEvents.valueBytes,
      runs: countOption(args, '--runs', quick ? 1 : 3),
      quick,
      startTimeoutSeconds: countOption(args, '--start-timeout', 60),
      stallSeconds: countOption(args, '--stall-seconds', 30),
      sigtermTimeoutSeconds: countOption(args, '--sigterm-timeout', 30),
    }
    const tooFew = config.partitions.find((p) => p > config.events)
    if (tooFew !== undefined)
      throw new BatonError('CONFIG_INVALID', `--events (${config.events}) must fill all ${tooFew} partitions`)
    const out = option(args, '--out') ?? defaultResultPath('scale')
    const load = loadavg()[0] ?? 0
    const at = new Date().toISOString()
    const stamp = `bench-scale-${Date.now().toString(36)}`
    progress('services:')
    const services = await benchServices(progress)
    const counters = await openServiceCounters(services)
    const runs: ScaleRun[] = []
    try {
      for (const partitions of config.partitions) {
        const dataset = scaleDataset(`${stamp}-${partitions}`, partitions, config.events)
        const groups = Array.from({ length: config.runs }, (_, i) => ({
          group: `${dataset.topic}-${i + 1}`,
          topic: dataset.topic,
        }))
        progress(`${partitions} partitions: ${humanNumber(config.events)} events`)
        try {
          const produced = await produceDataset(services.brokers, dataset, TOPIC_READY_MS).then(
            () => undefined,
            (error: unknown) => error,
          )
          for (const { group } of groups) {
            // A count that fails outright is reported as such, and the others still run.
            const run =
              produced === undefined
                ? await scaleRun(services, {
                    dataset,
                    group,
                    counters,
                    startTimeoutMs: config.startTimeoutSeconds * 1000,
                    stallMs: config.stallSeconds * 1000,
                    sigtermTimeoutMs: config.sigtermTimeoutSeconds * 1000,
                  }).catch((error: unknown) => failedRun(partitions, config.events, error))
                : failedRun(partitions, config.events, produced)
            runs.push(run)
            progress(`  ${summary(run)}`)
          }
        } finally {
          await deleteDataset(services.brokers, dataset).catch(() => {})
          await forgetGroups(services.brokers, services.redisUrl, groups, partitions).catch(() => {})
        }
      }
      const result = buildScaleResult({
        at,
        config,
        runs,
        machine: machineInfo(),
        sharedWith: sharedWith(services.reused, load),
      })
      return report(out, result, scaleTable(result))
    } finally {
      await counters.close()
      await services.close()
    }
  },
}

if (import.meta.main) process.exitCode = await scaleBenchmark.run(process.argv.slice(2))

function summary(r: ScaleRun): string {
  const s = (n: number | null, unit = ' s') => (n === null ? 'n/a' : `${n.toFixed(1)}${unit}`)
  const rate = r.eventsPerSec === null ? (r.failure ?? 'n/a') : `${humanNumber(r.eventsPerSec)} ev/s`
  return `${rate}, all running ${s(r.allRunningSeconds)} (${r.maxRunning}/${r.partitions}), peak ${r.peakRssMb ?? 'n/a'} MB, SIGTERM ${s(r.sigtermSeconds)}`
}
