import { afterEach, describe, expect, test } from 'bun:test'
import type { ClusterView } from '../../cluster/cluster-view.ts'
import type { PartitionView } from '../../runtime/node-api.ts'
import { until } from '../support/until.ts'
import { ClusterScenario } from './harness.ts'

const TOKEN = 'admin-routes-admin-token'

let scenario: ClusterScenario | undefined

afterEach(async () => {
  await scenario?.cleanup()
  scenario = undefined
})

async function call<T = PartitionView & { error?: string }>(
  url: string,
  init: { method?: string; body?: unknown; token?: string | null } = {},
): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' }
  const token = init.token === undefined ? TOKEN : init.token
  if (token !== null) headers.Authorization = `Bearer ${token}`
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: AbortSignal.timeout(60_000),
  })
  return { status: res.status, body: (await res.json()) as T }
}

describe('admin routes in a cluster, sent to a node that does not own the partition', () => {
  test('seek back 1,000 events stores no event twice; pause, resume and restart reach the owner; no token 401, a wrong one 403', async () => {
    scenario = new ClusterScenario()
    await scenario.createTopics()
    await scenario.produce(20_000)
    const env = { BATON_API_TOKEN: TOKEN }
    const [n0, n1] = await Promise.all([
      scenario.startNode('baton-0', env),
      scenario.startNode('baton-1', env),
    ])
    if (!n0 || !n1) throw new Error('a node did not start')
    await scenario.caughtUp(120_000)

    // A partition baton-1 owns, steered through baton-0.
    const partition = await until('a partition owned by baton-1', 60_000, async () => {
      const { body } = await call<ClusterView>(`${n0.url}/v1/cluster`)
      const settled = body.unowned.length === 0 && body.claimedTwice.length === 0
      return settled ? body.partitions.find((p) => p.owner === 'baton-1')?.partition : undefined
    })
    const path = `/v1/actors/${scenario.topic}/${partition}`
    // The registry names a partition's owner as soon as it is assigned, while its actor may still be
    // taking it (status 'starting') for a moment after a rebalance.
    const before = await until('the partition running on its owner', 30_000, async () => {
      const answer = await call(`${n0.url}${path}`)
      return answer.status !== 200 || answer.body.status === 'running' ? answer : undefined
    })
    expect(before.status).toBe(200)
    expect(before.body).toMatchObject({ node: 'baton-1', answeredBy: 'baton-0', status: 'running' })
    const watermark = before.body.committedOffset as number
    expect(watermark).toBeGreaterThan(1_000)

    // Without the token, or with another, nothing is done, on either node.
    for (const url of [n0.url, n1.url]) {
      expect(
        (await call(`${url}${path}/seek`, { method: 'POST', body: { offset: 0 }, token: null })).status,
      ).toBe(401)
      expect(
        (
          await call(`${url}${path}/seek`, {
            method: 'POST',
            body: { offset: 0 },
            token: 'not-the-admin-token',
          })
        ).status,
      ).toBe(403)
    }

    // Seek back 1,000 events (and to the beginning, by time): the actor stops at the watermark.
    const seek = await call(`${n0.url}${path}/seek`, { method: 'POST', body: { offset: watermark - 1_000 } })
    expect(seek.status).toBe(200)
    expect(seek.body).toMatchObject({ node: 'baton-1', answeredBy: 'baton-0', committedOffset: watermark })
    const byTime = await call(`${n0.url}${path}/seek`, {
      method: 'POST',
      body: { timestamp: '1970-01-01T00:00:00Z' },
    })
    expect(byTime.status).toBe(200)

    // Pause and resume through baton-0; the owner's state says so.
    const paused = await call(`${n0.url}${path}/pause`, { method: 'POST' })
    expect(paused.body).toMatchObject({ node: 'baton-1', status: 'paused' })
    const resumed = await call(`${n0.url}${path}/resume`, { method: 'POST' })
    expect(resumed.body).toMatchObject({ node: 'baton-1', status: 'running' })

    // Restart through baton-0: the owner restarts the actor, which takes a new epoch.
    const restarted = await call(`${n0.url}${path}/restart`, { method: 'POST' })
    expect(restarted.status).toBe(200)
    expect(restarted.body.node).toBe('baton-1')
    const after = await until('the restarted actor running', 30_000, async () => {
      const { status, body } = await call(`${n0.url}${path}`)
      return status === 200 && body.status === 'running' && body.epoch > before.body.epoch ? body : undefined
    })
    expect(after.node).toBe('baton-1')

    // More events: every event is stored exactly once, in offset order, the sought-back ones included.
    await scenario.produce(5_000)
    await scenario.caughtUp(120_000)
    expect(await scenario.check()).toEqual({ stored: 25_000, deadLettered: 0 })
    const [row] = await scenario.sql<{ n: number; distinct: number }[]>`
      select count(*)::int as n, count(distinct "offset")::int as distinct from baton_events
      where topic = ${scenario.topic} and partition = ${partition}`
    expect(row?.n).toBe(row?.distinct)
  }, 180_000)

  test('POST /v1/dlq/replay produces the dead letters to their topic again, once, and marks them replayed', async () => {
    const s = new ClusterScenario({ keys: 100, valueBytes: 100, poison: 0.02 })
    scenario = s
    await s.createTopics()
    await s.produce(2_000)
    const node = await s.startNode('baton-0', { BATON_API_TOKEN: TOKEN })
    await s.caughtUp(60_000)
    const letters = async (where: 'all' | 'replayed') => {
      const [row] = await s.sql<{ n: number }[]>`
        select count(*)::int as n from baton_dead_letters
        where group_id = ${s.group} and topic = ${s.topic}
          and (${where} = 'all' or replayed_at is not null)`
      return row?.n ?? 0
    }
    const poison = await letters('all')
    expect(poison).toBe(s.poisonSeqs.size)
    const end = async () => (await s.kafkaOffsets()).end.reduce((a, b) => a + b, 0)
    const before = await end()

    const replay = { method: 'POST', body: { topic: s.topic } }
    expect((await call<{ replayed: number }>(`${node.url}/v1/dlq/replay`, replay)).body).toEqual({
      replayed: poison,
    })
    expect(await end()).toBe(before + poison)
    expect(await letters('replayed')).toBe(poison)
    // Still poison: the node dead-letters each replayed event once more, as a new letter.
    await until('the replayed events dead-lettered again', 60_000, async () =>
      (await letters('all')) === 2 * poison ? true : undefined,
    )
    // Only letters never replayed are selected by topic: a second replay sends the new letters, not the
    // first ones again.
    expect((await call<{ replayed: number }>(`${node.url}/v1/dlq/replay`, replay)).body).toEqual({
      replayed: poison,
    })
    expect(await end()).toBe(before + 2 * poison)
    expect(await letters('replayed')).toBe(2 * poison)
  }, 120_000)
})
