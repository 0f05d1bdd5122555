/**
 * Chaos scenario 6: network faults between one node and each service. baton-2 runs in a network
 * namespace of its own (netns.ts), so all its traffic to Kafka, PostgreSQL and Redis passes a toxic proxy
 * of this suite under the services' real addresses; the other two nodes are untouched. For each service in
 * turn: 400 ms of added latency each way for 8 s, every connection cut (TCP RST) and new ones refused for
 * 3 s, and a blackhole for 12 s (nothing passes, nothing closes: longer than the group's session timeout,
 * so a Kafka blackhole moves baton-2's partitions away while it still runs). Shared services.
 *
 * Needs root for `ip netns` (as CI runs); the namespace and its bridge are removed afterwards.
 */
import { afterEach, expect, test } from 'bun:test'
import type { ClusterView } from '../../cluster/cluster-view.ts'
import { freeLoopbackPort } from '../../deploy/local/ports.ts'
import { Netns } from './netns.ts'
import { ChaosScenario } from './runner.ts'
import type { ToxicProxy, Toxics } from './toxic-proxy.ts'

const ids = ['baton-0', 'baton-1', 'baton-2']
let scenario: ChaosScenario | undefined
let ns: Netns | undefined

afterEach(async () => {
  await scenario?.cleanup()
  await ns?.delete()
  scenario = undefined
  ns = undefined
})

const portOf = (url: string) => Number(new URL(url.includes('://') ? url : `tcp://${url}`).port)

test('6: latency, cut connections and a blackhole between one node and Kafka, PostgreSQL and Redis: exactly once, one owner each', async () => {
  scenario = await ChaosScenario.begin({
    id: '6-network',
    title:
      'baton-2 <-> Kafka, PostgreSQL, Redis in turn: +400 ms latency 8 s, connections cut 3 s, blackhole 12 s',
  })
  const s = scenario
  const httpPort = await freeLoopbackPort()
  const brokers = s.env.KAFKA_BROKERS.split(',')
  if (brokers.length !== 1)
    throw new Error('the network scenario bridges one broker; the local services have one')
  ns = await Netns.create(
    [
      { name: 'Kafka', port: portOf(brokers[0] as string) },
      { name: 'PostgreSQL', port: portOf(s.env.DATABASE_URL) },
      { name: 'Redis', port: portOf(s.env.REDIS_URL) },
    ],
    [httpPort],
  )
  const namespace = ns
  await Promise.all([
    s.startNode('baton-0'),
    s.startNode('baton-1'),
    s.startNode('baton-2', { wrap: namespace.wrap, port: httpPort }),
  ])
  await s.settledOwnership(ids, 90_000)
  s.startTraffic()
  await s.waitCommitted(3_000)

  const faults: [string, Partial<Toxics>, number][] = [
    ['+400 ms latency', { latencyMs: 400 }, 8_000],
    ['connections cut (RST) and refused', { reset: true }, 3_000],
    ['blackhole', { blackhole: true }, 12_000],
  ]
  // baton-2's partitions, and how far their watermarks moved while a blackhole held.
  const ownedBy = async (node: string) => {
    const { body } = await s.get<ClusterView>(s.node('baton-0').url, '/v1/cluster')
    return body.partitions.filter((p) => p.owner === node).map((p) => p.partition)
  }
  const progress = async (partitions: number[]) => {
    const marks = (await s.watermarks()) ?? new Map<number, number>()
    return partitions.map((p) => marks.get(p) ?? 0)
  }
  for (const service of ['PostgreSQL', 'Redis', 'Kafka']) {
    const link = namespace.links.get(service) as ToxicProxy
    for (const [what, toxics, holdMs] of faults) {
      const cutBefore = link.counts.reset
      let mine: number[] = []
      let marksBefore: number[] = []
      let effect = ''
      await s.fault(
        `baton-2 <-> ${service}: ${what}`,
        async () => {
          mine = await ownedBy('baton-2')
          marksBefore = await progress(mine)
          link.toxics(toxics)
        },
        async () => {
          if (toxics.blackhole) {
            const moved = (await progress(mine)).map((m, i) => m - (marksBefore[i] ?? 0))
            const nowOwned = await ownedBy('baton-2')
            effect = `baton-2's partitions ${mine.join(',')} moved by ${moved.join(',')} events; baton-2 owns ${nowOwned.join(',') || 'none'} at the heal`
            // Kafka: cut off from the group past the session timeout, the others took its partitions.
            if (service === 'Kafka') expect(mine.filter((p) => nowOwned.includes(p))).toEqual([])
            // PostgreSQL: no commit got through. (Redis: checkpoint writes time out and the flow goes on
            // without them, by design: the watermark is the truth.)
            if (service === 'PostgreSQL') expect(moved.every((m) => m === 0)).toBe(true)
          }
          link.heal()
        },
        { holdMs, recoveryTimeoutMs: 120_000 },
      )
      if (effect) {
        s.notes.push(`${service} blackhole: ${effect}`)
        console.info(`[6] ${service} blackhole: ${effect}`)
      }
      if (toxics.reset) expect(link.counts.reset).toBeGreaterThan(cutBefore)
      await s.flow(2_000)
    }
  }
  s.notes.push(
    `connections through the proxies: ${[...namespace.links].map(([n, l]) => `${n} ${l.counts.accepted} (${l.counts.reset} cut)`).join(', ')}`,
  )
  await s.flow(8_000)
  const result = await s.finish({ ids })
  expect(result.duplicates).toBe(0)
  expect(result.lost).toBe(0)
}, 600_000)
