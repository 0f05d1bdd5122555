import { describe, expect, test } from 'bun:test'
import { createApi } from '../app.ts'
import { jsonOf, testNode } from '../test-node.ts'

const TOKEN = 'dlq-admin-token'
const auth = { Authorization: `Bearer ${TOKEN}` }

const calls = (node: ReturnType<typeof testNode>, method: string) =>
  node.calls.filter((c) => c.method === method).map((c) => c.args)

describe('GET /v1/dlq', () => {
  test('pages with a default limit of 100', async () => {
    const node = testNode()
    const res = await createApi(node, { apiToken: TOKEN }).request('/v1/dlq', { headers: auth })
    expect(res.status).toBe(200)
    expect(await jsonOf(res)).toEqual({ entries: [], next: null })
    expect(calls(node, 'deadLetters')).toEqual([[{ limit: 100 }]])
  })

  test('passes topic, partition, limit and after as numbers', async () => {
    const node = testNode()
    const res = await createApi(node, { apiToken: TOKEN }).request(
      '/v1/dlq?topic=events&partition=3&limit=1000&after=42',
      { headers: auth },
    )
    expect(res.status).toBe(200)
    expect(calls(node, 'deadLetters')).toEqual([[{ topic: 'events', partition: 3, limit: 1000, after: 42 }]])
  })

  test.each([
    ['limit=0', '"limit"'],
    ['limit=1001', '"limit"'],
    ['limit=ten', '"limit": must be a whole number'],
    ['partition=1', '"partition": needs "topic"'],
    ['topic=a%20b', '"topic"'],
    ['after=-1', '"after"'],
    ['tpoic=events', 'tpoic'],
  ])('?%s is 400 naming the field', async (query, message) => {
    const node = testNode()
    const res = await createApi(node, { apiToken: TOKEN }).request(`/v1/dlq?${query}`, { headers: auth })
    expect(res.status).toBe(400)
    expect(await jsonOf(res)).toEqual({ error: 'BAD_REQUEST', message: expect.stringContaining(message) })
    expect(calls(node, 'deadLetters')).toEqual([])
  })
})

describe('POST /v1/dlq/replay', () => {
  const replay = (body: unknown) =>
    new Request('http://baton.test/v1/dlq/replay', {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    })

  test.each([
    [{ ids: [1, 2] }, { ids: [1, 2] }],
    [{ topic: 'events' }, { topic: 'events', partition: undefined }],
    [
      { topic: 'events', partition: 4 },
      { topic: 'events', partition: 4 },
    ],
  ])('%p calls node.replay', async (body, selection) => {
    const node = testNode()
    const res = await createApi(node, { apiToken: TOKEN }).request(replay(body))
    expect(res.status).toBe(200)
    expect(await jsonOf(res)).toEqual({ replayed: 2 })
    expect(calls(node, 'replay')).toEqual([[selection]])
  })

  test.each([
    [{}, 'give either "ids" or "topic"'],
    [{ ids: [] }, '"ids"'],
    [{ ids: [1.5] }, '"ids.0"'],
    [{ ids: [1], topic: 'events' }, 'give either "ids" or "topic"'],
    [{ ids: [1], partition: 0 }, '"partition": needs "topic"'],
    [{ topic: 'bad topic' }, '"topic"'],
    [[1, 2], 'expected object'],
  ])('%p is 400 naming the problem', async (body, message) => {
    const node = testNode()
    const res = await createApi(node, { apiToken: TOKEN }).request(replay(body))
    expect(res.status).toBe(400)
    expect(await jsonOf(res)).toEqual({ error: 'BAD_REQUEST', message: expect.stringContaining(message) })
    expect(calls(node, 'replay')).toEqual([])
  })
})
