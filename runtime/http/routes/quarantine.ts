import { Hono } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { z } from 'zod'
import { FORWARDED_BY_HEADER } from '../../../cluster/messages.ts'
import type { NodeApi } from '../../node-api.ts'
import { askOwner } from '../owner.ts'
import { listQuery } from './dlq.ts'

const letterId = z
  .string()
  .regex(/^\d{1,15}$/, 'must be a dead letter id (a whole number)')
  .transform(Number)

/**
 * Per-key quarantine (issue 20): `GET /v1/quarantine?topic&partition&limit&after` (read token) lists the
 * quarantined keys; `POST /v1/dlq/:id/retry` and `POST /v1/dlq/:id/skip` (admin token) decide on the letter
 * holding a key back. The letter is looked up in the sink on any node, and the decision runs on the owner
 * of its partition (forwarded there with the caller's token): 200 once the key is released, 202 while a
 * long release goes on, 404 for an unknown id, 409 for a letter already decided or replayed, 422 when the
 * retried event fails again.
 */
export function quarantineRoutes(node: NodeApi): Hono {
  return new Hono()
    .get('/v1/quarantine', async (c) => c.json(await node.quarantine(listQuery.parse(c.req.query()))))
    .post('/v1/dlq/:id/:decision{retry|skip}', async (c) => {
      const id = letterId.parse(c.req.param('id'))
      const outcome = c.req.param('decision') === 'retry' ? 'retried' : 'skipped'
      const { topic, partition } = await node.letterPartition(id)
      const url = new URL(c.req.url)
      const answer = await node.forward(topic, partition, {
        method: 'POST',
        path: url.pathname,
        authorization: c.req.header('authorization'),
        forwardedBy: c.req.header(FORWARDED_BY_HEADER),
      })
      if (answer) return c.json(answer.body, answer.status as ContentfulStatusCode)
      const { status, body } = await askOwner(topic, partition, () => node.decide(id, outcome))
      return c.json(body, status)
    })
}
