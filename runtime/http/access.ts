import type { Hono, MiddlewareHandler } from 'hono'
import { type AccessPolicy, type Role, requireRole } from './auth.ts'

/**
 * Which role each route needs, in one table so that what is open can be read in one place. Routes not
 * listed are open: `/healthz` and `/readyz` (orchestrators carry no token), and `/metrics` unless
 * `metricsAuth` puts it behind the read token.
 */
const guarded: readonly (readonly [method: 'GET' | 'POST', path: string, role: Role])[] = [
  ['POST', '/v1/topics/:topic/events', 'ingest'],
  ['GET', '/v1/cluster', 'read'],
  ['GET', '/v1/actors', 'read'],
  ['GET', '/v1/actors/:topic/:partition', 'read'],
  ['GET', '/v1/dlq', 'read'],
  ['POST', '/v1/actors/:topic/:partition/:action', 'admin'],
  ['POST', '/v1/dlq/replay', 'admin'],
  ['GET', '/v1/quarantine', 'read'],
  ['POST', '/v1/dlq/:id/:decision', 'admin'],
]

/**
 * Installs the guards of `guarded` on `app`, before its routes are added, so a request is checked before
 * anything of it is read. `afterAuth` holds middleware that runs once a route's token passed (the ingest
 * rate limit).
 */
export function guardRoutes(
  app: Hono,
  policy: AccessPolicy & { readonly metricsAuth: boolean },
  afterAuth: Partial<Record<string, MiddlewareHandler>> = {},
): void {
  const routes = policy.metricsAuth ? [...guarded, ['GET', '/metrics', 'read'] as const] : guarded
  for (const [method, path, role] of routes) {
    const guard = requireRole(role, policy)
    const after = afterAuth[`${method} ${path}`]
    // `use` rather than `get`/`post`: a guard is no route of its own, so 404 and 405 answers stay as
    // they are. HEAD is answered by the GET route, so it is guarded as GET.
    app.use(path, async (c, next) => {
      const asked = c.req.method === 'HEAD' ? 'GET' : c.req.method
      if (asked !== method) return next()
      return guard(c, after ? async () => void (await after(c, next)) : next)
    })
  }
}
