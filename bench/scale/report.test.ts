import { describe, expect, test } from 'bun:test'
import type { MachineInfo } from '../kit/benchmark.ts'
import { buildScaleResult, type ScaleMeasurements, scaleTable } from './report.ts'
import { failedRun, type ScaleRun } from './scale-run.ts'

const machine: MachineInfo = {
  cores: 2,
  cpuModel: 'test cpu',
  memoryBytes: 1,
  platform: 'linux',
  arch: 'x64',
  runtime: 'bun test',
}

const run = (partitions: number, eventsPerSec: number, more: Partial<ScaleRun> = {}): ScaleRun => ({
  partitions,
  events: 1_000_000,
  stored: 1_000_000,
  failure: null,
  eventsPerSec,
  drainSeconds: 1_000_000 / eventsPerSec,
  firstCommitSeconds: 1,
  cpuSecondsPerMillion: 2.5,
  pgTransactionsPerMillion: 1_000,
  redisCommandsPerMillion: 20_000,
  peakRssMb: 250,
  rssAfterDrainMb: 150,
  allRunningSeconds: 1,
  maxRunning: partitions,
  sigtermSeconds: 0.5,
  exitCode: 0,
  ...more,
})

const config = {
  partitions: [8, 4096],
  events: 1_000_000,
  valueBytes: 100,
  runs: 3,
  quick: false,
  startTimeoutSeconds: 60,
  stallSeconds: 30,
  sigtermTimeoutSeconds: 30,
}

const measurements: ScaleMeasurements = {
  at: '2026-12-05T00:00:00.000Z',
  config,
  runs: [
    run(8, 180_000),
    run(8, 200_000),
    run(8, 220_000),
    run(4096, 150_000, { cpuSecondsPerMillion: 3, pgTransactionsPerMillion: 2_500, allRunningSeconds: 12 }),
    run(4096, 170_000, { cpuSecondsPerMillion: 3.5, pgTransactionsPerMillion: 3_000, allRunningSeconds: 14 }),
    run(4096, 160_000, { cpuSecondsPerMillion: 3.2, pgTransactionsPerMillion: 2_000, peakRssMb: 320 }),
  ],
  machine,
  sharedWith: 'nothing',
}

// Not a benchmark: the report builder's shape from fixed inputs, which bench/results/scale.json promises.
describe('buildScaleResult', () => {
  const r = buildScaleResult(measurements)

  test('reports each partition count as the median of its runs with their spread', () => {
    expect(r.counts.map((c) => [c.partitions, c.runs, c.drained])).toEqual([
      [8, 3, 3],
      [4096, 3, 3],
    ])
    expect(r.counts[0]?.eventsPerSec).toEqual({ median: 200_000, min: 180_000, max: 220_000 })
    expect(r.counts[1]?.cpuSecondsPerMillion).toEqual({ median: 3.2, min: 3, max: 3.5 })
    expect(r.counts[1]?.peakRssMb).toEqual({ median: 250, min: 250, max: 320 })
  })

  test('judges the largest count against the smallest, and the limits over every run', () => {
    expect(r.targets).toMatchObject({
      eventsPerSec: { value: 0.8, met: true },
      cpuSecondsPerMillion: { value: 1.28, met: false },
      pgTransactionsPerMillion: { value: 2.5, met: false },
      peakRssMb: { value: 320, met: false },
      allRunningSeconds: { value: 14, met: true },
      sigtermSeconds: { value: 0.5, met: true },
    })
  })

  test('with one partition count it judges no ratio, rather than calling one count equal to itself', () => {
    const one = buildScaleResult({
      ...measurements,
      config: { ...config, partitions: [4096] },
      runs: measurements.runs.filter((x) => x.partitions === 4096),
    })
    expect(one.targets.eventsPerSec).toMatchObject({
      value: null,
      met: false,
      notJudged: 'one partition count',
    })
    expect(scaleTable(one)).toContain('not judged: one partition count')
    expect(one.targets.peakRssMb).toMatchObject({ value: 320, met: false })
  })

  test('prints every count and target', () => {
    const table = scaleTable(r)
    expect(table).toMatch(/^8\s+200\.0 k ±10%\s+2\.50 s/m)
    expect(table).toMatch(/^4096\s+160\.0 k ±6%/m)
    expect(table).toMatch(/peak RSS <= 300 MB at every count\s+320\s+MISSED/)
    expect(table).toMatch(/events\/s at 4096 \/ at 8 partitions >= 0\.8\s+0\.8\s+met/)
  })
})

describe('buildScaleResult with a run that did not drain', () => {
  const stuck = run(4096, 0, {
    stored: 244_000,
    failure: 'did not drain: 244,000 of 1,000,000 events stored (nothing was committed for 30 s)',
    eventsPerSec: null,
    drainSeconds: null,
    allRunningSeconds: null,
    maxRunning: 1000,
    sigtermSeconds: null,
    exitCode: null,
  })
  const r = buildScaleResult({
    ...measurements,
    config: { ...config, runs: 1 },
    runs: [run(8, 200_000), stuck],
  })

  test('says what happened, and misses the targets it could not measure rather than inventing figures', () => {
    expect(r.counts[1]).toMatchObject({ drained: 0, eventsPerSec: { median: null } })
    expect(r.counts[1]?.failures).toEqual([
      'run 1: did not drain: 244,000 of 1,000,000 events stored (nothing was committed for 30 s)',
      'run 1: 1000 of 4096 partitions running 60 s after start',
      'run 1: killed 30 s after SIGTERM',
    ])
    expect(r.targets.eventsPerSec).toMatchObject({ value: null, met: false })
    expect(r.targets.cpuSecondsPerMillion).toMatchObject({ value: null, met: false })
    expect(r.targets.allRunningSeconds).toMatchObject({ value: null, met: false })
    expect(r.targets.sigtermSeconds).toMatchObject({ value: null, met: false })
    const table = scaleTable(r)
    expect(table).toContain('4096 partitions, run 1: did not drain: 244,000 of 1,000,000 events stored')
    expect(table).toMatch(/^4096\s+n\/a/m)
  })
})

describe('buildScaleResult with a partition count that failed outright', () => {
  const r = buildScaleResult({
    ...measurements,
    config: { ...config, runs: 1 },
    runs: [run(8, 200_000), failedRun(4096, 1_000_000, new Error('the broker refused the topic'))],
  })

  test('reports the error for that count and measures nothing there', () => {
    expect(r.counts[1]).toMatchObject({ drained: 0, peakRssMb: { median: null } })
    expect(r.counts[1]?.failures[0]).toBe('run 1: failed: the broker refused the topic')
    expect(r.targets.peakRssMb).toMatchObject({ value: null, met: false })
    expect(scaleTable(r)).toContain('4096 partitions, run 1: failed: the broker refused the topic')
  })
})
