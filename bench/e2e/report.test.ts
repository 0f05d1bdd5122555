import { describe, expect, test } from 'bun:test'
import type { MachineInfo } from '../kit/benchmark.ts'
import { buildE2eResult, type E2eMeasurements, e2eTable } from './report.ts'

const machine: MachineInfo = {
  cores: 2,
  cpuModel: 'test cpu',
  memoryBytes: 1,
  platform: 'linux',
  arch: 'x64',
  runtime: 'bun test',
}

const drain = (eventsPerSec: number, peakRssMb: number) => ({
  eventsPerSec,
  seconds: 10,
  startupSeconds: 1,
  cpuSecondsPerMillion: 5,
  peakRssMb,
})
const peer = (eventsPerSec: number, events: number, peakRssMb = 100) => ({
  eventsPerSec,
  events,
  seconds: 10,
  cpuSecondsPerMillion: 8,
  peakRssMb,
})
const about = (consumer: string) => ({ consumer, writes: 'w', guarantee: 'g' })

const measurements: E2eMeasurements = {
  at: '2025-01-01T00:00:00.000Z',
  config: {
    events: 100_000,
    partitions: 8,
    valueBytes: 100,
    keys: 1000,
    runs: 3,
    quick: false,
    latencySeconds: 20,
    eachMessageMaxSeconds: 10,
    pipeline: null,
  },
  drains: [drain(90_000, 200), drain(100_000, 250), drain(110_000, 220)],
  podLimit: { memoryLimitMb: 1024, drain: drain(95_000, 180) },
  latency: {
    targetRatePerSec: 50_000,
    ratePerSec: 49_900,
    seconds: 20,
    warmupSeconds: 5,
    events: 998_000,
    p50Ms: 40,
    p99Ms: 120,
    p999Ms: 180,
    maxMs: 200,
    peakRssMb: 260,
    measuredBy: "the node's histogram",
    storedPerSec: 49_800,
    batches: 9_000,
    pgCheckpoints: 1,
    walMb: 300,
    postgres: { checkpoint_timeout: '5min' },
    timeline: [],
  },
  consume: [{ consumePerSec: 400_000, fetchSeconds: 1 }],
  copy: [
    { copyRowsPerSec: 150_000, seconds: 1 },
    { copyRowsPerSec: 250_000, seconds: 1 },
  ],
  checkpoints: [{ checkpointsPerSec: 50_000 }],
  peers: {
    kafkajsEachMessage: [peer(4_000, 40_000)],
    kafkajsEachBatch: [peer(50_000, 100_000), peer(70_000, 100_000), peer(60_000, 100_000)],
    go: [peer(80_000, 100_000, 90), peer(40_000, 100_000, 80), peer(50_000, 100_000, 70)],
    connect: [peer(20_000, 100_000, 1200), peer(30_000, 100_000, 1300), peer(40_000, 100_000, 1100)],
  },
  peerInfo: {
    kafkajsEachMessage: { about: about('KafkaJS eachMessage') },
    kafkajsEachBatch: { about: about('KafkaJS eachBatch') },
    go: { about: about('franz-go v1.22.3') },
    connect: { about: about('Kafka Connect 4.1.1') },
  },
  machine,
  sharedWith: 'nothing',
}

// Not a benchmark: the report builder's shape from fixed inputs, which bench/results/e2e.json promises.
describe('buildE2eResult', () => {
  const r = buildE2eResult(measurements)

  test('reports the medians and the fields the contract names', () => {
    expect(r).toMatchObject({
      benchmark: 'e2e',
      eventsPerSec: 100_000,
      cpuSecondsPerMillion: 5,
      peakRssMb: 260,
      p50Ms: 40,
      p99Ms: 120,
      p999Ms: 180,
      podLimit: { memoryLimitMb: 1024, eventsPerSec: 95_000, peakRssMb: 180 },
      limits: { consumePerSec: 400_000, copyRowsPerSec: 200_000, checkpointsPerSec: 50_000 },
      peers: { kafkajsEachMessage: 4_000, kafkajsEachBatch: 60_000, go: 50_000, connect: 30_000 },
      machine: { cores: 2, cpuModel: 'test cpu' },
    })
  })

  test('divides baton by the slower limit and by each peer, and judges the targets', () => {
    expect(r.ratios).toEqual({
      slowerLimit: 'copy',
      batonToSlowerLimit: 0.5,
      batonToKafkajsEachMessage: 25,
      batonToKafkajsEachBatch: 1.67,
      batonToGo: 2,
      batonToConnect: 3.33,
    })
    expect(Object.values(r.targets).map((t) => t.met)).toEqual([
      true,
      true,
      true,
      true,
      true,
      false,
      true,
      true,
      false,
      true,
    ])
    expect(r.targets.peakRssTightMb).toMatchObject({ value: 260, met: false })
    // 260 MB against 2.5 x the median go run's 70 MB.
    expect(r.targets.peakRssVsGo).toMatchObject({ value: 260, met: false })
  })

  test("reports a peer's median run with what it is", () => {
    expect(r.peerDetails.go).toEqual({ about: about('franz-go v1.22.3'), ...peer(50_000, 100_000, 70) })
    expect(r.runs.peers.go).toHaveLength(3)
  })

  test('prints every figure in the table', () => {
    const table = e2eTable(r)
    for (const text of [
      '100.0 k ev/s',
      '40 / 120 / 180 ms',
      '200.0 k rows/s',
      '(capped)',
      '25x',
      '50.0 k ev/s',
    ])
      expect(table).toContain(text)
    expect(table).toMatch(/baton \/ go\s+2x\s+>= 1.5x the go peer\s+met/)
    expect(table).toMatch(/baton \/ connect\s+3.33x\s+>= 3x the connect peer\s+met/)
  })
})

describe('buildE2eResult without the go peer', () => {
  const reason = '`go` is not on PATH'
  const r = buildE2eResult({
    ...measurements,
    peers: { ...measurements.peers, go: [] },
    peerInfo: { ...measurements.peerInfo, go: { about: about('franz-go'), skipped: reason } },
  })

  test('records it as skipped with the reason, not as a figure, and judges no target against it', () => {
    expect(r.peers.go).toBeNull()
    expect(r.peerDetails.go).toEqual({ about: about('franz-go'), skipped: reason })
    expect(r.ratios.batonToGo).toBeNull()
    expect(Object.keys(r.targets)).not.toContain('vsGo')
    expect(e2eTable(r)).toContain(`skipped: ${reason}`)
  })
})

describe('buildE2eResult without the connect peer', () => {
  const reason = 'Java 17+ (java) was not found'
  const r = buildE2eResult({
    ...measurements,
    peers: { ...measurements.peers, connect: [] },
    peerInfo: { ...measurements.peerInfo, connect: { about: about('Kafka Connect'), skipped: reason } },
  })

  test('records it as skipped with the reason and judges no target against it', () => {
    expect(r.peers.connect).toBeNull()
    expect(r.peerDetails.connect).toEqual({ about: about('Kafka Connect'), skipped: reason })
    expect(r.ratios.batonToConnect).toBeNull()
    expect(Object.keys(r.targets)).not.toContain('vsConnect')
    expect(e2eTable(r)).toContain(`skipped: ${reason}`)
  })
})
