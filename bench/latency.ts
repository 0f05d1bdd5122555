import { writeFile } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { forgetGroups } from './e2e/cleanup.ts'
import { type Dataset, datasetEvents } from './e2e/dataset.ts'
import { type LatencyRun, latencyRun, measuredBy } from './e2e/latency.ts'
import { curveChart, timelineChart } from './e2e/latency-charts.ts'
import { benchServices, sharedWith } from './e2e/services.ts'
import { type Second, secondsRows, worstSeconds } from './e2e/timeline.ts'
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
import { renderSvg } from './kit/chart.ts'
import { applyPgSettings, type PgSettings, productionPg, readPgSettings } from './kit/pg-settings.ts'
import { significant } from './kit/stats.ts'

const help = `Usage: baton bench latency [options]

The latency curve of Kafka -> baton -> PostgreSQL on this machine, the producer running beside it:

  max rate   a fresh node, the producer sending as fast as it can: the events/s the node stores
  10%, 50%, 80% of that rate, each on a fresh node and topic: end-to-end latency p50/p99/p999/max, and
             every second of it (events, p50, p99, max, batch commit p99, checkpoint p99, mailbox depth,
             heap, PostgreSQL checkpoints and WAL, the host's dirty page cache and disk writes)

Latency is the node's baton_end_to_end_latency_seconds, scraped from its /metrics every second: per
committed batch, from its oldest event's time to the return of its COMMIT. Each rate runs long enough to
hold two PostgreSQL checkpoints: the run sets the local server's checkpoint_timeout to 30 s (ALTER SYSTEM,
reset at the end), so that what a production server does every 15 minutes happens here every 30 s, and
counts the checkpoints that started in each phase (pg_stat_bgwriter). With --pg production it also sets
what deploy/k8s/dependencies/postgres.yaml sets (max_wal_size 16GB, checkpoint_completion_target 0.9,
backend_flush_after 2MB); without, PostgreSQL's defaults (max_wal_size 1GB: WAL-triggered checkpoints come
sooner; backend_flush_after 0: the kernel writes the table's pages out in bursts). The settings
it ran with are in the result.

Targets (README, Tail latency): at 50%: p99 <= 150 ms, p999 <= 300 ms, no second with p99 > 300 ms;
at 80%: p99 <= 300 ms. Progress goes to stderr, the table to stdout, the figures to
bench/results/latency.json, the charts to bench/results/latency-curve.svg and latency-timeline.svg.

Options:
  --max-rate <n>             take this as the max rate (events/s) instead of measuring it: no max-rate
                             phase (a small figure makes a light run)
  --pg <default|production>  PostgreSQL settings besides checkpoint_timeout (default: production)
  --max-seconds <n>          cap on each rate's measured seconds (default 65: two 30 s checkpoints)
  --out <path>               where to write the JSON (default bench/results/latency.json)
  --quick                    a 10 s max-rate phase and 35 s per rate (one checkpoint each): about 3 minutes`

/** Short enough that each rate holds two checkpoints in about a minute; 30 s is PostgreSQL's minimum. */
const BENCH_CHECKPOINT_TIMEOUT = '30s'
const CHECKPOINT_SECONDS = 30
const WARMUP_SECONDS = 5
/** A rate the producer cannot reach: it then sends as fast as it can. */
const UNTHROTTLED = 10_000_000
const SHARES = [0.1, 0.5, 0.8] as const

interface RatePhase {
  readonly share: number
  readonly run: LatencyRun
  readonly worstSeconds: readonly Second[]
}

interface Target {
  readonly target: string
  readonly value: number
  readonly met: boolean
}

