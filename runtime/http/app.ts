import { Hono } from 'hono'
import { methodNotAllowed } from 'hono/method-not-allowed'
import { secureHeaders } from 'hono/secure-headers'
import { BatonError } from '../../actors/core/errors.ts'
import type { NodeApi } from '../node-api.ts'
import { guardRoutes } from './access.ts'
import { errorHandler, errorResponse, type InternalErrorReporter } from './errors.ts'
import { ingestRateLimit } from './rate-limit.ts'
import { requestTimeout } from './request-timeout.ts'
import { actorRoutes } from './routes/actors.ts'
import { adminRoutes } from './routes/admin.ts'
import { dlqRoutes } from './routes/dlq.ts'
import { ingestRoutes } from './routes/ingest.ts'
import { probeRoutes } from './routes/probes.ts'
import { quarantineRoutes } from './routes/quarantine.ts'

export interface ApiOptions {
  /** BATON_API_TOKEN: the bearer token of the admin routes; it opens the ingest and read routes too. */
  readonly apiToken?: string
  /** BATON_INGEST_TOKEN: the bearer token of POST /v1/topics/:topic/events. */
  readonly ingestToken?: string
  /** BATON_READ_TOKEN: the bearer token of GET /v1/cluster, /v1/actors… and /v1/dlq. */
  readonly readToken?: string
  /**
   * Whether a route whose token is unset answers everyone (default true, as for tests and embedding; the
   * node passes `config.openWithoutToken`). When false it takes only the admin token, or answers 403.
   */
  readonly openWithoutToken?: boolean
  /** BATON_METRICS_AUTH: /metrics takes the read token (default false: open, for scrapers). */
  readonly metricsAuth?: boolean
  /** BATON_INGEST_RATE: events per second each client may ingest (default 50,000; 0: no limit). */
  readonly ingestRate?: number
  /** BATON_REQUEST_TIMEOUT_MS: the longest a request may take before a 503 (default 60 s). */
  readonly requestTimeoutMs?: number
  /** Largest request body in bytes (default 4 MiB); larger ones are refused with 413 while reading. */
  readonly maxBodyBytes?: number
  /** Largest event (JSON value plus key and headers) in bytes (default 256 KiB); larger ones are 413. */
  readonly maxEventBytes?: number
  /** Most events in one ingest request (default 10,000). */
  readonly maxEventsPerRequest?: number
  /** Called with errors not raised on purpose, which the client sees only as a 500; default: stderr. */
  readonly onInternalError?: InternalErrorReporter
}

/** The defaults of the limits in ApiOptions. */
export const apiDefaults = {
  maxBodyBytes: 4 * 1024 * 1024,
  maxEventBytes: 256 * 1024,
  maxEventsPerRequest: 10_000,
  ingestRate: 50_000,
  requestTimeoutMs: 60_000,
} as const

/**
 * The node's HTTP API (README.md, HTTP API) as a Hono app over `node`. Every error answer is JSON
 * `{ error, message }`; every answer carries security headers and `Cache-Control: no-store`. Routes are
 * guarded by role (access.ts), ingest is rate-limited per client, and every request has a deadline.
 *
 * @example listen({ host: '127.0.0.1', port: 8080 }).attach(createApi(node, { apiToken: config.apiToken }))
 */
export function createApi(node: NodeApi, options: ApiOptions = {}): Hono {
  const limits = {
    maxBodyBytes: positive('maxBodyBytes', options.maxBodyBytes ?? apiDefaults.maxBodyBytes),
    maxEventBytes: positive('maxEventBytes', options.maxEventBytes ?? apiDefaults.maxEventBytes),
    maxEvents: positive(
      'maxEventsPerRequest',
      options.maxEventsPerRequest ?? apiDefaults.maxEventsPerRequest,
    ),
  }
  const admin = { maxBodyBytes: limits.maxBodyBytes }
  const app = new Hono()
  app.use(
    secureHeaders({
      xFrameOptions: 'DENY',
      contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
    }),
  )
  app.use(async (c, next) => {
    await next()
    // Answers describe live state and may carry dead-lettered payloads: no cache may keep them.
    c.res.headers.set('Cache-Control', 'no-store')
  })
  app.use(
    requestTimeout(positive('requestTimeoutMs', options.requestTimeoutMs ?? apiDefaults.requestTimeoutMs)),
  )
  app.use(
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, methods) => {
        c.header('Allow', methods.join(', '))
        return errorResponse(
          c,
          'METHOD_NOT_ALLOWED',
          `${c.req.method} is not allowed on ${c.req.path}; use ${methods.join(' or ')}`,
        )
      },
    }),
  )
  guardRoutes(
    app,
    {
      tokens: { admin: options.apiToken, ingest: options.ingestToken, read: options.readToken },
      openWithoutToken: options.openWithoutToken ?? true,
      metricsAuth: options.metricsAuth ?? false,
    },
    {
      'POST /v1/topics/:topic/events': ingestRateLimit({
        eventsPerSec: nonNegative('ingestRate', options.ingestRate ?? apiDefaults.ingestRate),
      }),
    },
  )
  app.route('/', probeRoutes(node))
  app.route('/', actorRoutes(node))
  app.route('/', ingestRoutes(node, limits))
  app.route('/', adminRoutes(node, admin))
  app.route('/', dlqRoutes(node, admin))
  app.route('/', quarantineRoutes(node))
  app.notFound((c) =>
    errorResponse(
      c,
      'NOT_FOUND',
      `there is no route ${c.req.method} ${c.req.path}; README.md, section HTTP API, lists them`,
    ),
  )
  app.onError(errorHandler(options.onInternalError ?? reportToStderr))
  return app
}

function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new BatonError('CONFIG_INVALID', `API option ${name} must be a positive whole number, got ${value}`)
  }
  return value
}

function nonNegative(name: string, value: number): number {
  return value === 0 ? 0 : positive(name, value)
}

function reportToStderr(err: unknown, request: { method: string; path: string }): void {
  console.error(`baton http: ${request.method} ${request.path} failed`, err)
}
