/**
 * Chaos scenario 1: nodes crash.
 * - 1a: SIGKILL of a random node every few seconds, restarted after a random delay, 10 rounds
 *   (BATON_CHAOS_SEED repeats a run's choices; the seed is printed).
 * - 1b: a node crashes exactly between a batch's PostgreSQL commit and its Redis checkpoint, three
 *   times (the test-only switch BATON_TEST_CRASH_AFTER_COMMIT, runtime/test-hooks.ts).
 * Shared services; see runner.ts for what every scenario checks at the end.
 */
import { afterEach, expect, test } from 'bun:test'
import Redis from 'ioredis'
import { until } from '../support/until.ts'
import { ChaosScenario, SESSION_TIMEOUT_MS, seededRandom } from './runner.ts'

const ids = ['baton-0', 'baton-1', 'baton-2']
let scenario: ChaosScenario | undefined

afterEach(async () => {
  await scenario?.cleanup()
  scenario = undefined
})

test('1a: SIGKILL of a random node every few seconds, restarted after a random delay, 10 rounds: exactly once, one owner each', async () => {
  const seed = Number(process.env.BATON_CHAOS_SEED ?? Math.floor(Math.random() * 1e9))
  const random = seededRandom(seed)
  scenario = await ChaosScenario.begin({
    id: '1a-sigkill-rounds',
    title: 'SIGKILL of a random node every 2-5 s, restarted 0.5-3 s later, 10 rounds',
  })
  scenario.notes.push(`seed ${seed} (BATON_CHAOS_SEED=${seed} repeats the choices)`)
  await scenario.startNodes(ids)
  scenario.startTraffic()
  await scenario.waitCommitted(2_000)
  const recoveries: Promise<void>[] = []
  for (let round = 1; round <= 10; round++) {
    const running = scenario.liveIds()
    const victim = running[Math.floor(random() * running.length)] as string
    await scenario.kill(victim)
    const killedAt = performance.now()
    await Bun.sleep(500 + random() * 2_500)
    await scenario.startNode(victim, { wait: false })
    recoveries.push(
      scenario.healed(`round ${round}: ${victim} killed`, performance.now() - killedAt, 150_000),
    )
    console.info(
      `[1a] round ${round}: ${victim} SIGKILLed, restarted ${((performance.now() - killedAt) / 1000).toFixed(1)} s later`,
    )
    if (round < 10) await Bun.sleep(2_000 + random() * 3_000)
  }
  // More traffic after the last heal, then the check.
  await scenario.flow(10_000)
  await Promise.all(recoveries)
  const result = await scenario.finish({ ids })
  expect(result.duplicates).toBe(0)
  expect(result.lost).toBe(0)
}, 420_000)

test('1b: a node SIGKILLed between the PostgreSQL commit and the Redis checkpoint, three times: the watermark wins, exactly once', async () => {
  scenario = await ChaosScenario.begin({
    id: '1b-crash-commit-checkpoint',
    title:
      'a node killed after its n-th commit, before the checkpoint (BATON_TEST_CRASH_AFTER_COMMIT), 3 times',
  })
  const s = scenario
  const redis = new Redis(s.env.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 2 })
  try {
    await redis.connect()
    await s.startNodes(ids)
    s.startTraffic()
    await s.waitCommitted(2_000)
    const behind: string[] = []
    const crashesBetween = new Set<number>()
    const recoveries: Promise<void>[] = []
    // baton-2 leaves (SIGTERM), then comes back three times with the switch set, and once without it.
    await s.stop('baton-2')
    const crashes = [25, 60, 40]
    for (const [i, commits] of crashes.entries()) {
      const victim = await s.startNode('baton-2', {
        env: { BATON_TEST_CRASH_AFTER_COMMIT: String(commits) },
        wait: false,
      })
      s.expectExit('baton-2')
      await until(`baton-2 crashing itself after ${commits} commits`, 90_000, async () =>
        victim.proc.signalCode !== null || victim.proc.exitCode !== null ? true : undefined,
      )
      const crashedAt = performance.now()
      expect(victim.proc.signalCode).toBe('SIGKILL')
      expect(victim.output()).toContain(`commit ${commits} done, checkpoint not written`)
      // The crash came between the two writes: some partition's checkpoint is behind its watermark. (Its
      // partitions stay with the dead member until the session timeout, so nobody has moved them on yet.)
      const marks = (await s.watermarks()) ?? new Map<number, number>()
      for (let p = 0; p < s.partitions; p++) {
        const [next] = await redis.hmget(`baton:{${s.group}:${s.topic}:${p}}:checkpoint`, 'next_offset')
        const mark = marks.get(p) ?? 0
        if (next !== null && Number(next) < mark) {
          behind.push(`crash ${i + 1}: partition ${p} checkpoint ${next} < watermark ${mark}`)
          crashesBetween.add(i + 1)
        }
      }
      if (i === crashes.length - 1) await s.startNode('baton-2', { wait: false })
      recoveries.push(
        s.healed(`crash ${i + 1} after commit ${commits}`, performance.now() - crashedAt, 150_000),
      )
    }
    await Promise.all(recoveries)
    console.info(`[1b] ${behind.join('; ')}`)
    s.notes.push(...behind)
    // Every crash left a committed batch without its checkpoint.
    expect([...crashesBetween]).toEqual([1, 2, 3])
    await until('baton-2 ready again', SESSION_TIMEOUT_MS * 6, async () => {
      const res = await fetch(`${s.node('baton-2').url}/readyz`).catch(() => null)
      return res?.status === 200 ? true : undefined
    })
    await s.flow(5_000)
    const result = await s.finish({ ids })
    expect(result.duplicates).toBe(0)
    expect(result.lost).toBe(0)
  } finally {
    redis.disconnect()
  }
}, 420_000)
