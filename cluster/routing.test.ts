import { describe, expect, test } from 'bun:test'
import type { Hono } from 'hono'
import { BatonError } from '../actors/core/errors.ts'
import { tpString } from '../actors/ports.ts'
import { createApi } from '../runtime/http/app.ts'
import { jsonOf, type TestNode, testNode } from '../runtime/http/test-node.ts'
import type { NodeApi, PartitionView } from '../runtime/node-api.ts'
import type { OwnedPartition } from './coordinator.ts'
import type { ForwardOptions } from './forward.ts'
import type { Member, MembershipRegistry } from './membership.ts'
import { createPeers } from './peers.ts'

const TOKEN = 'routing-admin-token'
const auth = { Authorization: `Bearer ${TOKEN}` }
const canned = await testNode().partition('events', 0)

/** A node `id` of the test cluster whose partition state names it as owner. */
function ownerNode(id: string, overrides: Partial<NodeApi> = {}): TestNode {
  const view = (topic: string, partition: number, status: PartitionView['status'] = 'running') => ({
    ...canned,
    topic,
    partition,
    status,
    node: id,
    answeredBy: id,
  })
  return testNode({
    nodeId: id,
    partition: async (topic, partition) => view(topic, partition),
    pause: async (topic, partition) => view(topic, partition, 'paused'),
    seek: async (topic, partition) => view(topic, partition),
    ...overrides,
  })
}

const member = (id: string, epoch: number, updatedAt = '2026-01-01T00:00:00.000Z'): Member => ({
  id,
  httpUrl: `http://${id}.test`,
  startedAt: '2026-01-01T00:00:00.000Z',
  updatedAt,
  partitions: [{ topic: 'events', partition: 3, epoch }],
})

function registryOf(members: () => Promise<Member[]>): MembershipRegistry {
  return {
    keys: { ids: 'ids', member: (id) => id },
    join() {},
    changed() {},
    members,
    problem: () => null,
    leave: async () => {},
    close: async () => {},
  }
}

/**
 * Node baton-0 (the one asked), routing through a real Peers to the apps of the other nodes; `others`
 * maps a node id to its app, or to a fetch failure.
 */
function entryNode(options: {
  members: Member[] | (() => Promise<Member[]>)
  others: Record<string, Hono | Error | 'hang'>
  owned?: Map<string, OwnedPartition>
  timeouts?: Omit<ForwardOptions, 'self' | 'fetch'>
}) {
  const sent: { url: string; headers: Headers; body: string | null }[] = []
  const fetch = async (url: string, init: RequestInit): Promise<Response> => {
    const target = options.others[new URL(url).hostname.replace('.test', '')]
    sent.push({ url, headers: new Headers(init.headers), body: (init.body as string) ?? null })
    if (target === 'hang') {
      return new Promise((_, reject) =>
        init.signal?.addEventListener('abort', () => reject(init.signal?.reason)),
      )
    }
    if (target instanceof Error || target === undefined) throw target ?? new Error('no such host')
    return target.request(url, init)
  }
  const members = options.members
  const peers = createPeers({
    nodeId: 'baton-0',
    startedAt: 0,
    registry: registryOf(typeof members === 'function' ? members : async () => members),
    owned: options.owned ?? new Map(),
    topics: ['events', 'orders'],
    partitionCount: (topic) => ({ events: 8, orders: 2 })[topic],
    forward: { ...options.timeouts, fetch },
  })
  const node = ownerNode('baton-0', {
    forward: (topic, partition, request) => peers.forward({ topic, partition }, request),
  })
  return { app: createApi(node, { apiToken: TOKEN }), node, sent }
}

const called = (node: TestNode, method: string) =>
  node.calls.filter((c) => c.method === method).map((c) => c.args)

