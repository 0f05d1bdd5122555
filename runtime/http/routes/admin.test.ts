import { describe, expect, test } from 'bun:test'
import { BatonError } from '../../../actors/core/errors.ts'
import { createApi } from '../app.ts'
import { jsonOf, testNode } from '../test-node.ts'

const TOKEN = 'a-long-admin-token'
const auth = { Authorization: `Bearer ${TOKEN}` }

function post(path: string, headers: Record<string, string> = auth, body?: unknown): Request {
  return new Request(`http://baton.test${path}`, {
    method: 'POST',
    headers: { ...headers, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  })
}

const nodeCalls = (node: ReturnType<typeof testNode>, method: string) =>
  node.calls.filter((c) => c.method === method).map((c) => c.args)

describe('admin routes', () => {
  test.each([
    ['pause', 'paused'],
    ['resume', 'running'],
    ['restart', 'starting'],
  ])('POST .../%s with the token calls the node and answers the new state', async (action, status) => {
    const node = testNode()
    const res = await createApi(node, { apiToken: TOKEN }).request(post(`/v1/actors/events/2/${action}`))
    expect(res.status).toBe(200)
    expect(await jsonOf(res)).toMatchObject({ topic: 'events', partition: 2, status })
    expect(nodeCalls(node, action)).toEqual([['events', 2]])
  })

  test('seek takes an offset, or a timestamp as ms or ISO', async () => {
    const node = testNode()
    const app = createApi(node, { apiToken: TOKEN })
    for (const body of [{ offset: 1000 }, { timestamp: 5 }, { timestamp: '1970-01-01T00:00:01Z' }]) {
      expect((await app.request(post('/v1/actors/orders/1/seek', auth, body))).status).toBe(200)
    }
    expect(nodeCalls(node, 'seek')).toEqual([
      ['orders', 1, { offset: 1000 }],
      ['orders', 1, { timestamp: 5 }],
      ['orders', 1, { timestamp: 1000 }],
    ])
  })

  test.each([
    [{ offset: -1 }, '"offset"'],
    [{ offset: 'ten' }, '"offset"'],
    [{ timestamp: 'yesterday' }, '"timestamp": must be milliseconds'],
    [{}, 'exactly one of "offset" or "timestamp"'],
    [{ offset: 1, timestamp: 2 }, 'exactly one of "offset" or "timestamp"'],
    [{ offset: 1, extra: true }, 'extra'],
    ['{"offset":', 'not valid JSON'],
    [undefined, 'the request body is empty'],
  ])('seek with %p is 400 naming the problem', async (body, message) => {
    const node = testNode()
    const res = await createApi(node, { apiToken: TOKEN }).request(
      post('/v1/actors/events/0/seek', auth, body),
    )
    expect(res.status).toBe(400)
    expect(await jsonOf(res)).toEqual({ error: 'BAD_REQUEST', message: expect.stringContaining(message) })
    expect(nodeCalls(node, 'seek')).toEqual([])
  })

  test('a bad partition or topic is refused after the token is checked', async () => {
    const app = createApi(testNode(), { apiToken: TOKEN })
    expect((await app.request(post('/v1/actors/events/x/pause'))).status).toBe(400)
    expect((await app.request(post('/v1/actors/events/8/pause'))).status).toBe(404)
    expect((await app.request(post('/v1/actors/clicks/0/pause'))).status).toBe(404)
    expect((await app.request(post('/v1/actors/clicks/0/pause', {}))).status).toBe(401)
  })

  test('a partition without owner is 503 NO_OWNER', async () => {
    const node = testNode({
      pause: async () => {
        throw new BatonError('NO_OWNER', 'nobody')
      },
    })
    const res = await createApi(node, { apiToken: TOKEN }).request(post('/v1/actors/events/1/pause'))
    expect(res.status).toBe(503)
    expect((await jsonOf(res)).message).toContain('has no owner right now')
  })
})

describe('admin authentication', () => {
  const routes: [string, string, unknown?][] = [
    ['POST', '/v1/actors/events/0/pause'],
    ['POST', '/v1/actors/events/0/resume'],
    ['POST', '/v1/actors/events/0/seek', { offset: 0 }],
    ['POST', '/v1/actors/events/0/restart'],
    ['POST', '/v1/dlq/replay', { ids: [1] }],
  ]
  const request = (method: string, path: string, headers: Record<string, string>, body?: unknown) =>
    new Request(`http://baton.test${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    })

  test.each(routes)('%s %s without a token is 401 with WWW-Authenticate', async (method, path, body) => {
    const node = testNode()
    for (const authorization of [undefined, 'Basic dXNlcjpwYXNz', 'Bearer', 'Bearer   ']) {
      const headers: Record<string, string> = authorization ? { Authorization: authorization } : {}
      const res = await createApi(node, { apiToken: TOKEN }).request(request(method, path, headers, body))
      expect(res.status).toBe(401)
      expect(res.headers.get('WWW-Authenticate')).toBe('Bearer realm="baton"')
      expect(await jsonOf(res)).toEqual({ error: 'UNAUTHORIZED', message: expect.stringContaining('Bearer') })
    }
    expect(node.calls.filter((c) => c.method !== 'partitionCount')).toEqual([])
  })

  test.each(routes)('%s %s with a wrong token is 403', async (method, path, body) => {
    const node = testNode()
    for (const token of ['wrong', `${TOKEN}x`, TOKEN.slice(1)]) {
      const res = await createApi(node, { apiToken: TOKEN }).request(
        request(method, path, { Authorization: `Bearer ${token}` }, body),
      )
      expect(res.status).toBe(403)
      const text = await res.text()
      expect(JSON.parse(text).error).toBe('FORBIDDEN')
      expect(text).not.toContain(TOKEN)
    }
    expect(node.calls).toEqual([])
  })

  test.each(routes)(
    '%s %s with no token configured (and routes without one not open) is 403 saying how to enable it',
    async (method, path, body) => {
      const node = testNode()
      const res = await createApi(node, { openWithoutToken: false }).request(
        request(method, path, auth, body),
      )
      expect(res.status).toBe(403)
      expect(await jsonOf(res)).toEqual({
        error: 'FORBIDDEN',
        message: expect.stringContaining('BATON_API_TOKEN'),
      })
      expect(node.calls).toEqual([])
    },
  )

  test('the scheme is case-insensitive', async () => {
    const res = await createApi(testNode(), { apiToken: TOKEN }).request(
      request('POST', '/v1/dlq/replay', { Authorization: `bearer ${TOKEN}` }, { ids: [1] }),
    )
    expect(res.status).toBe(200)
  })
})
