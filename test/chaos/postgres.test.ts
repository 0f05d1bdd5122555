/**
 * Chaos scenario 3: PostgreSQL fails under three nodes. First it crashes and restarts at once
 * (`pg_ctl restart -m immediate`: SIGQUIT, recovery from the WAL); then it is stopped for 20 s. While it
 * is away every partition's circuit opens (its actor reports `sink-down` and fetching pauses), memory stays
 * under the bound, and after it is back the nodes catch up. PostgreSQL is private to this file; Kafka and
 * Redis are the shared ones.
 */
import { expect, test } from 'bun:test'
import { startService, stopService } from '../../deploy/local/services.ts'
import type { PartitionView } from '../../runtime/node-api.ts'
import { ChaosScenario, scenarioFile } from './runner.ts'

const ids = ['baton-0', 'baton-1', 'baton-2']
const file = scenarioFile(['postgres'])

test('3: PostgreSQL crash-restarted, then stopped for 20 s: circuits open, memory bounded, catch-up exactly once', async () => {
  file.scenario = await ChaosScenario.begin({
    id: '3-postgres',
    title: 'PostgreSQL restarted with -m immediate; then stopped for 20 s',
    services: file.services,
    rssBoundMb: 400,
  })
  const s = file.scenario
  const dir = file.services.dir
  await s.startNodes(ids)
  s.startTraffic()
  await s.waitCommitted(3_000)
  await s.fault(
    'PostgreSQL restarted (-m immediate)',
    () => stopService('postgres', { dir, mode: 'immediate' }),
    () => startService('postgres', { dir }),
    { holdMs: 0 },
  )
  await s.flow(5_000)

  // While it is stopped, what each node says about the partitions it runs (asked directly, not forwarded).
  const seen = { views: 0, sinkDown: 0, open: new Set<string>() }
  let watching = false
  const watch = async () => {
    while (watching) {
      for (const id of ids) {
        for (let p = 0; p < s.partitions; p++) {
          const v = await s
            .get<PartitionView>(s.node(id).url, `/v1/actors/${s.topic}/${p}`, {
              'X-Baton-Forwarded-By': 'chaos-check',
            })
            .catch(() => null)
          if (v?.status !== 200) continue
          seen.views++
          if (v.body.status === 'sink-down') {
            seen.sinkDown++
            seen.open.add(`${p}`)
          }
        }
      }
      await Bun.sleep(1_000)
    }
  }
  let watcher: Promise<void> = Promise.resolve()
  await s.fault(
    'PostgreSQL stopped for 20 s',
    async () => {
      await stopService('postgres', { dir, mode: 'graceful' })
      watching = true
      watcher = watch()
    },
    async () => {
      watching = false
      await watcher
      await startService('postgres', { dir })
    },
    { holdMs: 20_000 },
  )
  s.notes.push(
    `while PostgreSQL was stopped: ${seen.sinkDown} of ${seen.views} partition views said 'sink-down' (circuit open), partitions ${[...seen.open].sort().join(',')}`,
  )
  await s.flow(10_000)
  const result = await s.finish({ ids })
  expect(result.duplicates).toBe(0)
  expect(result.lost).toBe(0)
  // Every partition's circuit opened while the sink was away.
  expect(seen.open.size).toBe(s.partitions)
}, 600_000)
