import { Hono } from 'hono'
import { BatonError, errorMessage } from '../../actors/core/errors.ts'
import { type Clock, realClock, withDeadline } from '../../actors/core/index.ts'
import { errorResponse } from './errors.ts'

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

/** A bound port whose app comes later (see `listen`). */
export interface Listener extends Server {
  /** From now on, every request is answered by `app`. */
  attach(app: Hono): void
}

export interface ListenOptions {
  readonly host: string
  readonly port: number
  /** Idle connections are closed after this long (default 30), so silent clients cannot hold them. */
  readonly idleTimeoutSeconds?: number
  /** Times the grace of `stop` (default: the process clock). */
  readonly clock?: Clock
}

// Until the node has checked its services and built its API, every request learns that it is starting.
const starting = new Hono().all('*', (c) =>
  errorResponse(c, 'NODE_STARTING', 'this node is starting; ask again once GET /readyz answers 200'),
)

/**
 * Binds the node's HTTP port at once, before the node opens anything else, so that a port another
 * process holds ends start-up in a moment, before a service is touched or a partition taken. Until
 * `attach`, requests get 503 NODE_STARTING (to the probes, as a closed port was: not started).
 * Throws BatonError LISTEN_FAILED naming the address and the setting to change.
 *
 * @example
 * const listener = listen({ host: '127.0.0.1', port: 8080 })
 * listener.attach(createApi(node))
 */
export function listen(options: ListenOptions): Listener {
  let app: Hono = starting
  let server: ReturnType<typeof Bun.serve>
  try {
    server = Bun.serve({
      hostname: options.host,
      port: options.port,
      idleTimeout: options.idleTimeoutSeconds ?? 30,
      // The remote address is the client of the ingest rate limit (rate-limit.ts).
      fetch: (request, server) => app.fetch(request, { clientAddress: server.requestIP(request)?.address }),
    })
  } catch (err) {
    throw listenFailed(options, err)
  }
  return {
    url: server.url.href,
    attach(next) {
      app = next
    },
    async stop(graceMs = 10_000) {
      const graceful = server.stop(false)
      if (await withDeadline(graceful, options.clock ?? realClock, graceMs)) await graceful
      else await server.stop(true)
    },
  }
}

/** What went wrong binding the port, in the terms of the settings that choose it. */
function listenFailed(options: ListenOptions, err: unknown): BatonError {
  const where = `${options.host}:${options.port}`
  const code = (err as { code?: unknown }).code
  const advice =
    code === 'EADDRINUSE'
      ? `port ${options.port} is in use by another process (another baton node?). Stop that process, or set ` +
        'BATON_HTTP_PORT to a free port.'
      : code === 'EADDRNOTAVAIL'
        ? `this machine has no address ${options.host}. Set BATON_HTTP_HOST to one of its addresses, or to ` +
          '0.0.0.0 for all of them.'
        : code === 'EACCES'
          ? `this user may not listen on port ${options.port}. Set BATON_HTTP_PORT to 1024 or above.`
          : `${errorMessage(err)}. Check BATON_HTTP_HOST and BATON_HTTP_PORT.`
  return new BatonError('LISTEN_FAILED', `Cannot listen for HTTP on ${where}: ${advice}`, { cause: err })
}
