import type { Hono } from 'hono'

/** A running HTTP server. */
export interface Server {
  /** Where it listens, e.g. `http://127.0.0.1:8080/` (the real port when 0 was asked for). */
  readonly url: string
  /**
   * Stops accepting connections and resolves once the requests in flight are answered; after
   * `graceMs` (default 10 s) the connections still open are closed.
   */
  stop(graceMs?: number): Promise<void>
}

/**
 * Serves `app` with Bun.serve. Idle connections are closed after `idleTimeoutSeconds` (default 30), so
 * clients that open connections and send nothing cannot hold them forever.
 *
 * @example const server = serve(createApi(node), { host: '127.0.0.1', port: 8080 })
 */
export function serve(
  app: Hono,
  options: { host: string; port: number; idleTimeoutSeconds?: number },
): Server {
  const server = Bun.serve({
    hostname: options.host,
    port: options.port,
    idleTimeout: options.idleTimeoutSeconds ?? 30,
    // The remote address is the client of the ingest rate limit (rate-limit.ts).
    fetch: (request, server) => app.fetch(request, { clientAddress: server.requestIP(request)?.address }),
  })
  return {
    url: server.url.href,
    async stop(graceMs = 10_000) {
      let timer: ReturnType<typeof setTimeout> | undefined
      const deadline = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), graceMs)
      })
      const outcome = await Promise.race([server.stop(false), deadline])
      clearTimeout(timer)
      if (outcome === 'late') await server.stop(true)
    },
  }
}
