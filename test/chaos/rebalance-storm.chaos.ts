/**
 * Chaos scenario 7: a rebalance storm. Five node ids, three running at first; every 3 s for a minute one
 * node joins (starts) or leaves (SIGTERM: drains and leaves the group), 20 changes in all, always two to
 * five running; then the cluster goes back to baton-0..2. Every change moves partitions: drains, new
 * epochs, claims. Shared services.
 */
import { afterEach, expect, test } from 'bun:test'
import { until } from '../support/until.ts'
import { ChaosScenario, seededRandom } from './runner.ts'

const ids = ['baton-0', 'baton-1', 'baton-2']
const pool = [...ids, 'baton-3', 'baton-4']
let scenario: ChaosScenario | undefined

afterEach(async () => {
  await scenario?.cleanup()
  scenario = undefined
})

test('7: nodes joining and leaving 20 times within a minute: exactly once, one owner each at the end', async () => {
  const seed = Number(process.env.BATON_CHAOS_SEED ?? Math.floor(Math.random() * 1e9))
  const random = seededRandom(seed)
  scenario = await ChaosScenario.begin({
    id: '7-rebalance-storm',
    title: '20 joins and leaves (start, SIGTERM) of 5 node ids within 60 s',
  })
  const s = scenario
  s.notes.push(`seed ${seed} (BATON_CHAOS_SEED=${seed} repeats the choices)`)
  await s.startNodes(ids)
  s.startTraffic()
  await s.waitCommitted(3_000)

  const leaving = new Map<string, Promise<number | null>>()
  const exits: string[] = []
  const changes: string[] = []
  const began = performance.now()
  for (let change = 1; change <= 20; change++) {
    const running = s.liveIds().filter((id) => !leaving.has(id))
    const stopped = pool.filter((id) => !running.includes(id) && !leaving.has(id))
    const join = running.length <= 2 || (running.length < 5 && stopped.length > 0 && random() < 0.5)
    if (join && stopped.length > 0) {
      const id = stopped[Math.floor(random() * stopped.length)] as string
      await s.startNode(id, { wait: false })
      changes.push(`+${id}`)
    } else {
      const id = running[Math.floor(random() * running.length)] as string
      leaving.set(
        id,
        s.stop(id, 40_000).then((code) => {
          exits.push(`${id}:${code}`)
          leaving.delete(id)
          return code
        }),
      )
      changes.push(`-${id}`)
    }
    // The next change 3 s after this one began: 20 changes within a minute.
    const next = began + change * 3_000 - performance.now()
    if (next > 0) await Bun.sleep(next)
  }
  const stormMs = performance.now() - began
  await Promise.all(leaving.values())
  // Back to baton-0..2.
  const extras = s.liveIds().filter((id) => !ids.includes(id))
  await Promise.all(extras.map((id) => s.stop(id, 40_000).then((code) => exits.push(`${id}:${code}`))))
  const missing = ids.filter((id) => !s.liveIds().includes(id))
  await Promise.all(missing.map((id) => s.startNode(id, { wait: false })))
  changes.push(...extras.map((id) => `-${id}`), ...missing.map((id) => `+${id}`))
  const healed = s.healed('storm over, back to three nodes', stormMs)
  s.notes.push(
    `changes ${changes.join(' ')} (20 in ${(stormMs / 1000).toFixed(1)} s); exit codes on SIGTERM ${exits.join(' ')}`,
  )
  console.info(`[7] ${s.notes.at(-1)}`)
  await until('baton-0..2 running', 60_000, async () =>
    s.liveIds().join() === ids.join() ? true : undefined,
  )
  await healed
  await s.flow(10_000)
  const result = await s.finish({ ids })
  expect(result.duplicates).toBe(0)
  expect(result.lost).toBe(0)
  expect(changes.length).toBeGreaterThanOrEqual(20)
}, 600_000)