describe('GET /v1/actors/:topic/:partition on a node that does not own the partition', () => {
  test('is forwarded to the owner, whose answer names it as `node` and the asked node as `answeredBy`', async () => {
    const owner = ownerNode('baton-1')
    const { app, node, sent } = entryNode({
      members: [member('baton-1', 7)],
      others: { 'baton-1': createApi(owner, { apiToken: TOKEN }) },
    })
    const res = await app.request('/v1/actors/events/3')
    expect(res.status).toBe(200)
    expect(await jsonOf(res)).toMatchObject({
      topic: 'events',
      partition: 3,
      node: 'baton-1',
      answeredBy: 'baton-0',
    })
    expect(sent.map((s) => s.url)).toEqual(['http://baton-1.test/v1/actors/events/3'])
    expect(sent[0]?.headers.get('X-Baton-Forwarded-By')).toBe('baton-0')
    expect(called(owner, 'partition')).toEqual([['events', 3]])
    expect(called(node, 'partition')).toEqual([])
  })

  test('the claimant with the highest epoch is asked first; one that no longer runs it passes to the next', async () => {
    const moved = ownerNode('baton-2', {
      partition: async () => {
        throw new BatonError('NO_OWNER', 'not here')
      },
    })
    const { app, sent } = entryNode({
      members: [member('baton-1', 5), member('baton-2', 6)],
      others: {
        'baton-1': createApi(ownerNode('baton-1'), { apiToken: TOKEN }),
        'baton-2': createApi(moved, { apiToken: TOKEN }),
      },
    })
    const res = await app.request('/v1/actors/events/3')
    expect(res.status).toBe(200)
    expect((await jsonOf(res)).node).toBe('baton-1')
    expect(sent.map((s) => new URL(s.url).hostname)).toEqual(['baton-2.test', 'baton-1.test'])
  })

  test('an owner that cannot be reached, or does not answer in time, is an immediate 503 NO_OWNER naming it', async () => {
    const { app } = entryNode({
      members: [member('baton-1', 5), member('baton-2', 4)],
      others: { 'baton-1': new Error('connect ECONNREFUSED 10.0.0.1:8080'), 'baton-2': 'hang' },
      timeouts: { readTimeoutMs: 50 },
    })
    const res = await app.request('/v1/actors/events/3')
    expect(res.status).toBe(503)
    expect(res.headers.get('Retry-After')).toBe('2')
    const body = await jsonOf(res)
    expect(body.error).toBe('NO_OWNER')
    expect(body.message).toContain('baton-1 is unreachable (connect ECONNREFUSED 10.0.0.1:8080)')
    expect(body.message).toContain('baton-2 did not answer within 50 ms')
    expect(body.message).toContain('retry')
  })

  test('a partition no live node claims is 503 NO_OWNER', async () => {
    const { app, sent } = entryNode({ members: [], others: {} })
    const res = await app.request('/v1/actors/events/3')
    expect(res.status).toBe(503)
    expect(await jsonOf(res)).toEqual({
      error: 'NO_OWNER',
      message: expect.stringContaining('no live node claims it'),
    })
    expect(sent).toEqual([])
  })

  test('a request forwarded here already is answered here, never forwarded again', async () => {
    const { app, sent } = entryNode({
      members: [member('baton-1', 5)],
      others: { 'baton-1': createApi(ownerNode('baton-1'), { apiToken: TOKEN }) },
    })
    const res = await app.request('/v1/actors/events/3', { headers: { 'X-Baton-Forwarded-By': 'baton-2' } })
    expect(res.status).toBe(200)
    expect(await jsonOf(res)).toMatchObject({ node: 'baton-0', answeredBy: 'baton-0' })
    expect(sent).toEqual([])
  })

  test('a partition this node owns is answered from its memory', async () => {
    const owned = new Map([[tpString({ topic: 'events', partition: 3 }), {} as OwnedPartition]])
    const { app, node, sent } = entryNode({ members: [member('baton-1', 5)], others: {}, owned })
    expect((await app.request('/v1/actors/events/3')).status).toBe(200)
    expect(called(node, 'partition')).toEqual([['events', 3]])
    expect(sent).toEqual([])
  })

  test('a registry that does not answer is 503 REGISTRY_UNAVAILABLE', async () => {
    const { app } = entryNode({
      members: async () => {
        throw new BatonError('REGISTRY_UNAVAILABLE', 'The membership registry does not answer; retry')
      },
      others: {},
    })
    const res = await app.request('/v1/actors/events/3')
    expect(res.status).toBe(503)
    expect((await jsonOf(res)).error).toBe('REGISTRY_UNAVAILABLE')
  })

  test('a bad partition is refused where it arrives, before any lookup', async () => {
    const { app, sent } = entryNode({ members: [member('baton-1', 5)], others: {} })
    expect((await app.request('/v1/actors/events/8')).status).toBe(404)
    expect((await app.request('/v1/actors/events/x')).status).toBe(400)
    expect((await app.request('/v1/actors/clicks/0')).status).toBe(404)
    expect(sent).toEqual([])
  })
})

