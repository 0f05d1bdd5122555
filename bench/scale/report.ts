import { formatTable, humanNumber, type MachineInfo } from '../kit/benchmark.ts'
import { median, significant } from '../kit/stats.ts'
import type { ScaleRun } from './scale-run.ts'

export interface ScaleConfig {
  /** Partition counts, in the order they ran; the targets compare the largest with the smallest. */
  readonly partitions: readonly number[]
  /** Events per partition count, spread evenly over its partitions. */
  readonly events: number
  readonly valueBytes: number
  readonly runs: number
  readonly quick: boolean
  readonly startTimeoutSeconds: number
  readonly stallSeconds: number
  readonly sigtermTimeoutSeconds: number
}

/** Everything one `baton bench scale` measured. */
export interface ScaleMeasurements {
  readonly at: string
  readonly config: ScaleConfig
  readonly runs: readonly ScaleRun[]
  readonly machine: MachineInfo
  readonly sharedWith: string
}

/** The median of the runs that measured a figure, with the lowest and highest; null when none did. */
export interface Spread {
  readonly median: number | null
  readonly min: number | null
  readonly max: number | null
}

/** One partition count: each figure over its runs. */
export interface ScaleCount {
  readonly partitions: number
  readonly runs: number
  /** Runs that committed and stored every event. */
  readonly drained: number
  readonly eventsPerSec: Spread
  readonly cpuSecondsPerMillion: Spread
  readonly peakRssMb: Spread
  readonly rssAfterDrainMb: Spread
  readonly pgTransactionsPerMillion: Spread
  readonly redisCommandsPerMillion: Spread
  readonly allRunningSeconds: Spread
  readonly sigtermSeconds: Spread
  /** What went wrong in the runs that did not drain or did not start every partition. */
  readonly failures: readonly string[]
}

interface Target {
  readonly target: string
  /** null when the runs could not measure it (a drain that did not finish, a start that timed out). */
  readonly value: number | null
  readonly met: boolean
  /** Why it was not judged (a ratio of the largest count to the smallest, with one count run). */
  readonly notJudged?: string
}

/** bench/results/scale.json: per partition count the medians and spread of the runs, issue 16's targets, the runs. */
export interface ScaleResult {
  readonly benchmark: 'scale'
  readonly at: string
  readonly quick: boolean
  readonly counts: readonly ScaleCount[]
  readonly targets: {
    readonly eventsPerSec: Target
    readonly cpuSecondsPerMillion: Target
    readonly pgTransactionsPerMillion: Target
    readonly peakRssMb: Target
    readonly allRunningSeconds: Target
    readonly sigtermSeconds: Target
  }
  readonly runs: readonly ScaleRun[]
  readonly config: ScaleConfig
  readonly sharedWith: string
  readonly machine: MachineInfo
}

/** Figures a run reports that are spread over the runs of its partition count. */
type Figure = {
  [K in keyof ScaleRun]: ScaleRun[K] extends number | null
    ? K extends 'partitions' | 'events' | 'stored'
      ? never
      : K
    : never
}[keyof ScaleRun]

/** The figures each partition count reports as a Spread. */
export const scaleFigures = [
  'eventsPerSec',
  'cpuSecondsPerMillion',
  'peakRssMb',
  'rssAfterDrainMb',
  'pgTransactionsPerMillion',
  'redisCommandsPerMillion',
  'allRunningSeconds',
  'sigtermSeconds',
] as const satisfies readonly Figure[]

function spread(values: readonly (number | null)[]): Spread {
  const measured = values.filter((v): v is number => v !== null && Number.isFinite(v))
  if (measured.length === 0) return { median: null, min: null, max: null }
  return {
    median: significant(median(measured)),
    min: significant(Math.min(...measured)),
    max: significant(Math.max(...measured)),
  }
}

/** Highest of all values, or null when any is missing: a target over every run fails on a missing one. */
function worst(values: readonly (number | null)[]): number | null {
  return values.some((v) => v === null) ? null : Math.max(...(values as number[]))
}

function target(text: string, value: number | null, test: (v: number) => boolean): Target {
  return {
    target: text,
    value: value === null ? null : significant(value),
    met: value !== null && test(value),
  }
}

const roundRun = (r: ScaleRun): ScaleRun => {
  const rounded = { ...r }
  for (const f of scaleFigures) {
    const v = r[f]
    ;(rounded as Record<string, unknown>)[f] = v === null ? null : significant(v)
  }
  return {
    ...rounded,
    drainSeconds: r.drainSeconds === null ? null : significant(r.drainSeconds),
    firstCommitSeconds: r.firstCommitSeconds === null ? null : significant(r.firstCommitSeconds),
  }
}

