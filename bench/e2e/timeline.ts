import type { Sql } from 'postgres'
import { type HostIo, readHostIo } from '../kit/host-io.ts'
import { type PgActivity, readPgActivity } from '../kit/pg-settings.ts'
import {
  type Buckets,
  bucketDelta,
  bucketMax,
  bucketQuantile,
  bucketsOf,
  parseMetrics,
  type Sample,
  sumOf,
} from '../kit/prometheus.ts'

/** One reading of the node's /metrics, PostgreSQL's counters and the host's page cache and disks. */
export interface Reading {
  /** When it was taken, ms since the epoch. */
  readonly at: number
  readonly samples: readonly Sample[]
  readonly pg: PgActivity
  /** null off Linux. */
  readonly host: HostIo | null
}

/**
 * What happened between two readings a second apart. Latencies are the node's
 * baton_end_to_end_latency_seconds: per committed batch, from its oldest event's time to the return of
 * its COMMIT, so the worst event of each batch; p50/p99 interpolate within buckets and max is the bound
 * of the highest bucket holding a batch.
 */
export interface Second {
  /** Seconds since the first reading, at the end of this one. */
  readonly second: number
  readonly events: number
  readonly batches: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly maxMs: number
  /** baton_batch_commit_duration_seconds: the pipeline and the transaction of one batch. */
  readonly commitP99Ms: number
  /** baton_checkpoint_duration_seconds: the Redis checkpoint after each commit. */
  readonly checkpointP99Ms: number
  /** Messages waiting in the partition actors' mailboxes, summed, at the end of the second. */
  readonly mailboxDepth: number
  /** JS heap in use at the end of the second (prom-client's nodejs_heap_size_used_bytes). */
  readonly heapUsedMb: number
  /** GC pauses the node reported in the second (prom-client's nodejs_gc_duration_seconds), when any. */
  readonly gcMs: number
  /**
   * PostgreSQL checkpoints counted in the second (`pg_stat_bgwriter` counts a timed one as it starts; its
   * writes are spread over the next `checkpoint_completion_target` of the interval), and the WAL written.
   */
  readonly pgCheckpoints: number
  readonly walMb: number
  /**
   * The host's dirty page cache at the end of the second, and what it wrote to its disks in it (null off
   * Linux): a burst of writeback queues the WAL's fsync behind it.
   */
  readonly dirtyMb: number | null
  readonly diskWriteMb: number | null
}

const LATENCY = 'baton_end_to_end_latency_seconds'
const COMMIT = 'baton_batch_commit_duration_seconds'
const CHECKPOINT = 'baton_checkpoint_duration_seconds'
const STORED = 'baton_events_processed_total'
/** To a tenth: the figures go into JSON and tables, and buckets are no finer than that. */
const tenth = (n: number) => Math.round(n * 10) / 10
const ms = (seconds: number) => tenth(seconds * 1000)

/** Each consecutive pair of readings as a `Second` (the pairs are about a second apart). */
export function timelineSeconds(readings: readonly Reading[]): Second[] {
  const first = readings[0]
  const rows: Second[] = []
  for (let i = 1; i < readings.length; i++) {
    const a = readings[i - 1] as Reading
    const b = readings[i] as Reading
    const latency = delta(b, a, LATENCY)
    rows.push({
      second: tenth((b.at - (first as Reading).at) / 1000),
      events:
        sumOf(b.samples, STORED, { outcome: 'stored' }) - sumOf(a.samples, STORED, { outcome: 'stored' }),
      batches: latency.counts.at(-1) ?? 0,
      p50Ms: ms(bucketQuantile(latency, 0.5)),
      p99Ms: ms(bucketQuantile(latency, 0.99)),
      maxMs: ms(bucketMax(latency)),
      commitP99Ms: ms(bucketQuantile(delta(b, a, COMMIT), 0.99)),
      checkpointP99Ms: ms(bucketQuantile(delta(b, a, CHECKPOINT), 0.99)),
      mailboxDepth: sumOf(b.samples, 'baton_mailbox_depth'),
      heapUsedMb: tenth(sumOf(b.samples, 'baton_nodejs_heap_size_used_bytes') / 2 ** 20),
      gcMs: ms(
        sumOf(b.samples, 'baton_nodejs_gc_duration_seconds_sum') -
          sumOf(a.samples, 'baton_nodejs_gc_duration_seconds_sum'),
      ),
      pgCheckpoints: b.pg.checkpoints - a.pg.checkpoints,
      walMb: tenth((b.pg.walBytes - a.pg.walBytes) / 2 ** 20),
      dirtyMb: b.host && tenth(b.host.dirtyBytes / 2 ** 20),
      diskWriteMb: a.host && b.host && tenth((b.host.diskWrittenBytes - a.host.diskWrittenBytes) / 2 ** 20),
    })
  }
  return rows
}

