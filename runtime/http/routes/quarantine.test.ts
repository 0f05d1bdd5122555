import { describe, expect, test } from 'bun:test'
import { BatonError } from '../../../actors/core/errors.ts'
import { createApi } from '../app.ts'
import { jsonOf, testNode } from '../test-node.ts'

const TOKEN = 'quarantine-admin-token'
const READ = 'quarantine-read-token'
const auth = { Authorization: `Bearer ${TOKEN}` }

const calls = (node: ReturnType<typeof testNode>, method: string) =>
  node.calls.filter((c) => c.method === method).map((c) => c.args)

describe('GET /v1/quarantine', () => {
  test('takes the read token and pages as GET /v1/dlq does', async () => {
    const node = testNode()
    const api = createApi(node, { apiToken: TOKEN, readToken: READ, openWithoutToken: false })
    expect((await api.request('/v1/quarantine')).status).toBe(401)
    const res = await api.request('/v1/quarantine?topic=orders&partition=1&limit=10&after=5', {
      headers: { Authorization: `Bearer ${READ}` },
    })
    expect(res.status).toBe(200)
    expect(await jsonOf(res)).toEqual({ entries: [], next: null })
    expect(calls(node, 'quarantine')).toEqual([[{ topic: 'orders', partition: 1, limit: 10, after: 5 }]])
  })
})

describe('POST /v1/dlq/:id/retry and /skip', () => {
  test('decide on the owner: 200 with the outcome and how many events were released', async () => {
    const node = testNode()
    const api = createApi(node, { apiToken: TOKEN, openWithoutToken: false })
    const res = await api.request('/v1/dlq/7/retry', { method: 'POST', headers: auth })
    expect(res.status).toBe(200)
    expect(await jsonOf(res)).toEqual({ deadLetterId: 7, outcome: 'retried', released: 3 })
    const skip = await api.request('/v1/dlq/8/skip', { method: 'POST', headers: auth })
    expect(await jsonOf(skip)).toMatchObject({ deadLetterId: 8, outcome: 'skipped' })
    expect(calls(node, 'decide')).toEqual([
      [7, 'retried'],
      [8, 'skipped'],
    ])
  })

  test('need the admin token; the read token is refused', async () => {
    const node = testNode()
    const api = createApi(node, { apiToken: TOKEN, readToken: READ, openWithoutToken: false })
    const res = await api.request('/v1/dlq/7/skip', {
      method: 'POST',
      headers: { Authorization: `Bearer ${READ}` },
    })
    expect([401, 403]).toContain(res.status)
    expect(calls(node, 'decide')).toEqual([])
  })

  test('202 while a long release goes on', async () => {
    const node = testNode({
      decide: async (id, outcome) => ({ status: 202, body: { deadLetterId: id, outcome, released: 4000 } }),
    })
    const res = await createApi(node, { apiToken: TOKEN }).request('/v1/dlq/7/skip', {
      method: 'POST',
      headers: auth,
    })
    expect(res.status).toBe(202)
  })

  test.each([
    ['NOT_FOUND', 404],
    ['QUARANTINE_CONFLICT', 409],
  ] as const)('a letter lookup that throws %s answers %i, and nothing is decided', async (code, status) => {
    const node = testNode({
      letterPartition: async () => {
        throw new BatonError(code, 'test')
      },
    })
    const res = await createApi(node, { apiToken: TOKEN }).request('/v1/dlq/7/retry', {
      method: 'POST',
      headers: auth,
    })
    expect(res.status).toBe(status)
    expect(await jsonOf(res)).toMatchObject({ error: code })
    expect(calls(node, 'decide')).toEqual([])
  })

  test('a retried event that fails again is 422 saying why', async () => {
    const node = testNode({
      decide: async () => {
        throw new BatonError('RETRY_FAILED', 'still poison (test)')
      },
    })
    const res = await createApi(node, { apiToken: TOKEN }).request('/v1/dlq/7/retry', {
      method: 'POST',
      headers: auth,
    })
    expect(res.status).toBe(422)
    expect(await jsonOf(res)).toMatchObject({ error: 'RETRY_FAILED', message: 'still poison (test)' })
  })

  test("is forwarded to the owner of the letter's partition, whose answer comes back as it is", async () => {
    const node = testNode({
      forward: async () => ({
        node: 'baton-2',
        status: 202,
        body: { deadLetterId: 7, outcome: 'retried', released: 1 },
      }),
    })
    const res = await createApi(node, { apiToken: TOKEN }).request('/v1/dlq/7/retry', {
      method: 'POST',
      headers: auth,
    })
    expect(res.status).toBe(202)
    expect(calls(node, 'forward')).toEqual([
      [
        'orders',
        1,
        { method: 'POST', path: '/v1/dlq/7/retry', authorization: `Bearer ${TOKEN}`, forwardedBy: undefined },
      ],
    ])
    expect(calls(node, 'decide')).toEqual([])
  })

  test('an id that is not a number, or a decision that does not exist, is refused', async () => {
    const api = createApi(testNode(), { apiToken: TOKEN })
    expect((await api.request('/v1/dlq/abc/retry', { method: 'POST', headers: auth })).status).toBe(400)
    expect((await api.request('/v1/dlq/7/replay', { method: 'POST', headers: auth })).status).toBe(404)
  })
})
