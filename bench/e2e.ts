import { writeFile } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { resolve } from 'node:path'
import { syntheticEvent } from '../runtime/cli/synthetic-events.ts'
import { forgetGroups } from './e2e/cleanup.ts'
import {
  type Dataset,
  datasetEvents,
  deleteDataset,
  produceDataset,
  type SampleEvent,
} from './e2e/dataset.ts'
import { type DrainRun, drainRun } from './e2e/drain.ts'
import { latencyRun } from './e2e/latency.ts'
import { timelineChart } from './e2e/latency-charts.ts'
import { type CheckpointLimit, checkpointLimit } from './e2e/limit-checkpoints.ts'
import { type ConsumeLimit, consumeLimit } from './e2e/limit-consume.ts'
import { type CopyLimit, copyLimit } from './e2e/limit-copy.ts'
import { type PeerName, type PeerRun, peerNames, peerRun, preparePeers } from './e2e/peers.ts'
import { buildE2eResult, type E2eConfig, e2eTable } from './e2e/report.ts'
import { benchServices, sharedWith } from './e2e/services.ts'
import { secondsRows, worstSeconds } from './e2e/timeline.ts'
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
import { applyPgSettingsIfAllowed, productionPg } from './kit/pg-settings.ts'
import { median } from './kit/stats.ts'

const help = `Usage: baton bench e2e [options]

Kafka -> baton -> PostgreSQL on this machine, against the limits and peers measured in the same run on
the same data. Produces N keyed events (100-byte JSON values, 1,000 keys) to a new 8-partition topic
first, then, in each of --runs rounds:

  baton            one node (a process, cluster mode, the built-in event store or --pipeline) drains
                   the topic into PostgreSQL: events/s from its first commit to its last, CPU seconds
                   of its process per million events (/proc/<pid>/stat), peak RSS (VmHWM)
  limit: consume   kafka-consumer-perf-test over the same topic (fetch.nMsg.sec)
  limit: COPY      COPY FROM STDIN of the same rows into a table shaped like baton_events, 8 connections
  limit: Redis     baton's fenced checkpoint script, one writer per partition (round trips/s)
  peer: eachMessage  KafkaJS + node-postgres under Node.js, one INSERT per event (time-capped)
  peer: eachBatch    KafkaJS + node-postgres under Node.js, one multi-row INSERT per 1,000 events
  peer: go           franz-go + pgx (bench/peers/go, built with the Go toolchain on PATH into
                     ~/.cache/baton): a goroutine per partition, one transaction per batch of up to
                     1,000 events that moves a watermark row and CopyFroms the rows (baton's
                     guarantee). Without Go the run says so and records the peer as skipped
  peer: connect      Kafka Connect standalone worker with Debezium's JDBC sink (jars from Maven Central,
                     cached in ~/.cache/baton): upsert on (topic, partition, offset), 8 tasks, batches
                     of 2,000; CPU and peak RSS of the worker's JVM. Without Java 17+ (or Maven while
                     the jars are not cached) the run says so and records the peer as skipped

then once more with the heap sized as in a pod with the StatefulSet's 1 GiB memory limit (JSC sizes its
heap from the machine's RAM, or a container's limit; BUN_JSC_forceRAMSize says the same on a bare host),
and then a latency phase: a fresh node, events produced at half the median baton rate for 5 s of warm-up
and then --latency-seconds: end-to-end latency p50/p99/p999 from the node's own histogram
(baton_end_to_end_latency_seconds: per committed batch, its oldest event's time to the return of its
COMMIT), scraped every second from its /metrics, and every second of it (events, p50, p99, max, commit
and checkpoint p99, mailbox depth, heap, PostgreSQL checkpoints and WAL) into the JSON, a chart
(bench/results/e2e-latency-timeline.svg) and the worst seconds under the table. The latency phase runs
with the PostgreSQL settings of deploy/k8s/dependencies/postgres.yaml that shape commit latency
(max_wal_size, checkpoint_completion_target, backend_flush_after; reset after it; kept as they are, and
said so, where the role may not change them), as 'baton bench latency' does, which draws the whole curve.

PostgreSQL is checkpointed before each measured phase, so that no phase pays for flushing the rows of
the one before, and then the bench waits (up to 90 s) until the machine's CPUs are at most 15% busy in
a second, so that no phase pays for what the services still do after the one before. Each figure is the median of the rounds; ratios are baton / the slower of the consume and COPY limits
and baton / each peer. Uses the services of KAFKA_BROKERS, DATABASE_URL and REDIS_URL, or those of
'baton services up', or starts them (and stops what it started). Everything runs in a database of its
own (dropped at the end) and topics and groups of its own (deleted). Progress goes to stderr, the table
to stdout, the figures to bench/results/e2e.json.

Options:
  --events <n>               events to produce (default 1000000)
  --runs <n>                 rounds, the median is reported (default 3)
  --latency-seconds <n>      length of the latency phase (default 60)
  --each-message-seconds <n> time cap of the eachMessage peer, from its first insert (default 30)
  --pipeline <path>          BATON_PIPELINE of the baton runs (default: the built-in event store). When
                             the module exports sampleEvent(seq) (examples/account-balances.ts does),
                             the topic is filled with its events; otherwise with the synthetic ones,
                             which a pipeline wanting another shape dead-letters. Limits and peers stay
                             on the synthetic events
  --out <path>               where to write the JSON (default bench/results/e2e.json)
  --quick                    100,000 events, 1 round, a 20 s latency phase, a 10 s cap: under 3 minutes`

