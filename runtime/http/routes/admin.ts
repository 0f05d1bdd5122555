import { Hono } from 'hono'
import { z } from 'zod'
import type { NodeApi, PartitionView } from '../../node-api.ts'
import { TIME_HINT, toMillis } from '../event-time.ts'
import { answerFromOwner } from '../owner.ts'
import { partitionOf, servedTopic } from '../params.ts'
import { readJson } from '../read-body.ts'

const seekBody = z
  .strictObject({
    offset: z.int().nonnegative().optional(),
    timestamp: z
      .union([z.number(), z.string()])
      .refine((t) => toMillis(t) !== undefined, `must be ${TIME_HINT}`)
      .transform((t) => toMillis(t) as number)
      .optional(),
  })
  .refine(
    (b) => (b.offset === undefined) !== (b.timestamp === undefined),
    'give exactly one of "offset" or "timestamp"',
  )

const SEEK_EXAMPLE = '{"offset": 1000} or {"timestamp": "2024-05-01T12:00:00Z"}'

/**
 * Admin routes that steer one partition actor, each behind the admin token and answered by the owner:
 * `POST /v1/actors/:topic/:partition/{pause,resume,seek,restart}`. Each answers the partition's new state.
 * A request is checked here (token, partition, body) and then, when another node owns the partition,
 * forwarded to it with the caller's token, which the owner checks again.
 */
export function adminRoutes(node: NodeApi, options: { maxBodyBytes: number }): Hono {
  const app = new Hono()
  const steer = <B>(
    action: string,
    readBody: (request: Request) => Promise<{ value: B; json?: string }>,
    act: (topic: string, partition: number, body: B) => Promise<PartitionView>,
  ) =>
    app.post(`/v1/actors/:topic/:partition/${action}`, async (c) => {
      const topic = servedTopic(node, c.req.param('topic'))
      const partition = partitionOf(node, topic, c.req.param('partition'))
      const body = await readBody(c.req.raw)
      return answerFromOwner(c, node, topic, partition, body.json, () => act(topic, partition, body.value))
    })
  const noBody = async () => ({ value: undefined })

  steer('pause', noBody, (topic, partition) => node.pause(topic, partition))
  steer('resume', noBody, (topic, partition) => node.resume(topic, partition))
  steer('restart', noBody, (topic, partition) => node.restart(topic, partition))
  steer(
    'seek',
    async (request) => {
      const raw = await readJson(request, options.maxBodyBytes, SEEK_EXAMPLE)
      const body = seekBody.parse(raw)
      const to = body.offset !== undefined ? { offset: body.offset } : { timestamp: body.timestamp as number }
      return { value: to, json: JSON.stringify(raw) }
    },
    (topic, partition, to) => node.seek(topic, partition, to),
  )
  return app
}
