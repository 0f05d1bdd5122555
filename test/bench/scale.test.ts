import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type ScaleResult, scaleFigures } from '../../bench/scale/report.ts'
import { scaleBenchmark } from '../../bench/scale.ts'
import { serviceEnv } from '../support/env.ts'

// `baton bench scale` at a tiny size on the real services: it runs a node per partition count to the
// end and writes every figure it promises. Not a measurement: nothing here is timed.

serviceEnv()
const dir = await mkdtemp(join(tmpdir(), 'baton-bench-scale-'))
const out = join(dir, 'scale.json')

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('baton bench scale', () => {
  test('drains 5,000 events at 4 and at 16 partitions and reports each count', async () => {
    const args = ['--partitions', '4,16', '--events', '5000', '--runs', '1', '--out', out]
    expect(await scaleBenchmark.run(args)).toBe(0)
    const result = JSON.parse(await readFile(out, 'utf8')) as ScaleResult

    expect(result.benchmark).toBe('scale')
    expect(result.counts.map((c) => [c.partitions, c.runs, c.drained, c.failures])).toEqual([
      [4, 1, 1, []],
      [16, 1, 1, []],
    ])
    for (const count of result.counts)
      for (const figure of scaleFigures)
        expect(Object.keys(count[figure]).sort()).toEqual(['max', 'median', 'min'])

    expect(result.runs).toHaveLength(2)
    expect(result.counts.reduce((n, c) => n + c.runs, 0)).toBe(result.runs.length)
    for (const run of result.runs) {
      // Every event stored once, every partition ran, and the node stopped by itself on SIGTERM.
      expect(run).toMatchObject({ events: 5_000, stored: 5_000, failure: null, exitCode: 0 })
      expect(run.maxRunning).toBe(run.partitions)
      for (const figure of [
        'eventsPerSec',
        'peakRssMb',
        'rssAfterDrainMb',
        'allRunningSeconds',
        'sigtermSeconds',
      ] as const)
        expect(run[figure]).toBeGreaterThan(0)
    }
    expect(Object.keys(result.targets).sort()).toEqual([
      'allRunningSeconds',
      'cpuSecondsPerMillion',
      'eventsPerSec',
      'peakRssMb',
      'pgTransactionsPerMillion',
      'sigtermSeconds',
    ])
    expect(result.config).toMatchObject({ partitions: [4, 16], events: 5_000, runs: 1 })
  }, 300_000)
})
