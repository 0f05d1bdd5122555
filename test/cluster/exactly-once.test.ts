import { afterEach, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { ClusterScenario } from './harness.ts'

let scenario: ClusterScenario | undefined

afterEach(async () => {
  await scenario?.cleanup()
  scenario = undefined
})

describe('cluster mode: Kafka to PostgreSQL exactly once', () => {
  test('50,000 events over 8 partitions land once, in offset order; 1% poison lands in the DLQ once; Kafka offsets committed to the end', async () => {
    scenario = new ClusterScenario({ keys: 1000, valueBytes: 100, poison: 0.01 })
    await scenario.createTopics()
    await scenario.produce(50_000)
    await scenario.startNode('baton-0')
    await scenario.caughtUp(120_000)
    const { stored, deadLettered } = await scenario.check()
    expect(deadLettered).toBe(scenario.poisonSeqs.size)
    expect(stored + deadLettered).toBe(50_000)

    // Kafka's committed offsets reach the end offsets (lag tooling sees the truth); commits are coalesced.
    const deadline = Date.now() + 15_000
    let offsets = await scenario.kafkaOffsets()
    while (JSON.stringify(offsets.committed) !== JSON.stringify(offsets.end) && Date.now() < deadline) {
      await Bun.sleep(250)
      offsets = await scenario.kafkaOffsets()
    }
    expect(offsets.committed).toEqual(offsets.end)

    const [published] = await scenario.sql<{ n: number }[]>`
      select count(*)::int as n from baton_dead_letters
      where group_id = ${scenario.group} and topic = ${scenario.topic} and published_at is not null`
    expect(published?.n).toBe(deadLettered)
    expect(await scenario.nodes[0]?.stop()).toBe(0)
  }, 180_000)

  test('the node killed with SIGKILL mid-stream and restarted: still exactly once', async () => {
    scenario = new ClusterScenario()
    await scenario.createTopics()
    await scenario.produce(40_000)
    const first = await scenario.startNode('baton-0')
    const deadline = Date.now() + 60_000
    while ((await scenario.committed()) < 8_000 && Date.now() < deadline) await Bun.sleep(20)
    await first.kill()
    const atKill = await scenario.committed()
    expect(atKill).toBeLessThan(40_000)
    await scenario.produce(10_000)
    await scenario.startNode('baton-0')
    await scenario.caughtUp(120_000)
    expect(await scenario.check()).toEqual({ stored: 50_000, deadLettered: 0 })
  }, 180_000)

  test('a pipeline that throws for one key: those events are retried, then dead-lettered once; the rest is stored in order', async () => {
    scenario = new ClusterScenario({ keys: 50, valueBytes: 100, poison: 0 })
    await scenario.createTopics()
    await scenario.produce(5_000)
    await scenario.startNode('baton-0', {
      BATON_PIPELINE: join(import.meta.dir, 'fixtures', 'refuses-key-13.ts'),
      BATON_MAX_RETRIES: '1',
    })
    await scenario.caughtUp(120_000)
    const { stored, deadLettered } = await scenario.check()
    expect(deadLettered).toBe(100)
    expect(stored).toBe(4_900)
    const letters = await scenario.sql<{ error: string; attempts: number; key: Buffer }[]>`
      select error, attempts, key from baton_dead_letters where group_id = ${scenario.group}`
    for (const l of letters) {
      expect(l.key.toString()).toBe('key-13')
      expect(l.error).toContain('refuses key-13')
      expect(l.attempts).toBe(2)
    }
  }, 180_000)
})
