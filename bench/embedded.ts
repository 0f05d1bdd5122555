import { Database } from 'bun:sqlite'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type NodeProcess, startNodeProcess } from '../deploy/local/node-process.ts'
import { Progress } from '../runtime/cli/progress.ts'
import { type SyntheticOptions, syntheticEvent } from '../runtime/cli/synthetic-events.ts'
import {
  type Benchmark,
  countOption,
  defaultResultPath,
  formatTable,
  humanNumber,
  machineInfo,
  option,
  progress,
  report,
} from './kit/benchmark.ts'
import { cpuSeconds, peakRssMb } from './kit/process-stats.ts'
import { median, quantile, significant } from './kit/stats.ts'

const help = `Usage: baton bench embedded [options]

Measures an embedded node (bun:sqlite log and sink, no services), run as its own process on a fresh data
folder, with the built-in event store:

  ingest + processing   events/s from the first POST /v1/topics/events/events (NDJSON, 1,000 events of
                        100-byte JSON values per request, --concurrency requests in flight) until every
                        event is committed to baton_events
  ack -> commit         p50/p99/p999 of stored_at - event_time per event: the node stamps event time
                        when it appends (just before it acknowledges), stored_at when it commits
  peak RSS              VmHWM of the node's process; CPU seconds of the process per million events

The request bodies are built before the clock starts. Each figure is the median of --runs runs, each on a
fresh data folder. Progress goes to stderr, the table to stdout, the figures to
bench/results/embedded.json.

Options:
  --events <n>        events per run (default 500000)
  --concurrency <n>   requests in flight (default 4)
  --runs <n>          runs, the median is reported (default 3)
  --out <path>        where to write the JSON (default bench/results/embedded.json)
  --quick             50,000 events, 1 run`

const EVENTS_PER_REQUEST = 1000
const events: SyntheticOptions = { keys: 1000, valueBytes: 100, poison: 0 }
const TOPIC = 'events'

export interface EmbeddedRun {
  eventsPerSec: number
  seconds: number
  p50Ms: number
  p99Ms: number
  p999Ms: number
  cpuSecondsPerMillion: number
  peakRssMb: number
}

export interface EmbeddedResult {
  benchmark: 'embedded'
  at: string
  eventsPerSec: number
  p50Ms: number
  p99Ms: number
  p999Ms: number
  cpuSecondsPerMillion: number
  peakRssMb: number
  runs: EmbeddedRun[]
  config: { events: number; eventsPerRequest: number; valueBytes: number; concurrency: number; runs: number }
  machine: ReturnType<typeof machineInfo>
}

/** NDJSON bodies of `EVENTS_PER_REQUEST` events each; values are sent as JSON, as a client would. */
function requestBodies(count: number): string[] {
  const bodies: string[] = []
  for (let from = 0; from < count; from += EVENTS_PER_REQUEST) {
    const lines: string[] = []
    for (let seq = from; seq < Math.min(count, from + EVENTS_PER_REQUEST); seq++) {
      const e = syntheticEvent(seq, events)
      lines.push(`{"key":${JSON.stringify(e.key)},"value":${e.value}}`)
    }
    bodies.push(lines.join('\n'))
  }
  return bodies
}

/** Events committed so far: the sum of the watermarks in sink.db, read beside the node (WAL allows it). */
function committed(sink: Database): number {
  const row = sink.query('select coalesce(sum(next_offset), 0) as n from baton_watermarks').get() as {
    n: number
  }
  return row.n
}