export const latencyBenchmark: Benchmark = {
  name: 'latency',
  summary:
    'latency curve: p50/p99/p999/max at 10%, 50%, 80% of the max rate, per second, with PG checkpoints',
  help,
  async run(args) {
    const quick = args.includes('--quick')
    const pgMode = option(args, '--pg') ?? 'production'
    if (pgMode !== 'production' && pgMode !== 'default')
      throw new Error(`--pg must be 'production' or 'default', got '${pgMode}'`)
    const perRate = Math.min(countOption(args, '--max-seconds', 65), quick ? 35 : 2 * CHECKPOINT_SECONDS + 5)
    const out = option(args, '--out') ?? defaultResultPath('latency')
    const load = loadavg()[0] ?? 0
    const at = new Date().toISOString()
    const stamp = `bench-latency-${Date.now().toString(36)}`
    progress('services:')
    const services = await benchServices(progress)
    const groups: { group: string; topic: string }[] = []
    const wanted = {
      checkpoint_timeout: BENCH_CHECKPOINT_TIMEOUT,
      ...(pgMode === 'production' ? productionPg : {}),
    }
    const reset = await applyPgSettings(services.sql, wanted)
    try {
      const pg = await readPgSettings(services.sql)
      progress(
        `PostgreSQL: ${Object.entries(pg)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}`,
      )
      const phase = async (name: string, ratePerSec: number, seconds: number) => {
        const topic = `${stamp}-${name}`
        const group = `${topic}-g`
        groups.push({ group, topic })
        const dataset: Dataset = { topic, partitions: 8, events: 0, synthetic: datasetEvents }
        return latencyRun(services, {
          dataset,
          group,
          pipeline: undefined,
          ratePerSec,
          seconds,
          warmupSeconds: WARMUP_SECONDS,
        })
      }
      const given = option(args, '--max-rate')
      const saturated = given === undefined ? await phase('max', UNTHROTTLED, quick ? 10 : 20) : null
      const maxRate = saturated?.storedPerSec ?? countOption(args, '--max-rate', 1)
      progress(
        `max rate: ${humanNumber(maxRate)} ev/s${saturated ? ' stored with the producer unthrottled' : ' (--max-rate)'}`,
      )
      const rates: RatePhase[] = []
      for (const share of SHARES) {
        const rate = maxRate * share
        progress(`${share * 100}%: ${humanNumber(rate)} ev/s for ${perRate} s`)
        const run = await phase(`r${share * 100}`, rate, perRate)
        progress(
          `  p50 ${run.p50Ms.toFixed(0)} ms, p99 ${run.p99Ms.toFixed(0)} ms, p999 ${run.p999Ms.toFixed(0)} ms, ${run.pgCheckpoints} checkpoints`,
        )
        rates.push({ share, run, worstSeconds: worstSeconds(run.timeline, 5) })
      }
      const result = buildResult({
        at,
        quick,
        pg,
        pgMode,
        perRate,
        maxRate,
        saturated,
        rates,
        load,
        reused: services.reused,
      })
      await writeCharts(out, rates)
      return report(out, result, latencyTable(result))
    } finally {
      await reset().catch(() => {})
      await forgetGroups(services.brokers, services.redisUrl, groups, 8).catch(() => {})
      await services.close()
    }
  },
}

if (import.meta.main) process.exitCode = await latencyBenchmark.run(process.argv.slice(2))

const label = (share: number) => `${share * 100}%`

async function writeCharts(out: string, rates: readonly RatePhase[]): Promise<void> {
  const base = out.replace(/\.json$/, '')
  const curve = curveChart(
    'baton end-to-end latency against throughput (Kafka -> PostgreSQL, one node)',
    rates.map((r) => ({ label: label(r.share), ...r.run })),
  )
  const timeline = timelineChart(
    'per-second p50 and p99 at each rate; rules: PostgreSQL checkpoints starting, the 150 ms target',
    rates.map((r) => ({ label: label(r.share), seconds: r.run.timeline })),
  )
  await writeFile(`${base}-curve.svg`, await renderSvg(curve))
  await writeFile(`${base}-timeline.svg`, await renderSvg(timeline))
  progress(`wrote ${base}-curve.svg and ${base}-timeline.svg`)
}

