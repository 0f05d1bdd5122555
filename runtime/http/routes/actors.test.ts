import { describe, expect, test } from 'bun:test'
import { BatonError } from '../../../actors/core/errors.ts'
import { createApi } from '../app.ts'
import { jsonOf, testNode } from '../test-node.ts'

describe('actor routes', () => {
  test('GET /v1/cluster and GET /v1/actors answer what the node says', async () => {
    const app = createApi(testNode())
    expect(await jsonOf(await app.request('/v1/cluster'))).toEqual({ nodes: [{ id: 'baton-0' }] })
    expect(await jsonOf(await app.request('/v1/actors'))).toEqual({ name: 'root', children: [] })
  })

  test('GET /v1/actors/:topic/:partition asks the node for that partition', async () => {
    const node = testNode()
    const res = await createApi(node).request('/v1/actors/orders/1')
    expect(res.status).toBe(200)
    expect(await jsonOf(res)).toMatchObject({ topic: 'orders', partition: 1, status: 'running' })
    expect(node.calls).toContainEqual({ method: 'partition', args: ['orders', 1] })
  })

  test.each([
    ['/v1/actors/events/-1', 400, 'not a partition number'],
    ['/v1/actors/events/1.5', 400, 'not a partition number'],
    ['/v1/actors/events/x', 400, 'not a partition number'],
    ['/v1/actors/events/8', 404, 'its partitions are 0 to 7'],
    ['/v1/actors/orders/2', 404, 'its partitions are 0 to 1'],
    ['/v1/actors/clicks/0', 404, 'is not served by this node'],
    ['/v1/actors/bad%20topic/0', 400, 'is not a valid topic name'],
    [`/v1/actors/${'t'.repeat(250)}/0`, 400, 'is not a valid topic name'],
  ])('GET %s is %i', async (path, status, message) => {
    const node = testNode()
    const res = await createApi(node).request(path)
    expect(res.status).toBe(status)
    const body = await jsonOf(res)
    expect(body.error).toBe(status === 400 ? 'BAD_REQUEST' : 'NOT_FOUND')
    expect(body.message).toContain(message)
    expect(node.calls.filter((c) => c.method === 'partition')).toEqual([])
  })

  test('a partition without owner is an immediate 503 saying so and to retry', async () => {
    const node = testNode({
      partition: async () => {
        throw new BatonError('NO_OWNER', 'no member claims it')
      },
    })
    const res = await createApi(node).request('/v1/actors/events/3')
    expect(res.status).toBe(503)
    expect(res.headers.get('Retry-After')).toBe('2')
    const body = await jsonOf(res)
    expect(body.error).toBe('NO_OWNER')
    expect(body.message).toContain('partition 3 of topic "events" has no owner right now')
    expect(body.message).toContain('retry')
  })
})
