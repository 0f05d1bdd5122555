import { describe, expect, test } from 'bun:test'
import { type ApiOptions, createApi } from './app.ts'
import { jsonOf, testNode } from './test-node.ts'

const tokens = {
  apiToken: 'admin-token-0123456789',
  ingestToken: 'ingest-token-0123456789',
  readToken: 'read-token-0123456789',
}
const ADMIN = tokens.apiToken
const INGEST = tokens.ingestToken
const READ = tokens.readToken

type Route = [method: string, path: string, body?: unknown]
const ingestRoutes: Route[] = [['POST', '/v1/topics/events/events', [{ value: 1 }]]]
const readRoutes: Route[] = [
  ['GET', '/v1/cluster'],
  ['GET', '/v1/actors'],
  ['GET', '/v1/actors/events/0'],
  ['GET', '/v1/dlq'],
  ['HEAD', '/v1/dlq'],
]
const adminRoutes: Route[] = [
  ['POST', '/v1/actors/events/0/pause'],
  ['POST', '/v1/actors/events/0/seek', { offset: 0 }],
  ['POST', '/v1/dlq/replay', { ids: [1] }],
]

function request([method, path, body]: Route, token?: string): Request {
  return new Request(`http://baton.test${path}`, {
    method,
    headers: {
      'Content-Type': 'application/json',
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
}

/** The node calls a request caused, apart from the cheap lookups every route makes. */
const sideEffects = (node: ReturnType<typeof testNode>) =>
  node.calls.filter((c) => !['partitionCount', 'forward'].includes(c.method))

async function statusOf(options: ApiOptions, route: Route, token?: string) {
  const node = testNode()
  const res = await createApi(node, options).request(request(route, token))
  const text = await res.text()
  return { status: res.status, text, calls: sideEffects(node) }
}

describe('tokens by role (cluster mode: routes without their token are not open)', () => {
  const options: ApiOptions = { ...tokens, openWithoutToken: false }

  test.each([...ingestRoutes, ...readRoutes, ...adminRoutes])(
    '%s %s: no token is 401, and nothing is done',
    async (method, path, body) => {
      const route: Route = [method, path, body]
      const { status, calls } = await statusOf(options, route)
      expect(status).toBe(401)
      expect(calls).toEqual([])
    },
  )

  test.each([...ingestRoutes, ...readRoutes, ...adminRoutes])(
    '%s %s: a wrong token is 403 and is not echoed',
    async (method, path, body) => {
      const route: Route = [method, path, body]
      const { status, text, calls } = await statusOf(options, route, 'not-any-token-0123456789')
      expect(status).toBe(403)
      expect(text).not.toContain('not-any-token')
      expect(calls).toEqual([])
    },
  )

  test.each(ingestRoutes)(
    '%s %s takes the ingest and the admin token, not the read token',
    async (method, path, body) => {
      const route: Route = [method, path, body]
      expect((await statusOf(options, route, INGEST)).status).toBe(200)
      expect((await statusOf(options, route, ADMIN)).status).toBe(200)
      const wrongRole = await statusOf(options, route, READ)
      expect(wrongRole.status).toBe(403)
      expect(wrongRole.calls).toEqual([])
      expect(JSON.parse(wrongRole.text).message).toContain('BATON_INGEST_TOKEN or BATON_API_TOKEN')
    },
  )

  test.each(readRoutes)(
    '%s %s takes the read and the admin token, not the ingest token',
    async (method, path, body) => {
      const route: Route = [method, path, body]
      expect((await statusOf(options, route, READ)).status).toBe(200)
      expect((await statusOf(options, route, ADMIN)).status).toBe(200)
      expect((await statusOf(options, route, INGEST)).status).toBe(403)
    },
  )

  test.each(adminRoutes)('%s %s takes only the admin token', async (method, path, body) => {
    const route: Route = [method, path, body]
    expect((await statusOf(options, route, ADMIN)).status).toBe(200)
    for (const token of [READ, INGEST]) {
      const wrongRole = await statusOf(options, route, token)
      expect(wrongRole.status).toBe(403)
      expect(wrongRole.calls).toEqual([])
    }
  })

  test('a role whose token is unset takes the admin token; with no token at all it is disabled (403)', async () => {
    const adminOnly: ApiOptions = { apiToken: ADMIN, openWithoutToken: false }
    const read = readRoutes[0] as Route
    expect((await statusOf(adminOnly, read)).status).toBe(401)
    expect((await statusOf(adminOnly, read, ADMIN)).status).toBe(200)
    const none = await statusOf({ openWithoutToken: false }, read, ADMIN)
    expect(none.status).toBe(403)
    expect(JSON.parse(none.text).message).toContain('BATON_READ_TOKEN')
  })

  test('probes stay open; /metrics is open unless metricsAuth, then it takes the read token', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics'])
      expect((await statusOf(options, ['GET', path])).status).toBe(200)
    const guarded = { ...options, metricsAuth: true }
    expect((await statusOf(guarded, ['GET', '/metrics'])).status).toBe(401)
    expect((await statusOf(guarded, ['GET', '/metrics'], INGEST)).status).toBe(403)
    expect((await statusOf(guarded, ['GET', '/metrics'], READ)).status).toBe(200)
    expect((await statusOf(guarded, ['GET', '/healthz'])).status).toBe(200)
  })

  test('unknown routes and wrong methods keep their 404 and 405', async () => {
    expect((await statusOf(options, ['GET', '/v1/actors/events/0/pause'])).status).toBe(405)
    expect((await statusOf(options, ['GET', '/v2/nothing'])).status).toBe(404)
  })
})

describe('embedded mode on loopback (routes without their token are open)', () => {
  test('every route answers without a token when no token is set', async () => {
    for (const route of [...ingestRoutes, ...readRoutes, ...adminRoutes])
      expect((await statusOf({ openWithoutToken: true }, route)).status).toBe(200)
  })

  test('a token that is set still guards its routes', async () => {
    const options: ApiOptions = { apiToken: ADMIN, openWithoutToken: true }
    expect((await statusOf(options, adminRoutes[0] as Route)).status).toBe(401)
    expect((await statusOf(options, readRoutes[0] as Route)).status).toBe(200)
  })
})

describe('ingest rate limit', () => {
  const post = (events: number, token?: string) =>
    request(
      ['POST', '/v1/topics/events/events', Array.from({ length: events }, (_, i) => ({ value: i }))],
      token,
    )
  const env = (clientAddress: string) => ({ clientAddress })

  test('over the limit: 429 RATE_LIMITED with Retry-After, and the node is not called', async () => {
    const node = testNode()
    const app = createApi(node, { ingestRate: 10 })
    // The bucket holds 2 s of events (20): a larger request passes while the bucket is not empty ...
    expect((await app.request(post(25), undefined, env('10.0.0.1'))).status).toBe(200)
    // ... and leaves it in debt, so the next one waits.
    const limited = await app.request(post(1), undefined, env('10.0.0.1'))
    expect(limited.status).toBe(429)
    expect(Number(limited.headers.get('Retry-After'))).toBeGreaterThanOrEqual(1)
    expect(limited.headers.get('X-Content-Type-Options')).toBe('nosniff')
    expect(await jsonOf(limited)).toEqual({
      error: 'RATE_LIMITED',
      message: expect.stringContaining('BATON_INGEST_RATE'),
    })
    expect(node.calls.filter((c) => c.method === 'ingest')).toHaveLength(1)
  })

  test('each client address has its own bucket', async () => {
    const app = createApi(testNode(), { ingestRate: 10 })
    expect((await app.request(post(25), undefined, env('10.0.0.1'))).status).toBe(200)
    expect((await app.request(post(1), undefined, env('10.0.0.1'))).status).toBe(429)
    expect((await app.request(post(1), undefined, env('10.0.0.2'))).status).toBe(200)
  })

  test('a refused request costs too, so a client cannot flood with bad bodies', async () => {
    const app = createApi(testNode(), { ingestRate: 1 })
    const bad = () =>
      app.request(
        new Request('http://baton.test/v1/topics/events/events', { method: 'POST', body: '[' }),
        undefined,
        env('10.0.0.3'),
      )
    expect((await bad()).status).toBe(400)
    expect((await bad()).status).toBe(400)
    expect((await bad()).status).toBe(429)
  })

  test('requests refused by their token do not touch the bucket', async () => {
    const app = createApi(testNode(), { ...tokens, openWithoutToken: false, ingestRate: 1 })
    for (let i = 0; i < 5; i++)
      expect((await app.request(post(1, READ), undefined, env('10.0.0.4'))).status).toBe(403)
    expect((await app.request(post(1, INGEST), undefined, env('10.0.0.4'))).status).toBe(200)
  })
})

describe('request timeout', () => {
  test('a request that takes too long is 503 REQUEST_TIMEOUT saying it may still take effect', async () => {
    const node = testNode({ cluster: () => new Promise(() => {}) })
    const res = await createApi(node, { requestTimeoutMs: 50 }).request('/v1/cluster')
    expect(res.status).toBe(503)
    expect(res.headers.get('X-Frame-Options')).toBe('DENY')
    expect(await jsonOf(res)).toEqual({
      error: 'REQUEST_TIMEOUT',
      message: expect.stringContaining('may still take effect'),
    })
  })
})

describe('security headers', () => {
  test.each([
    ['GET', '/healthz'],
    ['GET', '/v1/dlq'],
    ['POST', '/v1/dlq/replay'],
  ])('%s %s carries them, also on a 401', async (method, path) => {
    const res = await createApi(testNode(), { ...tokens, openWithoutToken: false }).request(
      request([method, path]),
    )
    expect(res.headers.get('Strict-Transport-Security')).toContain('max-age=')
    expect(res.headers.get('X-Content-Type-Options')).toBe('nosniff')
    expect(res.headers.get('X-Frame-Options')).toBe('DENY')
    expect(res.headers.get('Content-Security-Policy')).toContain("default-src 'none'")
    expect(res.headers.get('Cache-Control')).toBe('no-store')
  })
})
