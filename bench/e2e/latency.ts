import { ensureTopics } from '../../actors/kafka/admin.ts'
import { KafkaEventProducer } from '../../actors/kafka/producer.ts'
import type { NodeProcess } from '../../deploy/local/node-process.ts'
import { Progress } from '../../runtime/cli/progress.ts'
import { humanNumber } from '../kit/benchmark.ts'
import { type PgSettings, readPgSettings } from '../kit/pg-settings.ts'
import { peakRssMb } from '../kit/process-stats.ts'
import { sumOf } from '../kit/prometheus.ts'
import { committedEvents, startBatonNode } from './baton-node.ts'
import { type Dataset, datasetEvent, deleteDataset } from './dataset.ts'
import type { BenchServices } from './services.ts'
import {
  latencyBetween,
  type Reading,
  type Second,
  sampleTimeline,
  type TimelineSampler,
  timelineSeconds,
} from './timeline.ts'

/** End-to-end latency (event time to commit) at a fixed produce rate. */
export interface LatencyRun {
  readonly targetRatePerSec: number
  /** The rate the producer achieved (it falls short when the machine is saturated). */
  readonly ratePerSec: number
  /** Events the node stored per second over the measured span (the rate it sustained). */
  readonly storedPerSec: number
  /** The measured span, after the warm-up, and the events produced in it. */
  readonly seconds: number
  readonly warmupSeconds: number
  readonly events: number
  /** Batches the node committed in the measured span: what the percentiles count. */
  readonly batches: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly p999Ms: number
  /** The bound of the highest latency bucket that holds a batch. */
  readonly maxMs: number
  readonly peakRssMb: number
  /** What the percentiles are: see `measuredBy`. */
  readonly measuredBy: string
  /** PostgreSQL checkpoints that ended in the measured span, and the WAL written in it. */
  readonly pgCheckpoints: number
  readonly walMb: number
  /** The PostgreSQL settings that shape commit latency, as the phase ran with them (SHOW). */
  readonly postgres: PgSettings
  /** Every second of the measured span: latency, and what the node and PostgreSQL did. */
  readonly timeline: readonly Second[]
}

/** The one measure of latency every pipeline has: the node's own histogram, scraped every second. */
export const measuredBy =
  "baton_end_to_end_latency_seconds from the node's /metrics: per committed batch, its oldest event's time to the return of its COMMIT (the batch's worst event); percentiles interpolated in buckets"

export interface LatencyOptions {
  /** A fresh topic: the phase creates and deletes it. */
  readonly dataset: Dataset
  readonly group: string
  readonly pipeline: string | undefined
  readonly ratePerSec: number
  readonly seconds: number
  /** Produced at the same rate before the measured seconds and left out of the figures. */
  readonly warmupSeconds: number
}

/** Distinct events the latency producer cycles through. */
const EVENT_POOL = 50_000

/** Events per produce call at most: an unreachable rate sends these back to back. */
const MAX_SEND = 5_000

/** The producer sends what is due every tick: small enough that events do not wait in the producer. */
const TICK_MS = 10

/**
 * Starts a node on an empty topic, produces synthetic events to it at `ratePerSec` for `warmupSeconds`
 * and then `seconds` more (each stamped with the time it is sent), waits until all are committed and reads
 * the latencies of the events after the warm-up: the first seconds of a fresh process (JIT, connections,
 * the group's first fetches) are start-up, not the steady state a user runs in.
 */
