import { formatTable, humanNumber, type MachineInfo } from '../kit/benchmark.ts'
import { median, significant } from '../kit/stats.ts'
import type { DrainRun } from './drain.ts'
import type { LatencyRun } from './latency.ts'
import type { CheckpointLimit } from './limit-checkpoints.ts'
import type { ConsumeLimit } from './limit-consume.ts'
import type { CopyLimit } from './limit-copy.ts'
import { type PeerAbout, type PeerName, type PeerRun, peerNames } from './peers.ts'

export interface E2eConfig {
  readonly events: number
  readonly partitions: number
  readonly valueBytes: number
  readonly keys: number
  readonly runs: number
  readonly quick: boolean
  readonly latencySeconds: number
  /** The eachMessage peer's time cap, in seconds from its first stored event. */
  readonly eachMessageMaxSeconds: number
  /** BATON_PIPELINE of the baton runs; null for the built-in event store. */
  readonly pipeline: string | null
}

/** Everything one `baton bench e2e` measured, every run of every figure. */
export interface E2eMeasurements {
  readonly at: string
  readonly config: E2eConfig
  readonly drains: readonly DrainRun[]
  /** One more drain with the heap sized as in a pod with `memoryLimitMb` (JSC reads the cgroup limit). */
  readonly podLimit: { readonly memoryLimitMb: number; readonly drain: DrainRun }
  readonly latency: LatencyRun
  readonly consume: readonly ConsumeLimit[]
  readonly copy: readonly CopyLimit[]
  readonly checkpoints: readonly CheckpointLimit[]
  /** Every round's run of each peer; none for a peer this machine could not run (see `peerInfo`). */
  readonly peers: Readonly<Record<PeerName, readonly PeerRun[]>>
  /** What each peer is, and why it did not run when it did not (e.g. no Go toolchain). */
  readonly peerInfo: Readonly<Record<PeerName, PeerInfo>>
  readonly machine: MachineInfo
  /** What shared the machine besides baton, the limits and the peers (for the reader of the figures). */
  readonly sharedWith: string
}

export interface PeerInfo {
  readonly about: PeerAbout
  readonly skipped?: string
}

/** A peer's median run and what it is, or why it was skipped: never a figure it did not measure. */
export type PeerDetail = { readonly about: PeerAbout } & (PeerRun | { readonly skipped: string })

interface Target {
  readonly target: string
  readonly value: number
  readonly met: boolean
}

/** bench/results/e2e.json: medians of the runs, the ratios, the targets of issue 8, and the runs themselves. */
export interface E2eResult {
  readonly benchmark: 'e2e'
  readonly at: string
  readonly quick: boolean
  readonly pipeline: string
  readonly eventsPerSec: number
  readonly cpuSecondsPerMillion: number
  /** The highest peak RSS of any baton process of the run (drains and latency phase). */
  readonly peakRssMb: number
  readonly startupSeconds: number
  /**
   * The same drain with the heap sized for the StatefulSet's memory limit: JSC sizes its heap from the
   * machine's RAM, or from the container's limit when there is one (this host has 24 GB and no limit).
   */
  readonly podLimit: { memoryLimitMb: number; eventsPerSec: number; peakRssMb: number }
  readonly p50Ms: number
  readonly p99Ms: number
  readonly p999Ms: number
  readonly latency: Omit<LatencyRun, 'p50Ms' | 'p99Ms' | 'p999Ms'>
  readonly limits: { consumePerSec: number; copyRowsPerSec: number; checkpointsPerSec: number }
  /** Events per second of each peer (median); null for a peer that was skipped (see peerDetails). */
  readonly peers: Record<PeerName, number | null>
  readonly peerDetails: Record<PeerName, PeerDetail>
  readonly ratios: {
    readonly slowerLimit: 'consume' | 'copy'
    readonly batonToSlowerLimit: number
    readonly batonToKafkajsEachMessage: number
    readonly batonToKafkajsEachBatch: number
    /** null when the go peer was skipped. */
    readonly batonToGo: number | null
    /** null when the connect peer was skipped. */
    readonly batonToConnect: number | null
  }
  readonly targets: {
    readonly slowerLimitShare: Target
    readonly vsEachMessage: Target
    readonly vsEachBatch: Target
    readonly p99Ms: Target
    readonly peakRssMb: Target
    /** Issue 17's tighter bound for this 8-partition drain (issue 16's 300 MB holds at any partition count). */
    readonly peakRssTightMb: Target
    /** Issue 17's targets against the go peer; absent when it was skipped. */
    readonly vsGo?: Target
    readonly cpuVsGo?: Target
    readonly peakRssVsGo?: Target
    /** Issue 17's target against the connect peer; absent when it was skipped. */
    readonly vsConnect?: Target
  }
  readonly runs: {
    readonly drains: readonly DrainRun[]
    readonly consumePerSec: readonly number[]
    readonly copyRowsPerSec: readonly number[]
    readonly checkpointsPerSec: readonly number[]
    readonly peers: Readonly<Record<PeerName, readonly PeerRun[]>>
  }
  readonly config: E2eConfig
  readonly sharedWith: string
  readonly machine: MachineInfo
}

