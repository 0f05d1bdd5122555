import { Hono } from 'hono'
import { z } from 'zod'
import type { NodeApi } from '../../node-api.ts'
import { TOPIC_NAME } from '../params.ts'
import { readJson } from '../read-body.ts'

const topicName = z.string().regex(TOPIC_NAME, 'must be 1 to 249 of the characters a-z A-Z 0-9 . _ -')
const wholeNumber = z
  .string()
  .regex(/^\d{1,15}$/, 'must be a whole number from 0')
  .transform(Number)
const partitionNeedsTopic = {
  message: 'needs "topic" too',
  path: ['partition'],
}

export const listQuery = z
  .strictObject({
    topic: topicName.optional(),
    partition: wholeNumber.optional(),
    limit: wholeNumber.pipe(z.number().min(1).max(1000)).default(100),
    after: wholeNumber.optional(),
  })
  .refine((q) => q.partition === undefined || q.topic !== undefined, partitionNeedsTopic)

const replayBody = z
  .strictObject({
    ids: z.array(z.int().nonnegative()).min(1).max(10_000).optional(),
    topic: topicName.optional(),
    partition: z.int().nonnegative().optional(),
  })
  .refine(
    (b) => (b.ids === undefined) !== (b.topic === undefined),
    'give either "ids" or "topic" (and optionally "partition")',
  )
  .refine((b) => b.partition === undefined || b.topic !== undefined, partitionNeedsTopic)

const REPLAY_EXAMPLE = '{"ids": [1, 2]} or {"topic": "events", "partition": 0}'

/**
 * The dead-letter routes: `GET /v1/dlq?topic&partition&limit&after` (a page of entries and the `next`
 * cursor; read token) and `POST /v1/dlq/replay` (selected entries back to their topic; admin token). The
 * tokens are checked by access.ts before these run.
 */
export function dlqRoutes(node: NodeApi, options: { maxBodyBytes: number }): Hono {
  return new Hono()
    .get('/v1/dlq', async (c) => c.json(await node.deadLetters(listQuery.parse(c.req.query()))))
    .post('/v1/dlq/replay', async (c) => {
      const body = replayBody.parse(await readJson(c.req.raw, options.maxBodyBytes, REPLAY_EXAMPLE))
      const selection = body.ids
        ? { ids: body.ids }
        : { topic: body.topic as string, partition: body.partition }
      return c.json(await node.replay(selection))
    })
}