/** Builds the result from the runs: no I/O, so it is tested with fixed inputs. */
export function buildScaleResult(m: ScaleMeasurements): ScaleResult {
  const counts = m.config.partitions.map((partitions): ScaleCount => {
    const runs = m.runs.filter((r) => r.partitions === partitions)
    const each = Object.fromEntries(scaleFigures.map((f) => [f, spread(runs.map((r) => r[f]))])) as Record<
      (typeof scaleFigures)[number],
      Spread
    >
    return {
      partitions,
      runs: runs.length,
      drained: runs.filter((r) => r.failure === null).length,
      ...each,
      failures: runs.flatMap((r, i) => {
        const notes = r.failure === null ? [] : [r.failure]
        if (r.allRunningSeconds === null)
          notes.push(
            `${r.maxRunning} of ${partitions} partitions running ${m.config.startTimeoutSeconds} s after start`,
          )
        if (r.sigtermSeconds === null) notes.push(`killed ${m.config.sigtermTimeoutSeconds} s after SIGTERM`)
        return notes.map((n) => `run ${i + 1}: ${n}`)
      }),
    }
  })
  const sorted = [...counts].sort((a, b) => a.partitions - b.partitions)
  const fewest = sorted[0]
  const most = sorted.at(-1)
  if (!fewest || !most) throw new Error('no partition counts to report')
  // A ratio of medians, only when every run of both counts drained: a partial drain has no rate.
  const ratio = (f: 'eventsPerSec' | 'cpuSecondsPerMillion' | 'pgTransactionsPerMillion') => {
    const all = fewest.drained === fewest.runs && most.drained === most.runs
    const [a, b] = [most[f].median, fewest[f].median]
    return all && a !== null && b !== null ? significant(a / b) : null
  }
  const vs = `at ${most.partitions} / at ${fewest.partitions} partitions`
  const ratioTarget = (
    text: string,
    f: 'eventsPerSec' | 'cpuSecondsPerMillion' | 'pgTransactionsPerMillion',
    test: (v: number) => boolean,
  ): Target =>
    fewest === most
      ? { target: text, value: null, met: false, notJudged: 'one partition count' }
      : target(text, ratio(f), test)
  return {
    benchmark: 'scale',
    at: m.at,
    quick: m.config.quick,
    counts,
    targets: {
      eventsPerSec: ratioTarget(`events/s ${vs} >= 0.8`, 'eventsPerSec', (v) => v >= 0.8),
      cpuSecondsPerMillion: ratioTarget(
        `CPU per million events ${vs} <= 1.25`,
        'cpuSecondsPerMillion',
        (v) => v <= 1.25,
      ),
      pgTransactionsPerMillion: ratioTarget(
        `PostgreSQL transactions per million events ${vs} <= 2`,
        'pgTransactionsPerMillion',
        (v) => v <= 2,
      ),
      peakRssMb: target(
        'peak RSS <= 300 MB at every count',
        worst(m.runs.map((r) => r.peakRssMb)),
        (v) => v <= 300,
      ),
      allRunningSeconds: target(
        'every partition running <= 15 s after start, at every count',
        worst(m.runs.map((r) => r.allRunningSeconds)),
        (v) => v <= 15,
      ),
      sigtermSeconds: target(
        'SIGTERM to exit <= 10 s, at every count',
        worst(m.runs.map((r) => r.sigtermSeconds)),
        (v) => v <= 10,
      ),
    },
    runs: m.runs.map(roundRun),
    config: m.config,
    sharedWith: m.sharedWith,
    machine: m.machine,
  }
}

/** The table `baton bench scale` prints: a row per partition count, what went wrong, the targets. */
export function scaleTable(r: ScaleResult): string {
  // The median, and with more than one run how far the others lie from it (half their range).
  const show = (s: Spread, unit: string, format: (n: number) => string = humanNumber) => {
    if (s.median === null || s.min === null || s.max === null) return 'n/a'
    const half = s.median > 0 ? ((s.max - s.min) / 2 / s.median) * 100 : 0
    return `${format(s.median)}${unit}${r.config.runs > 1 ? ` ±${half.toFixed(0)}%` : ''}`
  }
  const fixed = (digits: number) => (n: number) => n.toFixed(digits)
  const rows = r.counts.map((c) => [
    String(c.partitions),
    show(c.eventsPerSec, ''),
    show(c.cpuSecondsPerMillion, ' s', fixed(2)),
    show(c.peakRssMb, ' MB', fixed(0)),
    show(c.rssAfterDrainMb, ' MB', fixed(0)),
    show(c.pgTransactionsPerMillion, ''),
    show(c.redisCommandsPerMillion, ''),
    show(c.allRunningSeconds, ' s', fixed(1)),
    show(c.sigtermSeconds, ' s', fixed(1)),
  ])
  const figuresTable = formatTable([
    [
      'PARTITIONS',
      'EVENTS/S',
      'CPU/M EVENTS',
      'PEAK RSS',
      'RSS AFTER',
      'PG TX/M EVENTS',
      'REDIS CMDS/M EVENTS',
      'ALL RUNNING',
      'SIGTERM',
    ],
    ...rows,
  ])
  const failures = r.counts.flatMap((c) => c.failures.map((f) => `${c.partitions} partitions, ${f}`))
  const targets = formatTable([
    ['TARGET', 'VALUE', ''],
    ...Object.values(r.targets).map((t) => [
      t.target,
      t.value === null ? 'n/a' : String(t.value),
      t.notJudged ? `not judged: ${t.notJudged}` : t.met ? 'met' : 'MISSED',
    ]),
  ])
  const about = `${r.config.runs} x ${humanNumber(r.config.events)} events per partition count${r.quick ? ' (quick)' : ''}, median; ${r.machine.cores} cores, ${r.machine.cpuModel}, ${r.machine.runtime}`
  return [figuresTable, ...(failures.length > 0 ? ['', ...failures] : []), '', targets, '', about].join('\n')
}
