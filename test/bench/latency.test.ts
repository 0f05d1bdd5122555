import { expect, test } from 'bun:test'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { latencyBenchmark } from '../../bench/latency.ts'

// `baton bench latency` end to end on the real services, as light as it gets: a given max rate of 400
// events/s (no max-rate phase) and 2 measured seconds per rate. What it must produce, not how fast.

test('bench latency measures each rate second by second and draws both charts', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'baton-bench-latency-'))
  try {
    const out = join(dir, 'latency.json')
    const code = await latencyBenchmark.run(['--max-rate', '400', '--max-seconds', '2', '--out', out])
    expect(code).toBe(0)
    const result = JSON.parse(await readFile(out, 'utf8'))
    expect(result.maxRatePerSec).toBe(400)
    expect(result.postgres.settings.checkpoint_timeout).toBe('30s')
    expect(result.postgres.settings.max_wal_size).toBe('16GB')
    expect(result.postgres.settings.backend_flush_after).toBe('2MB')
    expect(result.rates.map((r: { share: number }) => r.share)).toEqual([0.1, 0.5, 0.8])
    for (const rate of result.rates) {
      expect(rate.batches).toBeGreaterThan(0)
      expect(rate.p99Ms).toBeGreaterThan(0)
      expect(rate.timeline.length).toBeGreaterThanOrEqual(2)
      expect(rate.timeline.reduce((n: number, s: { events: number }) => n + s.events, 0)).toBeGreaterThan(0)
    }
    expect(Object.keys(result.targets)).toHaveLength(4)
    for (const chart of ['latency-curve.svg', 'latency-timeline.svg'])
      expect(await readFile(join(dir, chart), 'utf8')).toStartWith('<svg')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}, 120_000)
