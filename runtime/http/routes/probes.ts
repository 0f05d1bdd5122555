import { Hono } from 'hono'
import type { NodeApi } from '../../node-api.ts'

/**
 * `GET /healthz` (liveness), `GET /readyz` (200 when ready, else 503 with the reasons) and `GET /metrics`
 * (Prometheus text). Open to everyone: orchestrators and scrapers carry no token.
 */
export function probeRoutes(node: NodeApi): Hono {
  return new Hono()
    .get('/healthz', (c) => c.json(node.health()))
    .get('/readyz', (c) => {
      const readiness = node.readiness()
      return c.json(readiness, readiness.ready ? 200 : 503)
    })
    .get('/metrics', async (c) => {
      const { contentType, body } = await node.metrics()
      return c.body(body, 200, { 'Content-Type': contentType })
    })
}
