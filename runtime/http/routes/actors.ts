import { Hono } from 'hono'
import type { NodeApi } from '../../node-api.ts'
import { askOwner } from '../owner.ts'
import { partitionOf, servedTopic } from '../params.ts'

/** `GET /v1/cluster`, `GET /v1/actors` and `GET /v1/actors/:topic/:partition` (answered by the owner). */
export function actorRoutes(node: NodeApi): Hono {
  return new Hono()
    .get('/v1/cluster', async (c) => c.json(await node.cluster()))
    .get('/v1/actors', (c) => c.json(node.actors()))
    .get('/v1/actors/:topic/:partition', async (c) => {
      const topic = servedTopic(node, c.req.param('topic'))
      const partition = partitionOf(node, topic, c.req.param('partition'))
      return c.json(await askOwner(topic, partition, () => node.partition(topic, partition)))
    })
}