function buildResult(m: {
  at: string
  quick: boolean
  pg: PgSettings
  pgMode: string
  perRate: number
  maxRate: number
  /** The max-rate phase; null when --max-rate gave the rate. */
  saturated: LatencyRun | null
  rates: readonly RatePhase[]
  load: number
  reused: readonly string[]
}) {
  const at = (share: number) => m.rates.find((r) => r.share === share)?.run
  const half = at(0.5)
  const high = at(0.8)
  const worstP99 = (r: LatencyRun | undefined) =>
    Math.max(...(r?.timeline ?? []).map((s) => (Number.isFinite(s.p99Ms) ? s.p99Ms : 0)))
  const target = (text: string, value: number, ok: (v: number) => boolean): Target => ({
    target: text,
    value: significant(value),
    met: ok(value),
  })
  return {
    benchmark: 'latency' as const,
    at: m.at,
    quick: m.quick,
    maxRatePerSec: Math.round(m.maxRate),
    maxRateMeasured: m.saturated !== null,
    eventsPerSec: Math.round(half?.storedPerSec ?? Number.NaN),
    p50Ms: significant(half?.p50Ms ?? Number.NaN),
    p99Ms: significant(half?.p99Ms ?? Number.NaN),
    peakRssMb: Math.max(m.saturated?.peakRssMb ?? 0, ...m.rates.map((r) => r.run.peakRssMb)),
    targets: {
      p99At50: target('p99 <= 150 ms at 50%', half?.p99Ms ?? Number.NaN, (v) => v <= 150),
      p999At50: target('p999 <= 300 ms at 50%', half?.p999Ms ?? Number.NaN, (v) => v <= 300),
      worstSecondAt50: target('no second with p99 > 300 ms at 50%', worstP99(half), (v) => v <= 300),
      p99At80: target('p99 <= 300 ms at 80%', high?.p99Ms ?? Number.NaN, (v) => v <= 300),
    },
    rates: m.rates.map((r) => ({ share: r.share, ...roundRun(r.run), worstSeconds: r.worstSeconds })),
    saturated: m.saturated && roundRun(withoutTimeline(m.saturated)),
    postgres: { mode: m.pgMode, settings: m.pg },
    secondsPerRate: m.perRate,
    measuredBy,
    sharedWith: sharedWith(m.reused, m.load),
    machine: machineInfo(),
  }
}

function withoutTimeline({ timeline: _, ...run }: LatencyRun): Omit<LatencyRun, 'timeline'> {
  return run
}

function roundRun<T extends Omit<LatencyRun, 'timeline'>>(r: T): T {
  return {
    ...r,
    targetRatePerSec: Math.round(r.targetRatePerSec),
    ratePerSec: Math.round(r.ratePerSec),
    storedPerSec: Math.round(r.storedPerSec),
    seconds: significant(r.seconds),
    p50Ms: significant(r.p50Ms),
    p99Ms: significant(r.p99Ms),
    p999Ms: significant(r.p999Ms),
    walMb: significant(r.walMb),
  }
}

type LatencyResult = ReturnType<typeof buildResult>

function latencyTable(r: LatencyResult): string {
  const ms = (n: number) => (Number.isFinite(n) ? `${significant(n)}` : '-')
  const worst = r.rates.flatMap((rate) => secondsRows(`  ${label(rate.share)}`, rate.worstSeconds))
  return [
    formatTable([
      ['RATE', 'EV/S STORED', 'P50 / P99 / P999 / MAX MS', 'PG CHECKPOINTS'],
      r.saturated
        ? ['max (producer unthrottled)', humanNumber(r.maxRatePerSec), '', String(r.saturated.pgCheckpoints)]
        : ['max (--max-rate)', humanNumber(r.maxRatePerSec), '', ''],
      ...r.rates.map((rate) => [
        label(rate.share),
        humanNumber(rate.storedPerSec),
        `${ms(rate.p50Ms)} / ${ms(rate.p99Ms)} / ${ms(rate.p999Ms)} / ${ms(rate.maxMs)}`,
        String(rate.pgCheckpoints),
      ]),
    ]),
    '',
    formatTable([
      ['TARGET', 'VALUE', ''],
      ...Object.values(r.targets).map((t) => [t.target, `${ms(t.value)} ms`, t.met ? 'met' : 'MISSED']),
    ]),
    '',
    'Worst seconds (by p99):',
    formatTable(worst),
    '',
    `PostgreSQL (${r.postgres.mode}): ${Object.entries(r.postgres.settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}`,
    `machine: ${r.machine.cores} cores, ${r.machine.cpuModel}, ${r.machine.runtime}; ${r.sharedWith}`,
  ].join('\n')
}
