import { afterEach, describe, expect, test } from 'bun:test'
import { parseExposition, total } from '../operate/exposition.ts'
import { ClusterScenario } from './harness.ts'

let scenario: ClusterScenario | undefined

// Deleting a topic of 256 partitions and its rows takes longer than bun's 5 s default on a busy machine.
afterEach(async () => {
  await scenario?.cleanup()
  scenario = undefined
}, 60_000)

describe('cluster mode: a node-wide fetch budget (BATON_FETCH_BUFFER_BYTES)', () => {
  test('a node with a 64 KiB budget and 256 partitions drains the topic exactly once; the buffer never outgrows the budget and is empty once all is committed', async () => {
    const limit = 64 * 1024
    scenario = new ClusterScenario({ keys: 1000, valueBytes: 100, poison: 0 }, { partitions: 256 })
    await scenario.createTopics()
    await scenario.produce(30_000)
    const node = await scenario.startNode('baton-0', { BATON_FETCH_BUFFER_BYTES: String(limit) })

    // While it drains, what the node holds stays within the budget (plus one record batch, which the
    // broker sends whole to the first partition of a fetch).
    let peak = 0
    let scrapes = 0
    const deadline = Date.now() + 180_000
    while ((await scenario.committed()) < scenario.produced && Date.now() < deadline) {
      const e = parseExposition(await (await fetch(`${node.url}/metrics`)).text())
      expect(total(e, 'baton_fetch_buffer_limit_bytes')).toBe(limit)
      peak = Math.max(peak, total(e, 'baton_fetch_buffer_bytes'))
      scrapes++
      await Bun.sleep(100)
    }
    await scenario.caughtUp(1_000)
    expect(await scenario.check()).toEqual({ stored: 30_000, deadLettered: 0 })
    expect(scrapes).toBeGreaterThan(0)
    expect(peak).toBeLessThanOrEqual(limit + 64 * 1024)
    // Records hold their bytes until committed: with everything committed, nothing is held. A hold that
    // leaked would keep its partition's share spent, and the partition unfetched, for good.
    let held = Number.NaN
    for (let i = 0; i < 50 && held !== 0; i++) {
      held = total(
        parseExposition(await (await fetch(`${node.url}/metrics`)).text()),
        'baton_fetch_buffer_bytes',
      )
      if (held !== 0) await Bun.sleep(100)
    }
    expect(held).toBe(0)
    expect(await node.stop()).toBe(0)
  }, 300_000)
})