async function post(node: NodeProcess, body: string): Promise<void> {
  const res = await fetch(`${node.url}/v1/topics/${TOPIC}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body,
  })
  if (!res.ok) throw new Error(`the node answered ${res.status}: ${await res.text()}`)
  await res.arrayBuffer()
}

async function embeddedRun(count: number, concurrency: number, label: string): Promise<EmbeddedRun> {
  const bodies = requestBodies(count)
  const dataDir = await mkdtemp(join(tmpdir(), 'baton-bench-embedded-'))
  const node = await startNodeProcess({
    // Empty counts as unset: embedded mode even when the shell exports the services' URLs.
    KAFKA_BROKERS: '',
    DATABASE_URL: '',
    REDIS_URL: '',
    BATON_DATA_DIR: dataDir,
    BATON_TOPICS: TOPIC,
    BATON_LOG_LEVEL: 'warn',
    // The benchmark measures what the node can take, not the per-client ingest limit.
    BATON_INGEST_RATE: '0',
  })
  const sink = new Database(join(dataDir, 'sink.db'), { readonly: true })
  const bar = new Progress(`  ${label}`, count)
  try {
    const pid = node.proc.pid
    const cpuBefore = cpuSeconds(pid)
    const started = performance.now()
    let next = 0
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < bodies.length) await post(node, bodies[next++] as string)
      }),
    )
    for (let done = committed(sink); done < count; done = committed(sink)) {
      if (node.proc.exitCode !== null) throw new Error(`the node exited:\n${node.output()}`)
      bar.update(done)
      await Bun.sleep(10)
    }
    const seconds = (performance.now() - started) / 1000
    const cpu = cpuSeconds(pid) - cpuBefore
    const rss = peakRssMb(pid)
    bar.done(count)
    const rows = sink.query('select stored_at - event_time as ms from baton_events').values() as number[][]
    if (rows.length !== count) throw new Error(`baton_events holds ${rows.length} rows, expected ${count}`)
    const ms = Float64Array.from(rows, (r) => r[0] as number).sort()
    return {
      eventsPerSec: count / seconds,
      seconds,
      p50Ms: quantile(ms, 0.5),
      p99Ms: quantile(ms, 0.99),
      p999Ms: quantile(ms, 0.999),
      cpuSecondsPerMillion: (cpu / count) * 1e6,
      peakRssMb: rss,
    }
  } finally {
    sink.close()
    await node.stop()
    await rm(dataDir, { recursive: true, force: true })
  }
}

/** The result table `baton bench embedded` prints. */
export function embeddedTable(r: EmbeddedResult): string {
  return formatTable([
    ['MEASURE', 'RESULT'],
    ['ingest + processing', `${humanNumber(r.eventsPerSec)} ev/s`],
    ['ack -> commit p50 / p99 / p999', `${r.p50Ms} / ${r.p99Ms} / ${r.p999Ms} ms`],
    ['CPU per million events', `${r.cpuSecondsPerMillion} s`],
    ['peak RSS of the node', `${r.peakRssMb} MB`],
    [
      'runs',
      `${r.config.runs} x ${humanNumber(r.config.events)} events, ${r.config.concurrency} requests in flight, median`,
    ],
    ['machine', `${r.machine.cores} cores, ${r.machine.cpuModel}, ${r.machine.runtime}`],
  ])
}

export const embeddedBenchmark: Benchmark = {
  name: 'embedded',
  summary: 'embedded node: HTTP ingest + processing into bun:sqlite, ack-to-commit latency, RSS',
  help,
  async run(args) {
    const quick = args.includes('--quick')
    const config = {
      events: countOption(args, '--events', quick ? 50_000 : 500_000),
      eventsPerRequest: EVENTS_PER_REQUEST,
      valueBytes: events.valueBytes,
      concurrency: countOption(args, '--concurrency', 4),
      runs: countOption(args, '--runs', quick ? 1 : 3),
    }
    const out = option(args, '--out') ?? defaultResultPath('embedded')
    const at = new Date().toISOString()
    const runs: EmbeddedRun[] = []
    for (let i = 1; i <= config.runs; i++) {
      const run = await embeddedRun(config.events, config.concurrency, `run ${i}/${config.runs}`)
      runs.push(run)
      progress(`  ${humanNumber(run.eventsPerSec)} ev/s, p99 ${run.p99Ms.toFixed(1)} ms, ${run.peakRssMb} MB`)
    }
    const mid = (pick: (r: EmbeddedRun) => number) => significant(median(runs.map(pick)))
    const result: EmbeddedResult = {
      benchmark: 'embedded',
      at,
      eventsPerSec: Math.round(median(runs.map((r) => r.eventsPerSec))),
      p50Ms: mid((r) => r.p50Ms),
      p99Ms: mid((r) => r.p99Ms),
      p999Ms: mid((r) => r.p999Ms),
      cpuSecondsPerMillion: mid((r) => r.cpuSecondsPerMillion),
      peakRssMb: Math.max(...runs.map((r) => r.peakRssMb)),
      runs: runs.map((r) => ({
        eventsPerSec: Math.round(r.eventsPerSec),
        seconds: significant(r.seconds),
        p50Ms: significant(r.p50Ms),
        p99Ms: significant(r.p99Ms),
        p999Ms: significant(r.p999Ms),
        cpuSecondsPerMillion: significant(r.cpuSecondsPerMillion),
        peakRssMb: r.peakRssMb,
      })),
      config,
      machine: machineInfo(),
    }
    return report(out, result, embeddedTable(result))
  },
}

if (import.meta.main) process.exitCode = await embeddedBenchmark.run(process.argv.slice(2))
