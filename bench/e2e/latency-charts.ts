import type { ChartSpec } from '../kit/chart.ts'
import type { Second } from './timeline.ts'

/** The p99 a user is promised at half load (README, Tail latency): drawn as a rule on the charts. */
export const P99_TARGET_MS = 150

/**
 * Per-second p50 and p99 of one or more latency phases against time, with the seconds in which a
 * PostgreSQL checkpoint began marked (as `pg_stat_bgwriter` counts it), so a stall can be put beside its
 * cause.
 */
export function timelineChart(
  title: string,
  runs: readonly { label: string; seconds: readonly Second[] }[],
): ChartSpec {
  const values = runs.flatMap((r) =>
    r.seconds.flatMap((s) => [
      { run: r.label, second: s.second, quantile: 'p99', ms: finite(s.p99Ms) },
      { run: r.label, second: s.second, quantile: 'p50', ms: finite(s.p50Ms) },
    ]),
  )
  const checkpoints = runs.flatMap((r) =>
    r.seconds.filter((s) => s.pgCheckpoints > 0).map((s) => ({ run: r.label, second: s.second })),
  )
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 720,
    height: 280,
    layer: [
      {
        data: { values },
        mark: { type: 'line', point: false, strokeWidth: 1.5 },
        encoding: {
          x: { field: 'second', type: 'quantitative', title: 'seconds into the measured phase' },
          y: {
            field: 'ms',
            type: 'quantitative',
            title: 'end-to-end latency, ms (log)',
            scale: { type: 'log' },
          },
          color: { field: 'run', type: 'nominal', title: 'rate' },
          strokeDash: { field: 'quantile', type: 'nominal', title: 'per second' },
        },
      },
      {
        data: { values: checkpoints },
        mark: { type: 'rule', opacity: 0.35 },
        encoding: {
          x: { field: 'second', type: 'quantitative' },
          color: { field: 'run', type: 'nominal' },
        },
      },
      {
        data: { values: [{ ms: P99_TARGET_MS }] },
        mark: { type: 'rule', color: 'firebrick', strokeDash: [2, 2] },
        encoding: { y: { field: 'ms', type: 'quantitative' } },
      },
    ],
  }
}

/** One rate of the latency curve. */
export interface CurvePoint {
  readonly label: string
  readonly storedPerSec: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly p999Ms: number
  readonly maxMs: number
}

/** Latency percentiles against the throughput they were measured at: one line per percentile. */
export function curveChart(title: string, points: readonly CurvePoint[]): ChartSpec {
  const values = points.flatMap((p) =>
    (['p50Ms', 'p99Ms', 'p999Ms', 'maxMs'] as const).map((q) => ({
      rate: p.label,
      eventsPerSec: Math.round(p.storedPerSec),
      quantile: q.replace('Ms', ''),
      ms: finite(p[q]),
    })),
  )
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 520,
    height: 320,
    layer: [
      {
        data: { values },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'eventsPerSec', type: 'quantitative', title: 'events stored per second' },
          y: {
            field: 'ms',
            type: 'quantitative',
            title: 'end-to-end latency, ms (log)',
            scale: { type: 'log' },
          },
          color: {
            field: 'quantile',
            type: 'nominal',
            sort: ['p50', 'p99', 'p999', 'max'],
            title: 'percentile',
          },
          tooltip: [{ field: 'rate' }, { field: 'ms' }],
        },
      },
      {
        data: { values: [{ ms: P99_TARGET_MS }] },
        mark: { type: 'rule', color: 'firebrick', strokeDash: [2, 2] },
        encoding: { y: { field: 'ms', type: 'quantitative' } },
      },
    ],
  }
}

/** Vega drops null points; NaN (a second without a commit) would break a log scale. */
function finite(n: number): number | null {
  return Number.isFinite(n) && n > 0 ? Math.round(n * 10) / 10 : null
}
