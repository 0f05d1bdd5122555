import { describe, expect, test } from 'bun:test'
import { BatonError } from '../../actors/core/errors.ts'
import { createApi } from './app.ts'
import { jsonOf, testNode } from './test-node.ts'

const TOKEN = 'admin-secret-token'

describe('createApi', () => {
  const requests: [string, RequestInit?][] = [
    ['/healthz'],
    ['/readyz'],
    ['/metrics'],
    ['/v1/actors/events/0'],
    ['/v1/actors/events/99'],
    ['/nowhere'],
    ['/healthz', { method: 'DELETE' }],
    ['/v1/topics/events/events', { method: 'POST', body: '[' }],
    ['/v1/dlq'],
    ['/v1/dlq', { headers: { Authorization: `Bearer ${TOKEN}` } }],
  ]

  test.each(requests)('security headers and no-store on %s %o', async (path, init) => {
    const res = await createApi(testNode(), { apiToken: TOKEN }).request(path, init)
    expect(res.headers.get('X-Content-Type-Options')).toBe('nosniff')
    expect(res.headers.get('X-Frame-Options')).toBe('DENY')
    expect(res.headers.get('Referrer-Policy')).toBe('no-referrer')
    expect(res.headers.get('Cache-Control')).toBe('no-store')
    expect(res.headers.get('Content-Security-Policy')).toContain("default-src 'none'")
  })

  test('an unknown route is a JSON 404', async () => {
    const res = await createApi(testNode()).request('/v2/whatever')
    expect(res.status).toBe(404)
    expect(await jsonOf(res)).toEqual({
      error: 'NOT_FOUND',
      message: expect.stringContaining('GET /v2/whatever'),
    })
  })

  test('a known path with the wrong method is a JSON 405 with Allow', async () => {
    const res = await createApi(testNode()).request('/v1/topics/events/events', { method: 'GET' })
    expect(res.status).toBe(405)
    expect(res.headers.get('Allow')).toBe('POST')
    expect((await jsonOf(res)).error).toBe('METHOD_NOT_ALLOWED')
  })

  test('an error thrown by the node keeps its code and status', async () => {
    const node = testNode({
      cluster: async () => {
        throw new BatonError('SERVICE_UNREACHABLE', 'Redis at redis://***@localhost:6379 does not answer')
      },
    })
    const res = await createApi(node).request('/v1/cluster')
    expect(res.status).toBe(503)
    expect(res.headers.get('Retry-After')).toBe('2')
    expect(await jsonOf(res)).toEqual({
      error: 'SERVICE_UNREACHABLE',
      message: 'Redis at redis://***@localhost:6379 does not answer',
    })
  })

  test('an unexpected error is a bare 500: no stack, no message, reported to the log hook', async () => {
    const reported: unknown[] = []
    const node = testNode({
      cluster: async () => {
        throw new Error('connect failed: postgres://baton:hunter2@db/baton')
      },
    })
    const app = createApi(node, { onInternalError: (err) => reported.push(err) })
    const res = await app.request('/v1/cluster')
    const text = await res.text()
    expect(res.status).toBe(500)
    expect(JSON.parse(text)).toEqual({ error: 'INTERNAL', message: expect.any(String) })
    expect(text).not.toContain('hunter2')
    expect(text).not.toMatch(/at .*\.ts:\d+/)
    expect(reported).toHaveLength(1)
  })

  test('error bodies never carry a stack trace', async () => {
    const app = createApi(testNode(), { apiToken: TOKEN })
    for (const [path, init] of requests) {
      const text = await (await app.request(path, init)).text()
      expect(text).not.toContain('stack')
      expect(text).not.toMatch(/\n\s+at /)
    }
  })

  test('a limit that is not a positive whole number is refused at construction', () => {
    expect(() => createApi(testNode(), { maxBodyBytes: 0 })).toThrow('maxBodyBytes')
  })
})