describe('admin routes on a node that does not own the partition', () => {
  const post = (path: string, headers: Record<string, string> = auth, body?: unknown) =>
    new Request(`http://baton-0.test${path}`, {
      method: 'POST',
      headers: { ...headers, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })

  test('go to the owner with the caller token and body; the owner acts', async () => {
    const owner = ownerNode('baton-1')
    const { app, node, sent } = entryNode({
      members: [member('baton-1', 5)],
      others: { 'baton-1': createApi(owner, { apiToken: TOKEN }) },
    })
    const seek = await app.request(post('/v1/actors/events/3/seek', auth, { offset: 5 }))
    expect(seek.status).toBe(200)
    expect(await jsonOf(seek)).toMatchObject({ node: 'baton-1', answeredBy: 'baton-0' })
    const pause = await app.request(post('/v1/actors/events/3/pause'))
    expect(await jsonOf(pause)).toMatchObject({ status: 'paused', node: 'baton-1' })
    expect(called(owner, 'seek')).toEqual([['events', 3, { offset: 5 }]])
    expect(called(owner, 'pause')).toEqual([['events', 3]])
    expect(called(node, 'seek')).toEqual([])
    expect(sent.map((s) => [s.headers.get('Authorization'), s.body])).toEqual([
      [`Bearer ${TOKEN}`, '{"offset":5}'],
      [`Bearer ${TOKEN}`, null],
    ])
  })

  test('without the token (401), with a wrong one (403) or a bad body (400) nothing is forwarded', async () => {
    const { app, sent } = entryNode({ members: [member('baton-1', 5)], others: {} })
    expect((await app.request(post('/v1/actors/events/3/pause', {}))).status).toBe(401)
    expect(
      (await app.request(post('/v1/actors/events/3/pause', { Authorization: 'Bearer wrong' }))).status,
    ).toBe(403)
    expect((await app.request(post('/v1/actors/events/3/seek', auth, { offset: -1 }))).status).toBe(400)
    expect(sent).toEqual([])
  })

  test("the owner's refusal comes back as it is (a node with another token: 403)", async () => {
    const { app } = entryNode({
      members: [member('baton-1', 5)],
      others: { 'baton-1': createApi(ownerNode('baton-1'), { apiToken: 'another-admin-token' }) },
    })
    const res = await app.request(post('/v1/actors/events/3/pause'))
    expect(res.status).toBe(403)
    expect((await jsonOf(res)).error).toBe('FORBIDDEN')
  })

  test('an owner that took the action but does not answer in time: 504 FORWARD_TIMEOUT, not sent elsewhere', async () => {
    const { app, sent } = entryNode({
      members: [member('baton-1', 5), member('baton-2', 4)],
      others: { 'baton-1': 'hang', 'baton-2': createApi(ownerNode('baton-2'), { apiToken: TOKEN }) },
      timeouts: { actionTimeoutMs: 50 },
    })
    const res = await app.request(post('/v1/actors/events/3/restart'))
    expect(res.status).toBe(504)
    expect(await jsonOf(res)).toEqual({
      error: 'FORWARD_TIMEOUT',
      message: expect.stringContaining('check GET /v1/actors/events/3'),
    })
    expect(sent).toHaveLength(1)
  })
})