export async function latencyRun(services: BenchServices, options: LatencyOptions): Promise<LatencyRun> {
  const { dataset, group, pipeline } = options
  await ensureTopics({
    brokers: services.brokers,
    topics: [dataset.topic],
    partitions: dataset.partitions,
    dlq: true,
  })
  await services.settle()
  const node = await startBatonNode(services, { topic: dataset.topic, group, pipeline })
  const sampler = sampleTimeline(`${node.url}/metrics`, services.sql)
  const producer = new KafkaEventProducer({ brokers: services.brokers, clientId: 'baton-bench-latency' })
  try {
    const sent = await produceAtRate(producer, options, sampler)
    await waitCommitted(services, node, group, dataset.topic, sent.total)
    const last = await sampler.read()
    const rss = peakRssMb(node.proc.pid)
    const first = sent.measuredFrom
    const between = (await sampler.stop()).filter((r) => r.at > first.at && r.at < last.at)
    const { batches, ...percentiles } = latencyBetween(first, last)
    const seconds = (last.at - first.at) / 1000
    const stored = (r: Reading) => sumOf(r.samples, 'baton_events_processed_total', { outcome: 'stored' })
    return {
      targetRatePerSec: options.ratePerSec,
      ratePerSec: sent.events / sent.seconds,
      storedPerSec: (stored(last) - stored(first)) / seconds,
      seconds: sent.seconds,
      warmupSeconds: options.warmupSeconds,
      events: sent.events,
      batches,
      ...percentiles,
      peakRssMb: rss,
      measuredBy,
      pgCheckpoints: last.pg.checkpoints - first.pg.checkpoints,
      walMb: (last.pg.walBytes - first.pg.walBytes) / 2 ** 20,
      postgres: await readPgSettings(services.sql),
      timeline: timelineSeconds([first, ...between, last]),
    }
  } finally {
    await sampler.stop()
    await producer.close()
    await node.stop()
    await services.sql`truncate baton_events`
    await deleteDataset(services.brokers, dataset)
  }
}

async function produceAtRate(
  producer: KafkaEventProducer,
  options: LatencyOptions,
  sampler: TimelineSampler,
): Promise<{ events: number; seconds: number; total: number; measuredFrom: Reading }> {
  const { dataset, ratePerSec, seconds, warmupSeconds } = options
  const endMs = (warmupSeconds + seconds) * 1000
  const expected = Math.min(Math.round((ratePerSec * endMs) / 1000), Number.MAX_SAFE_INTEGER)
  // The producer shares the machine with what it measures: events made and encoded once, before the
  // clock starts, and sent round and round (content does not matter here, offsets keep them apart).
  const pool = Array.from({ length: Math.min(expected, EVENT_POOL) }, (_, seq) => {
    const e = datasetEvent(dataset, seq)
    return { key: e.key === null ? null : Buffer.from(e.key), value: Buffer.from(e.value) }
  })
  const progress = new Progress(`  latency at ${humanNumber(ratePerSec)}/s`, expected)
  const started = performance.now()
  let measuredFrom: Reading | null = null
  let warmup = 0
  let measuredAt = 0
  let sent = 0
  // Until the time is up rather than until a count: a rate the producer cannot reach (the max-rate
  // phase asks for one) then means "as fast as it can" for that long.
  for (let elapsed = 0; elapsed < endMs; elapsed = performance.now() - started) {
    if (elapsed >= warmupSeconds * 1000 && measuredFrom === null) {
      measuredAt = performance.now()
      measuredFrom = await sampler.read()
      warmup = sent
    }
    const due = Math.min(sent + MAX_SEND, Math.floor((elapsed / 1000) * ratePerSec))
    const behind = due === sent + MAX_SEND
    if (due > sent) {
      const time = Date.now()
      const events = []
      for (let seq = sent; seq < due; seq++) {
        const e = pool[seq % pool.length] as (typeof pool)[number]
        events.push({ key: e.key, value: e.value, time })
      }
      await producer.produce(dataset.topic, events)
      sent = due
      progress.update(sent)
    }
    if (!behind) await Bun.sleep(TICK_MS)
  }
  progress.done(sent)
  measuredFrom ??= await sampler.read()
  const measured = (performance.now() - (measuredAt || started)) / 1000
  return { events: sent - warmup, seconds: measured, total: sent, measuredFrom }
}

async function waitCommitted(
  services: BenchServices,
  node: NodeProcess,
  group: string,
  topic: string,
  events: number,
): Promise<void> {
  // A backlog (the max-rate phase leaves one) may take long to drain; a minute without progress is a failure.
  let committed = 0
  let movedAt = performance.now()
  while (committed < events) {
    const now = await committedEvents(services, group, topic)
    if (now > committed) {
      committed = now
      movedAt = performance.now()
    }
    if (committed < events && (performance.now() - movedAt > 60_000 || node.proc.exitCode !== null))
      throw new Error(`baton did not commit all ${events} events of the latency phase:\n${node.output()}`)
    await Bun.sleep(50)
  }
}
