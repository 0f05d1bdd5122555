/**
 * Chaos scenario 4: Redis fails under three nodes. First it is killed, its data deleted (append-only file
 * and all) and started empty: epochs and checkpoints are gone, and the sink's watermarks must carry
 * exactly-once on their own. Then it is stopped for 20 s. Redis is private to this file; Kafka and
 * PostgreSQL are the shared ones.
 */
import { expect, test } from 'bun:test'
import { readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { servicesStatus, startService, stopService } from '../../deploy/local/services.ts'
import { ChaosScenario, scenarioFile } from './runner.ts'

const ids = ['baton-0', 'baton-1', 'baton-2']
const file = scenarioFile(['redis'])

test('4: Redis restarted with its data lost, then stopped for 20 s: the watermark keeps it exactly once', async () => {
  file.scenario = await ChaosScenario.begin({
    id: '4-redis',
    title: 'Redis killed and started with its data deleted; then stopped for 20 s',
    services: file.services,
  })
  const s = file.scenario
  const dir = file.services.dir
  const redis = (await servicesStatus({ dir })).find((x) => x.name === 'redis')
  const dataDir = redis?.dataDir
  if (!dataDir) throw new Error('the private Redis has no data folder on record')
  await s.startNodes(ids)
  s.startTraffic()
  await s.waitCommitted(3_000)
  let deleted = 0
  await s.fault(
    'Redis killed, its data deleted, started empty',
    async () => {
      await stopService('redis', { dir, mode: 'kill' })
      for (const entry of readdirSync(dataDir)) {
        rmSync(join(dataDir, entry), { recursive: true, force: true })
        deleted++
      }
    },
    () => startService('redis', { dir }),
    { holdMs: 2_000 },
  )
  expect(deleted).toBeGreaterThan(0)
  // Partitions move on the emptied Redis: their new owners take epochs from counters that start afresh,
  // raised above the epochs the sink's watermarks hold.
  expect(await s.stop('baton-2')).toBe(0)
  await s.startNode('baton-2')
  await s.settledOwnership(ids, 60_000)
  await s.flow(3_000)
  // A node leaves while Redis is stopped: its partitions' next owners cannot take an epoch until it is back.
  let leftWhileDown: number | null = null
  await s.fault(
    'Redis stopped for 20 s (baton-1 leaves meanwhile)',
    async () => {
      await stopService('redis', { dir, mode: 'graceful' })
      leftWhileDown = await s.stop('baton-1')
    },
    () => startService('redis', { dir }),
    { holdMs: 20_000 },
  )
  s.notes.push(`baton-1 left while Redis was down with exit code ${leftWhileDown}`)
  await s.startNode('baton-1')
  await s.flow(10_000)
  const result = await s.finish({ ids })
  expect(result.duplicates).toBe(0)
  expect(result.lost).toBe(0)
}, 600_000)
