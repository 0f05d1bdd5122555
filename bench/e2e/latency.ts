import { ensureTopics } from '../../actors/kafka/admin.ts'
import { KafkaEventProducer } from '../../actors/kafka/producer.ts'
import type { NodeProcess } from '../../deploy/local/node-process.ts'
import { Progress } from '../../runtime/cli/progress.ts'
import { peakRssMb } from '../kit/process-stats.ts'
import { committedEvents, startBatonNode } from './baton-node.ts'
import { type Dataset, datasetEvent, deleteDataset } from './dataset.ts'
import type { BenchServices } from './services.ts'
import { type CommitTimes, watchCommits } from './watch-commits.ts'

/** End-to-end latency (event time to commit) at a fixed produce rate. */
export interface LatencyRun {
  readonly targetRatePerSec: number
  /** The rate the producer achieved (it falls short when the machine is saturated). */
  readonly ratePerSec: number
  /** The measured span, after the warm-up, and the events produced in it. */
  readonly seconds: number
  readonly warmupSeconds: number
  readonly events: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly p999Ms: number
  readonly maxMs: number
  readonly peakRssMb: number
  /**
   * `stored_at`: each row's `stored_at - event_time` in baton_events (the event store). `watermarks`
   * (other pipelines): when the partition's watermark passed the event, from polling baton_watermarks
   * every 20 ms: an upper bound when two commits fall between polls.
   */
  readonly measuredBy: 'stored_at' | 'watermarks'
}

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
  const commits = pipeline === undefined ? null : watchCommits(services, group, dataset.topic)
  const producer = new KafkaEventProducer({ brokers: services.brokers, clientId: 'baton-bench-latency' })
  try {
    const sent = await produceAtRate(producer, options, commits)
    await waitCommitted(services, node, group, dataset.topic, sent.total)
    const rss = peakRssMb(node.proc.pid)
    const latencies =
      commits === null
        ? await storedAtLatencies(services, dataset.topic, sent.measuredFrom)
        : await commits.latencies(sent.measuredFrom)
    return {
      targetRatePerSec: options.ratePerSec,
      ratePerSec: sent.events / sent.seconds,
      seconds: sent.seconds,
      warmupSeconds: options.warmupSeconds,
      events: sent.events,
      ...latencies,
      peakRssMb: rss,
      measuredBy: commits === null ? 'stored_at' : 'watermarks',
    }
  } finally {
    await commits?.stop()
    await producer.close()
    await node.stop()
    await services.sql`truncate baton_events`
    await deleteDataset(services.brokers, dataset)
  }
}

async function produceAtRate(
  producer: KafkaEventProducer,
  options: LatencyOptions,
  commits: CommitTimes | null,
): Promise<{ events: number; seconds: number; total: number; measuredFrom: number }> {
  const { dataset, ratePerSec, seconds, warmupSeconds } = options
  const warmup = Math.round(ratePerSec * warmupSeconds)
  const total = warmup + Math.round(ratePerSec * seconds)
  // The producer shares the machine with what it measures: events made and encoded once, before the
  // clock starts, and sent round and round (content does not matter here, offsets keep them apart).
  const pool = Array.from({ length: Math.min(total, EVENT_POOL) }, (_, seq) => {
    const e = datasetEvent(dataset, seq)
    return { key: e.key === null ? null : Buffer.from(e.key), value: Buffer.from(e.value) }
  })
  const progress = new Progress(`  latency at ${Math.round(ratePerSec)}/s`, total)
  const started = performance.now()
  let measuredFrom = Number.POSITIVE_INFINITY
  let measuredAt = 0
  let sent = 0
  while (sent < total) {
    if (sent >= warmup && measuredAt === 0) {
      measuredAt = performance.now()
      measuredFrom = Date.now()
    }
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * ratePerSec))
    if (due > sent) {
      const time = Date.now()
      const events = []
      for (let seq = sent; seq < due; seq++) {
        const e = pool[seq % pool.length] as (typeof pool)[number]
        events.push({ key: e.key, value: e.value, time })
      }
      const produced = await producer.produce(dataset.topic, events)
      commits?.sent(produced, time)
      sent = due
      progress.update(sent)
    }
    await Bun.sleep(TICK_MS)
  }
  progress.done(sent)
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
  const deadline = performance.now() + 60_000
  while ((await committedEvents(services, group, topic)) < events) {
    if (performance.now() > deadline || node.proc.exitCode !== null)
      throw new Error(`baton did not commit all ${events} events of the latency phase:\n${node.output()}`)
    await Bun.sleep(50)
  }
}

type Percentiles = Pick<LatencyRun, 'p50Ms' | 'p99Ms' | 'p999Ms' | 'maxMs'>

/** Percentiles of the events with an event time at or after `from` (ms since the epoch). */
async function storedAtLatencies(services: BenchServices, topic: string, from: number): Promise<Percentiles> {
  const [row] = await services.sql<{ p: number[]; max: number }[]>`
    select percentile_cont(array[0.5, 0.99, 0.999]) within group (order by ms) as p, max(ms) as max
    from (select extract(epoch from stored_at - event_time) * 1000 as ms
          from baton_events where topic = ${topic} and event_time >= to_timestamp(${from} / 1000.0)) as l`
  const [p50 = Number.NaN, p99 = Number.NaN, p999 = Number.NaN] = row?.p ?? []
  return { p50Ms: p50, p99Ms: p99, p999Ms: p999, maxMs: Number(row?.max) }
}
