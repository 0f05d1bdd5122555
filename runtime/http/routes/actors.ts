import { Hono } from 'hono'
import type { NodeApi } from '../../node-api.ts'
import { answerFromOwner } from '../owner.ts'
import { partitionOf, servedTopic } from '../params.ts'

/**
 * `GET /v1/cluster`, `GET /v1/actors` (this node's actor tree) and `GET /v1/actors/:topic/:partition`
 * (answered by the partition's owner, through whichever node was asked).
 */
export function actorRoutes(node: NodeApi): Hono {
  return new Hono()
    .get('/v1/cluster', async (c) => c.json(await node.cluster()))
    .get('/v1/actors', (c) => c.json(node.actors()))
    .get('/v1/actors/:topic/:partition', async (c) => {
      const topic = servedTopic(node, c.req.param('topic'))
      const partition = partitionOf(node, topic, c.req.param('partition'))
      return answerFromOwner(c, node, topic, partition, undefined, () => node.partition(topic, partition))
    })
}