/** The run whose events/s is the median (the lower middle one for an even count), with all its figures. */
function medianRun<T extends { eventsPerSec: number }>(runs: readonly T[]): T {
  const sorted = [...runs].sort((a, b) => a.eventsPerSec - b.eventsPerSec)
  const run = sorted[(sorted.length - 1) >> 1]
  if (!run) throw new Error('no runs to report')
  return run
}

const round = (n: number) => Math.round(n)

/** Builds the result from the measurements: no I/O, so it is tested with fixed inputs. */
export function buildE2eResult(m: E2eMeasurements): E2eResult {
  const baton = medianRun(m.drains)
  const eventsPerSec = median(m.drains.map((d) => d.eventsPerSec))
  const consumePerSec = median(m.consume.map((c) => c.consumePerSec))
  const copyRowsPerSec = median(m.copy.map((c) => c.copyRowsPerSec))
  const peers = peerMedians(m.peers, m.peerInfo)
  const eachMessagePerSec = peers.perSec.kafkajsEachMessage ?? Number.NaN
  const eachBatchPerSec = peers.perSec.kafkajsEachBatch ?? Number.NaN
  const cpuSecondsPerMillion = significant(median(m.drains.map((d) => d.cpuSecondsPerMillion)))
  const slowerLimit = consumePerSec <= copyRowsPerSec ? 'consume' : 'copy'
  const peakRssMb = Math.max(m.latency.peakRssMb, ...m.drains.map((d) => d.peakRssMb))
  const ratio = (n: number) => significant(eventsPerSec / n)
  const ratios = {
    slowerLimit,
    batonToSlowerLimit: ratio(Math.min(consumePerSec, copyRowsPerSec)),
    batonToKafkajsEachMessage: ratio(eachMessagePerSec),
    batonToKafkajsEachBatch: ratio(eachBatchPerSec),
    batonToGo: peers.perSec.go === null ? null : ratio(peers.perSec.go),
    batonToConnect: peers.perSec.connect === null ? null : ratio(peers.perSec.connect),
  } as const
  const go = peers.details.go
  const { p50Ms, p99Ms, p999Ms, ...latency } = m.latency
  const ms = (n: number) => significant(n)
  return {
    benchmark: 'e2e',
    at: m.at,
    quick: m.config.quick,
    pipeline: m.config.pipeline ?? 'event-store (built in)',
    eventsPerSec: round(eventsPerSec),
    cpuSecondsPerMillion,
    peakRssMb,
    startupSeconds: significant(baton.startupSeconds),
    podLimit: {
      memoryLimitMb: m.podLimit.memoryLimitMb,
      eventsPerSec: round(m.podLimit.drain.eventsPerSec),
      peakRssMb: m.podLimit.drain.peakRssMb,
    },
    p50Ms: ms(p50Ms),
    p99Ms: ms(p99Ms),
    p999Ms: ms(p999Ms),
    latency: {
      ...latency,
      targetRatePerSec: round(latency.targetRatePerSec),
      ratePerSec: round(latency.ratePerSec),
      seconds: significant(latency.seconds),
      maxMs: ms(latency.maxMs),
    },
    limits: {
      consumePerSec: round(consumePerSec),
      copyRowsPerSec: round(copyRowsPerSec),
      checkpointsPerSec: round(median(m.checkpoints.map((c) => c.checkpointsPerSec))),
    },
    peers: peers.perSec,
    peerDetails: peers.details,
    ratios,
    targets: {
      slowerLimitShare: target('>= 0.5 of the slower limit', ratios.batonToSlowerLimit, (v) => v >= 0.5),
      vsEachMessage: target('>= 5x KafkaJS eachMessage', ratios.batonToKafkajsEachMessage, (v) => v >= 5),
      vsEachBatch: target('>= 1.5x KafkaJS eachBatch', ratios.batonToKafkajsEachBatch, (v) => v >= 1.5),
      p99Ms: target('p99 <= 150 ms at half the e2e rate', ms(p99Ms), (v) => v <= 150),
      peakRssMb: target('peak RSS <= 300 MB', peakRssMb, (v) => v <= 300),
      peakRssTightMb: target('peak RSS <= 200 MB (8 partitions)', peakRssMb, (v) => v <= 200),
      ...(ratios.batonToGo !== null &&
        'eventsPerSec' in go && {
          vsGo: target('>= 1.5x the go peer', ratios.batonToGo, (v) => v >= 1.5),
          cpuVsGo: target(
            `CPU per million events <= the go peer's (${go.cpuSecondsPerMillion} s)`,
            cpuSecondsPerMillion,
            (v) => v <= go.cpuSecondsPerMillion,
          ),
          peakRssVsGo: target(
            `peak RSS <= 2.5x the go peer's (${go.peakRssMb} MB)`,
            peakRssMb,
            (v) => v <= 2.5 * go.peakRssMb,
          ),
        }),
      ...(ratios.batonToConnect !== null && {
        vsConnect: target('>= 3x the connect peer', ratios.batonToConnect, (v) => v >= 3),
      }),
    },
    runs: {
      drains: m.drains.map(roundDrain),
      consumePerSec: m.consume.map((c) => round(c.consumePerSec)),
      copyRowsPerSec: m.copy.map((c) => round(c.copyRowsPerSec)),
      checkpointsPerSec: m.checkpoints.map((c) => round(c.checkpointsPerSec)),
      peers: mapPeers((name) => m.peers[name].map(roundPeer)),
    },
    config: m.config,
    sharedWith: m.sharedWith,
    machine: m.machine,
  }
}

