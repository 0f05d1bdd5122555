import { Hono } from 'hono'
import { methodNotAllowed } from 'hono/method-not-allowed'
import { secureHeaders } from 'hono/secure-headers'
import { BatonError } from '../errors.ts'
import type { NodeApi } from '../node-api.ts'
import { errorHandler, errorResponse, type InternalErrorReporter } from './errors.ts'
import { actorRoutes } from './routes/actors.ts'
import { adminRoutes } from './routes/admin.ts'
import { dlqRoutes } from './routes/dlq.ts'
import { ingestRoutes } from './routes/ingest.ts'
import { probeRoutes } from './routes/probes.ts'

export interface ApiOptions {
  /** BATON_API_TOKEN: the bearer token of the admin routes; without it they answer 403. */
  readonly apiToken?: string
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
} as const

/**
 * The node's HTTP API (DESIGN.md, Contracts) as a Hono app over `node`. Every error answer is JSON
 * `{ error, message }`; every answer carries security headers and `Cache-Control: no-store`.
 *
 * @example serve(createApi(node, { apiToken: config.apiToken }), { host: '127.0.0.1', port: 8080 })
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
  const admin = { apiToken: options.apiToken, maxBodyBytes: limits.maxBodyBytes }
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
  app.route('/', probeRoutes(node))
  app.route('/', actorRoutes(node))
  app.route('/', ingestRoutes(node, limits))
  app.route('/', adminRoutes(node, admin))
  app.route('/', dlqRoutes(node, admin))
  app.notFound((c) =>
    errorResponse(c, 'NOT_FOUND', `there is no route ${c.req.method} ${c.req.path}; DESIGN.md lists the API`),
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

function reportToStderr(err: unknown, request: { method: string; path: string }): void {
  console.error(`baton http: ${request.method} ${request.path} failed`, err)
}