/** End-to-end latency between two readings, in ms: p50, p99, p999 and the max's bucket bound. */
export function latencyBetween(
  from: Reading,
  to: Reading,
): { batches: number; p50Ms: number; p99Ms: number; p999Ms: number; maxMs: number } {
  const b = delta(to, from, LATENCY)
  return {
    batches: b.counts.at(-1) ?? 0,
    p50Ms: ms(bucketQuantile(b, 0.5)),
    p99Ms: ms(bucketQuantile(b, 0.99)),
    p999Ms: ms(bucketQuantile(b, 0.999)),
    maxMs: ms(bucketMax(b)),
  }
}

/** The `n` seconds with the highest p99, worst first. */
export function worstSeconds(seconds: readonly Second[], n: number): Second[] {
  return [...seconds]
    .filter((s) => Number.isFinite(s.p99Ms))
    .sort((a, b) => b.p99Ms - a.p99Ms)
    .slice(0, n)
}

function delta(later: Reading, earlier: Reading, name: string): Buckets {
  return bucketDelta(bucketsOf(later.samples, name), bucketsOf(earlier.samples, name))
}

/** Reads the node and PostgreSQL every second until stopped; see `timelineSeconds`. */
export interface TimelineSampler {
  /** Takes a reading now, outside the timeline: the edges of a measured span. */
  read(): Promise<Reading>
  /** Stops and returns every reading, in order. */
  stop(): Promise<Reading[]>
}

/** Starts reading `metricsUrl` (a node's /metrics) and PostgreSQL through `sql` every `intervalMs`. */
export function sampleTimeline(metricsUrl: string, sql: Sql, intervalMs = 1000): TimelineSampler {
  const readings: Reading[] = []
  let stopped = false
  const read = async (): Promise<Reading> => {
    const at = Date.now()
    const [text, pg, host] = await Promise.all([
      fetch(metricsUrl, { signal: AbortSignal.timeout(5_000) }).then((r) => r.text()),
      readPgActivity(sql),
      readHostIo(),
    ])
    return { at, samples: parseMetrics(text), pg, host }
  }
  const loop = async () => {
    const started = performance.now()
    for (let tick = 1; !stopped; tick++) {
      // A reading that failed leaves a longer second, not a wrong one.
      await read().then(
        (r) => readings.push(r),
        () => {},
      )
      // On the clock, not after each reading: a slow scrape does not shift the seconds that follow.
      await Bun.sleep(Math.max(0, started + tick * intervalMs - performance.now()))
    }
  }
  const running = loop()
  return {
    read,
    async stop() {
      stopped = true
      await running
      return readings
    },
  }
}

/** The `seconds` as table rows (for formatTable), each named `label` and its second, worst first. */
export function secondsRows(label: string, seconds: readonly Second[]): string[][] {
  const ms = (n: number) => (Number.isFinite(n) ? `${Math.round(n)}` : '-')
  return seconds.map((s) => [
    `${label} second ${s.second}`,
    `p50 ${ms(s.p50Ms)} p99 ${ms(s.p99Ms)} max ${ms(s.maxMs)} ms, ${s.events} ev`,
    `commit p99 ${ms(s.commitP99Ms)} ms, checkpoint p99 ${ms(s.checkpointP99Ms)} ms`,
    `mailbox ${s.mailboxDepth}, heap ${Math.round(s.heapUsedMb)} MB, gc ${ms(s.gcMs)} ms`,
    `pg checkpoints ${s.pgCheckpoints}, WAL ${s.walMb.toFixed(1)} MB`,
    s.dirtyMb === null || s.diskWriteMb === null
      ? ''
      : `host dirty ${Math.round(s.dirtyMb)} MB, disks wrote ${Math.round(s.diskWriteMb)} MB`,
  ])
}
