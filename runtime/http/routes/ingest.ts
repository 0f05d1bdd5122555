import { Hono } from 'hono'
import type { NodeApi } from '../../node-api.ts'
import { type IngestLimits, ingestFormat, parseIngestBody } from '../ingest-body.ts'
import { servedTopic } from '../params.ts'
import { readText } from '../read-body.ts'

/**
 * `POST /v1/topics/:topic/events`: a JSON array or NDJSON of events. Answers
 * `{ accepted, results: [{partition, offset}] }` only once the node has made every event durable.
 */
export function ingestRoutes(node: NodeApi, limits: IngestLimits & { maxBodyBytes: number }): Hono {
  return new Hono().post('/v1/topics/:topic/events', async (c) => {
    // The topic is checked first so that a request for the wrong topic is refused without reading its body.
    const topic = servedTopic(node, c.req.param('topic'))
    const body = await readText(c.req.raw, limits.maxBodyBytes)
    const events = parseIngestBody(body, ingestFormat(c.req.header('content-type'), body), limits)
    // The client's rate limit charges these once the request is answered.
    c.set('ingestedEvents', events.length)
    const results = await node.ingest(topic, events)
    return c.json({ accepted: events.length, results })
  })
}
