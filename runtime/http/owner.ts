import type { Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { BatonError, isBatonError } from '../../actors/core/errors.ts'
import { FORWARDED_BY_HEADER } from '../../cluster/messages.ts'
import type { NodeApi, PartitionView } from '../node-api.ts'

/**
 * Runs a request that the partition's owner must answer. While nobody owns the partition (a rebalance is
 * moving it, or its node just died) the answer is an immediate NO_OWNER (503) telling the client to retry,
 * whatever message the node gave, rather than a hang or a confusing error.
 */
export async function askOwner<T>(topic: string, partition: number, ask: () => Promise<T>): Promise<T> {
  try {
    return await ask()
  } catch (err) {
    if (!isBatonError(err, 'NO_OWNER')) throw err
    throw new BatonError(
      'NO_OWNER',
      `partition ${partition} of topic "${topic}" has no owner right now (it is being reassigned between nodes); retry in a few seconds`,
      { cause: err },
    )
  }
}

/**
 * Answers a partition request (already validated here, token included) on the node that owns the
 * partition: `node.forward` hands it to the owner when that is another node, and the owner's status and
 * body come back as they are, except that a partition state names this node as `answeredBy`. Otherwise
 * `here` answers, through `askOwner`. `body` is the JSON text to pass on.
 */
export async function answerFromOwner(
  c: Context,
  node: NodeApi,
  topic: string,
  partition: number,
  body: string | undefined,
  here: () => Promise<PartitionView>,
): Promise<Response> {
  const url = new URL(c.req.url)
  const answer = await node.forward(topic, partition, {
    method: c.req.method === 'GET' ? 'GET' : 'POST',
    path: `${url.pathname}${url.search}`,
    body,
    authorization: c.req.header('authorization'),
    forwardedBy: c.req.header(FORWARDED_BY_HEADER),
  })
  if (!answer) return c.json(await askOwner(topic, partition, here))
  const ok = answer.status >= 200 && answer.status < 300
  const isObject = typeof answer.body === 'object' && answer.body !== null && !Array.isArray(answer.body)
  if (answer.status === 503) c.header('Retry-After', '2')
  return c.json(
    ok && isObject ? { ...(answer.body as object), answeredBy: node.nodeId } : answer.body,
    answer.status as ContentfulStatusCode,
  )
}
