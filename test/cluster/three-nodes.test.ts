import { afterEach, describe, expect, test } from 'bun:test'
import type { ClusterView } from '../../cluster/cluster-view.ts'
import type { NodeProcess } from '../../deploy/local/node-process.ts'
import type { PartitionView } from '../../runtime/node-api.ts'
import { until } from '../support/until.ts'
import { ClusterScenario } from './harness.ts'

/** The brokers' `group.consumer.session.timeout.ms` in the test services (deploy/local/kafka.ts). */
const SESSION_TIMEOUT_MS = 10_000

/** The admin token every node gets; it also passes where a read token is asked for. */
const TOKEN = 'three-nodes-admin-token'

let scenario: ClusterScenario | undefined

afterEach(async () => {
  await scenario?.cleanup()
  scenario = undefined
})

async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url, {
    headers: { Authorization: `Bearer ${TOKEN}` },
    signal: AbortSignal.timeout(10_000),
  })
  return { status: res.status, body: (await res.json()) as T }
}

async function committedAtLeast(scenario: ClusterScenario, events: number): Promise<void> {
  await until(`${events} events committed`, 60_000, async () =>
    (await scenario.committed()) >= events ? true : undefined,
  )
}

/** `/v1/cluster` of `node` once every partition has exactly one owner among `live`, else undefined. */
async function settled(node: NodeProcess, live: string[]): Promise<ClusterView | undefined> {
  const { status, body } = await getJson<ClusterView>(`${node.url}/v1/cluster`)
  if (status !== 200 || body.unowned.length > 0 || body.claimedTwice.length > 0) return undefined
  const ids = body.nodes.map((n) => n.id)
  if (JSON.stringify(ids) !== JSON.stringify(live)) return undefined
  if (body.nodes.some((n) => n.partitions.length === 0 || n.partitions.some((p) => p.epoch === 0)))
    return undefined
  return body
}

/**
 * Asks every node for every partition; resolves the owner and epoch of each partition when all nodes
 * name the same, else undefined (a rebalance is under way). Each answer names the node asked as
 * `answeredBy`.
 */
async function agreedOwners(scenario: ClusterScenario, nodes: Record<string, NodeProcess>) {
  const owners: { node: string; epoch: number }[] = []
  for (let p = 0; p < scenario.partitions; p++) {
    const answers = await Promise.all(
      Object.entries(nodes).map(async ([id, n]) => ({
        id,
        ...(await getJson<PartitionView>(`${n.url}/v1/actors/${scenario.topic}/${p}`)),
      })),
    )
    if (answers.some((a) => a.status !== 200)) return undefined
    for (const a of answers) expect(a.body.answeredBy).toBe(a.id)
    if (new Set(answers.map((a) => `${a.body.node}@${a.body.epoch}`)).size !== 1) return undefined
    const first = answers[0]?.body as PartitionView
    owners.push({ node: first.node, epoch: first.epoch })
  }
  return owners
}