const roundDrain = (d: DrainRun): DrainRun => ({
  eventsPerSec: round(d.eventsPerSec),
  seconds: significant(d.seconds),
  startupSeconds: significant(d.startupSeconds),
  cpuSecondsPerMillion: significant(d.cpuSecondsPerMillion),
  peakRssMb: d.peakRssMb,
})

const roundPeer = (p: PeerRun): PeerRun => ({
  eventsPerSec: round(p.eventsPerSec),
  events: p.events,
  seconds: significant(p.seconds),
  cpuSecondsPerMillion: significant(p.cpuSecondsPerMillion),
  peakRssMb: p.peakRssMb,
})

function mapPeers<T>(f: (name: PeerName) => T): Record<PeerName, T> {
  return Object.fromEntries(peerNames.map((name) => [name, f(name)])) as Record<PeerName, T>
}

/** Each peer's median events/s and median run, or null and the reason it was skipped. */
function peerMedians(
  runs: Readonly<Record<PeerName, readonly PeerRun[]>>,
  info: Readonly<Record<PeerName, PeerInfo>>,
): { perSec: Record<PeerName, number | null>; details: Record<PeerName, PeerDetail> } {
  const ran = (name: PeerName) => runs[name].length > 0
  const skipped = (name: PeerName) => info[name].skipped ?? 'it did not run'
  return {
    perSec: mapPeers((name) => (ran(name) ? round(median(runs[name].map((p) => p.eventsPerSec))) : null)),
    details: mapPeers((name) =>
      ran(name)
        ? { about: info[name].about, ...roundPeer(medianRun(runs[name])) }
        : { about: info[name].about, skipped: skipped(name) },
    ),
  }
}