/** Produced before the measured latency phase and left out of its figures: the new node's start-up. */
const LATENCY_WARMUP_SECONDS = 5

/**
 * deploy/k8s/baton/statefulset.yaml's memory limit. Bun's JavaScriptCore sizes its heap from the RAM it
 * sees: the machine's, or a container's limit (cgroup). BUN_JSC_forceRAMSize sets the same figure for
 * a node run on a bare host, as this benchmark's is.
 */
const POD_MEMORY_LIMIT_MB = 1024

export const e2eBenchmark: Benchmark = {
  name: 'e2e',
  summary:
    'Kafka -> baton -> PostgreSQL: events/s, CPU, RSS, latency, against limits and KafkaJS, Go and Kafka Connect peers',
  help,
  async run(args) {
    const quick = args.includes('--quick')
    const config: E2eConfig = {
      events: countOption(args, '--events', quick ? 100_000 : 1_000_000),
      partitions: 8,
      valueBytes: datasetEvents.valueBytes,
      keys: datasetEvents.keys,
      runs: countOption(args, '--runs', quick ? 1 : 3),
      quick,
      latencySeconds: countOption(args, '--latency-seconds', quick ? 20 : 60),
      eachMessageMaxSeconds: countOption(args, '--each-message-seconds', quick ? 10 : 30),
      pipeline: option(args, '--pipeline') ?? null,
    }
    const out = option(args, '--out') ?? defaultResultPath('e2e')
    const load = loadavg()[0] ?? 0
    const at = new Date().toISOString()
    const stamp = `bench-e2e-${Date.now().toString(36)}`
    const dataset: Dataset = {
      topic: stamp,
      partitions: config.partitions,
      events: config.events,
      synthetic: datasetEvents,
      sample: config.pipeline ? await pipelineSample(config.pipeline) : undefined,
    }
    // The value size is a property of the dataset: say it, as produced.
    progress(
      `e2e: ${humanNumber(config.events)} events of ${syntheticEvent(0, datasetEvents).value.length} bytes`,
    )
    // Before the services start: building the go peer and resolving the connect peer's jars are no part
    // of any measurement.
    const prepared = await preparePeers(progress)
    for (const name of peerNames) {
      const p = prepared[name]
      if ('skipped' in p) progress(`peer ${name}: skipped, ${p.skipped}`)
    }
    progress('services:')
    const services = await benchServices(progress)
    const groups: { group: string; topic: string }[] = []
    const group = (name: string, topic = dataset.topic) => {
      const id = `${stamp}-${name}`
      groups.push({ group: id, topic })
      return id
    }
    const pipeline = config.pipeline ?? undefined
    try {
      await produceDataset(services.brokers, dataset)
      const drains: DrainRun[] = []
      const consume: ConsumeLimit[] = []
      const copy: CopyLimit[] = []
      const checkpoints: CheckpointLimit[] = []
      const peers: Record<PeerName, PeerRun[]> = {
        kafkajsEachMessage: [],
        kafkajsEachBatch: [],
        go: [],
        connect: [],
      }
      const maxSeconds: Record<PeerName, number> = {
        kafkajsEachMessage: config.eachMessageMaxSeconds,
        kafkajsEachBatch: 600,
        go: 600,
        connect: 600,
      }
      // Rounds rather than figure after figure: whatever else loads the machine meanwhile, it weighs on
      // every figure alike.
      for (let run = 1; run <= config.runs; run++) {
        progress(`round ${run}/${config.runs}`)
        const drain = await drainRun(services, dataset, group(`baton-${run}`), pipeline)
        drains.push(drain)
        progress(
          `  baton: ${humanNumber(drain.eventsPerSec)} ev/s, ${drain.cpuSecondsPerMillion.toFixed(1)} CPU s/M, ${drain.peakRssMb} MB`,
        )
        const c = await consumeLimit(services.brokers, dataset, group(`perf-${run}`))
        consume.push(c)
        progress(`  limit consume: ${humanNumber(c.consumePerSec)} msg/s`)
        const p = await copyLimit(services, dataset)
        copy.push(p)
        progress(`  limit COPY: ${humanNumber(p.copyRowsPerSec)} rows/s`)
        const k = await checkpointLimit(
          services.redisUrl,
          config.partitions,
          `${stamp}-checkpoints`,
          quick ? 2 : 3,
        )
        checkpoints.push(k)
        progress(`  limit Redis checkpoints: ${humanNumber(k.checkpointsPerSec)}/s`)
        for (const peer of peerNames) {
          const p = prepared[peer]
          if (!('command' in p)) continue
          const r = await peerRun(
            services,
            dataset,
            peer,
            p.command,
            group(`${peer}-${run}`),
            maxSeconds[peer],
          )
          peers[peer].push(r)
          progress(`  peer ${peer}: ${humanNumber(r.eventsPerSec)} ev/s over ${humanNumber(r.events)} events`)
        }
      }
      progress(`baton with the heap sized for a ${POD_MEMORY_LIMIT_MB} MiB pod (the StatefulSet's limit)`)
      const podLimit = {
        memoryLimitMb: POD_MEMORY_LIMIT_MB,
        drain: await drainRun(services, dataset, group('baton-pod-limit'), pipeline, {
          BUN_JSC_forceRAMSize: String(POD_MEMORY_LIMIT_MB * 1024 * 1024),
        }),
      }
      progress(`  ${humanNumber(podLimit.drain.eventsPerSec)} ev/s, ${podLimit.drain.peakRssMb} MB`)
      const rate = median(drains.map((d) => d.eventsPerSec)) / 2
      progress(`latency: ${humanNumber(rate)} ev/s (half the e2e rate) for ${config.latencySeconds} s`)
      const latencyTopic = `${stamp}-latency`
      const pgTuning = await applyPgSettingsIfAllowed(services.sql, productionPg)
      if (pgTuning.refused)
        progress(
          `  PostgreSQL's own settings kept (the production ones need a superuser): ${pgTuning.refused}`,
        )
      const latency = await latencyRun(services, {
        dataset: { ...dataset, topic: latencyTopic },
        group: group('latency', latencyTopic),
        pipeline,
        ratePerSec: rate,
        seconds: config.latencySeconds,
        warmupSeconds: LATENCY_WARMUP_SECONDS,
      }).finally(pgTuning.reset)
      progress(
        `  p50 ${latency.p50Ms.toFixed(1)} ms, p99 ${latency.p99Ms.toFixed(1)} ms, p999 ${latency.p999Ms.toFixed(1)} ms`,
      )
      const result = buildE2eResult({
        at,
        config,
        drains,
        podLimit,
        latency,
        consume,
        copy,
        checkpoints,
        peers,
        peerInfo: prepared,
        machine: machineInfo(),
        sharedWith: sharedWith(services.reused, load),
      })
      const chart = out.replace(/\.json$/, '-latency-timeline.svg')
      const title = `latency phase at ${humanNumber(latency.ratePerSec)} ev/s: per-second p50 and p99`
      await writeFile(
        chart,
        await renderSvg(timelineChart(title, [{ label: 'half the e2e rate', seconds: latency.timeline }])),
      )
      const worst = formatTable(secondsRows('  latency', worstSeconds(latency.timeline, 5)))
      return report(
        out,
        result,
        `${e2eTable(result)}\n\nWorst seconds of the latency phase (by p99):\n${worst}`,
      )
    } finally {
      progress('cleaning up: topics, groups, checkpoints, the database')
      await deleteDataset(services.brokers, dataset).catch(() => {})
      await forgetGroups(services.brokers, services.redisUrl, groups, config.partitions).catch(() => {})
      await services.close()
    }
  },
}

if (import.meta.main) process.exitCode = await e2eBenchmark.run(process.argv.slice(2))

/** The `sampleEvent` export of a pipeline module, when it has one. */
async function pipelineSample(path: string): Promise<SampleEvent | undefined> {
  const mod = (await import(resolve(process.cwd(), path))) as { sampleEvent?: unknown }
  return typeof mod.sampleEvent === 'function' ? (mod.sampleEvent as SampleEvent) : undefined
}