describe('three nodes in one group', () => {
  test('100,000 events exactly once while baton-1 is SIGKILLed and baton-2 restarted with SIGTERM; every node routes to the same owner', async () => {
    const began = performance.now()
    scenario = new ClusterScenario()
    await scenario.createTopics()
    await scenario.produce(10_000)
    const [n0, n1, n2] = await Promise.all(
      ['baton-0', 'baton-1', 'baton-2'].map((id) => scenario?.startNode(id, { BATON_API_TOKEN: TOKEN })),
    )
    if (!n0 || !n1 || !n2) throw new Error('a node did not start')
    const all = ['baton-0', 'baton-1', 'baton-2']

    // All three own partitions, and each of them answers for every partition with the same owner and epoch.
    const before = await until('an even assignment over three nodes', 60_000, () => settled(n0, all))
    const ownersBefore = await until('three nodes agreeing on every owner', 30_000, () =>
      agreedOwners(scenario as ClusterScenario, { 'baton-0': n0, 'baton-1': n1, 'baton-2': n2 }),
    )
    expect(new Set(ownersBefore.map((o) => o.node))).toEqual(new Set(all))

    // SIGKILL baton-1 mid-stream, while events are being produced.
    let producing = scenario.produce(40_000)
    await committedAtLeast(scenario, 15_000)
    const orphaned = before.nodes.find((n) => n.id === 'baton-1')?.partitions ?? []
    expect(orphaned.length).toBeGreaterThan(0)
    await n1.kill()
    const killedAt = performance.now()
    const atKill = await scenario.committed()

    // Until the group moves them, baton-1's partitions get an immediate 503 NO_OWNER from the others.
    const noOwnerSeen: number[] = []
    const recovered = await until(
      "baton-1's partitions running elsewhere",
      SESSION_TIMEOUT_MS * 4,
      async () => {
        const answers = await Promise.all(
          orphaned.map(async ({ partition }) => {
            const asked = performance.now()
            const { status, body } = await getJson<PartitionView & { error?: string }>(
              `${n0.url}/v1/actors/${scenario?.topic}/${partition}`,
            )
            if (status === 503) {
              expect(body.error).toBe('NO_OWNER')
              noOwnerSeen.push(performance.now() - asked)
            }
            return status === 200 && body.node !== 'baton-1' && body.status === 'running' ? body : undefined
          }),
        )
        return answers.every((a) => a !== undefined) ? answers : undefined
      },
    )
    const recoveryMs = performance.now() - killedAt
    console.info(
      `[three-nodes] baton-1 (${orphaned.length} partitions) SIGKILLed: owned again after ${(recoveryMs / 1000).toFixed(1)} s ` +
        `(group session timeout ${SESSION_TIMEOUT_MS / 1000} s), now on ${[...new Set(recovered.map((r) => r.node))].join(', ')}; ` +
        `${noOwnerSeen.length} NO_OWNER answers meanwhile, the slowest in ${Math.max(0, ...noOwnerSeen).toFixed(0)} ms`,
    )
    expect(noOwnerSeen.length).toBeGreaterThan(0)
    for (const r of recovered) {
      const old = orphaned.find((o) => o.partition === r.partition)?.epoch ?? 0
      expect(r.epoch).toBeGreaterThan(old)
    }
    // The session timeout, plus a heartbeat to learn of the new assignment and the actor's start.
    expect(recoveryMs).toBeLessThan(SESSION_TIMEOUT_MS + 10_000)
    await producing
    expect(atKill).toBeLessThan(scenario.produced)

    // SIGTERM baton-2 mid-stream: it drains and leaves; then it starts again under the same id.
    producing = scenario.produce(30_000)
    await committedAtLeast(scenario, 55_000)
    const atStop = await scenario.committed()
    expect(await n2.stop()).toBe(0)
    await producing
    expect(atStop).toBeLessThan(scenario.produced)
    const restarted = await scenario.startNode('baton-2', { BATON_API_TOKEN: TOKEN })
    await scenario.produce(20_000)
    await scenario.caughtUp(120_000)
    expect(await scenario.check()).toEqual({ stored: 100_000, deadLettered: 0 })

    // The end: the two live nodes agree on every owner and epoch, nothing unowned or claimed twice.
    const live = ['baton-0', 'baton-2']
    for (const node of [n0, restarted]) {
      const view = await until(`/v1/cluster of ${node.url} settled`, 30_000, () => settled(node, live))
      expect(view.unowned).toEqual([])
      expect(view.claimedTwice).toEqual([])
    }
    const ownersAfter = await until('the live nodes agreeing on every owner', 30_000, () =>
      agreedOwners(scenario as ClusterScenario, { 'baton-0': n0, 'baton-2': restarted }),
    )
    expect(new Set(ownersAfter.map((o) => o.node))).toEqual(new Set(live))
    console.info(
      `[three-nodes] committed at the SIGKILL ${atKill}, at the SIGTERM ${atStop} (of ${scenario.produced})`,
    )
    console.info(`[three-nodes] done in ${((performance.now() - began) / 1000).toFixed(1)} s`)
  }, 240_000)
})