function target(text: string, value: number, test: (v: number) => boolean): Target {
  return { target: text, value, met: test(value) }
}

/** The table `baton bench e2e` prints: figures, limits, peers, ratios and whether each target is met. */
export function e2eTable(r: E2eResult): string {
  const rate = (n: number, unit = 'ev/s') => `${humanNumber(n)} ${unit}`
  const verdict = (t: Target) => [t.target, t.met ? 'met' : 'MISSED']
  const times = (n: number) => `${n}x`
  const peerRate = (name: PeerName) => {
    const perSec = r.peers[name]
    return perSec === null ? `skipped: ${(r.peerDetails[name] as { skipped: string }).skipped}` : rate(perSec)
  }
  const capped = (name: PeerName) => {
    const d = r.peerDetails[name]
    return 'events' in d && d.events < r.config.events ? ' (capped)' : ''
  }
  const goTargets = (
    [
      ['baton / go', r.targets.vsGo, (t: Target) => times(t.value)],
      ['baton CPU per million events', r.targets.cpuVsGo, (t: Target) => `${t.value} s`],
      ['baton peak RSS', r.targets.peakRssVsGo, (t: Target) => `${t.value} MB`],
      ['baton / connect', r.targets.vsConnect, (t: Target) => times(t.value)],
    ] as const
  ).flatMap(([label, t, show]) => (t ? [[label, show(t), ...verdict(t)]] : []))
  return formatTable([
    ['MEASURE', 'RESULT', 'TARGET', ''],
    [`baton e2e, ${r.pipeline}`, rate(r.eventsPerSec), '', ''],
    ['  CPU per million events', `${r.cpuSecondsPerMillion} s`, '', ''],
    ['  peak RSS', `${r.peakRssMb} MB`, ...verdict(r.targets.peakRssMb)],
    ['', '', ...verdict(r.targets.peakRssTightMb)],
    [
      `  peak RSS, heap sized for a ${r.podLimit.memoryLimitMb} MiB pod`,
      `${r.podLimit.peakRssMb} MB at ${humanNumber(r.podLimit.eventsPerSec)} ev/s`,
      '',
      '',
    ],
    [
      `  latency p50/p99/p999 at ${humanNumber(r.latency.ratePerSec)}/s`,
      `${r.p50Ms} / ${r.p99Ms} / ${r.p999Ms} ms`,
      ...verdict(r.targets.p99Ms),
    ],
    ['limit: kafka-consumer-perf-test', rate(r.limits.consumePerSec, 'msg/s'), '', ''],
    ['limit: COPY, 8 connections', rate(r.limits.copyRowsPerSec, 'rows/s'), '', ''],
    ['limit: Redis checkpoints', rate(r.limits.checkpointsPerSec, '/s'), '', ''],
    [`peer: KafkaJS eachMessage${capped('kafkajsEachMessage')}`, peerRate('kafkajsEachMessage'), '', ''],
    [`peer: KafkaJS eachBatch${capped('kafkajsEachBatch')}`, peerRate('kafkajsEachBatch'), '', ''],
    [`peer: go (franz-go + pgx CopyFrom)${capped('go')}`, peerRate('go'), '', ''],
    [`peer: connect (Kafka Connect + Debezium JDBC sink)${capped('connect')}`, peerRate('connect'), '', ''],
    [
      `baton / slower limit (${r.ratios.slowerLimit})`,
      String(r.ratios.batonToSlowerLimit),
      ...verdict(r.targets.slowerLimitShare),
    ],
    ['baton / eachMessage', times(r.ratios.batonToKafkajsEachMessage), ...verdict(r.targets.vsEachMessage)],
    ['baton / eachBatch', times(r.ratios.batonToKafkajsEachBatch), ...verdict(r.targets.vsEachBatch)],
    ...goTargets,
    [
      'runs',
      `${r.config.runs} x ${humanNumber(r.config.events)} events${r.quick ? ' (quick)' : ''}, median`,
      '',
      '',
    ],
    ['machine', `${r.machine.cores} cores, ${r.machine.cpuModel}, ${r.machine.runtime}`, '', ''],
  ])
}
