import type { Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { z } from 'zod'
import { BatonError, type ErrorCode } from '../../actors/core/errors.ts'

/**
 * The HTTP status of each error code. Codes not listed are faults of the node, not of the request: 500.
 * Transient conditions are 503 so that clients and load balancers retry instead of giving up.
 */
const statusByCode: Partial<Record<ErrorCode, ContentfulStatusCode>> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  ACTOR_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  // the partition changed hands while the request was being answered; asking again reaches the new owner
  FENCED: 409,
  WATERMARK_MISMATCH: 409,
  // a dead letter already retried, skipped or replayed, or one that holds no key back
  QUARANTINE_CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  // the retried event failed again (the message says why); fix the pipeline and retry, or skip
  RETRY_FAILED: 422,
  RATE_LIMITED: 429,
  NO_OWNER: 503,
  MAILBOX_FULL: 503,
  ACTOR_STOPPED: 503,
  ASK_ABORTED: 503,
  SERVICE_UNREACHABLE: 503,
  SERVICE_AUTH_FAILED: 503,
  SERVICE_TLS_FAILED: 503,
  SERVICE_NOT_STARTED: 503,
  SERVICES_BUSY: 503,
  SINK_UNAVAILABLE: 503,
  SOURCE_UNAVAILABLE: 503,
  CHECKPOINT_UNAVAILABLE: 503,
  REGISTRY_UNAVAILABLE: 503,
  SHUTDOWN_TIMEOUT: 503,
  NODE_STARTING: 503,
  // the node took too long; what was asked may still take effect, so check before repeating it
  REQUEST_TIMEOUT: 503,
  ASK_TIMEOUT: 504,
  // the owner got the request but did not answer in time: the action may still take effect
  FORWARD_TIMEOUT: 504,
}

/** The HTTP status the API answers with for an error code. */
function statusOf(code: ErrorCode): ContentfulStatusCode {
  return statusByCode[code] ?? 500
}

/** Reports errors that were not raised on purpose; their details go to the log, never to the client. */
export type InternalErrorReporter = (err: unknown, request: { method: string; path: string }) => void

/**
 * The API's one `onError` hook: every error becomes `{ error: <code>, message }` with the status of its code.
 * BatonError messages are written for the client; ZodErrors name the bad field; anything else is reported
 * through `report` and answered with a generic 500, so no stack trace or secret reaches the body.
 */
export function errorHandler(report: InternalErrorReporter) {
  return (err: unknown, c: Context): Response => {
    if (err instanceof BatonError) return errorResponse(c, err.code, err.message)
    if (err instanceof z.ZodError) return errorResponse(c, 'BAD_REQUEST', describeZodError(err))
    report(err, { method: c.req.method, path: c.req.path })
    return errorResponse(c, 'INTERNAL', 'the node failed to answer this request; its log has the details')
  }
}

/** The JSON error answer, with the headers that its status calls for. */
export function errorResponse(c: Context, code: ErrorCode, message: string): Response {
  const status = statusOf(code)
  // RFC 6750: a 401 for a bearer-protected resource names the scheme the client should use
  if (status === 401) c.header('WWW-Authenticate', 'Bearer realm="baton"')
  if (status === 503) c.header('Retry-After', '2')
  return c.json({ error: code, message }, status)
}

function describeZodError(err: z.ZodError): string {
  return err.issues
    .slice(0, 3)
    .map((issue) => {
      const path = issue.path.map(String).join('.')
      return path ? `"${path}": ${issue.message}` : issue.message
    })
    .join('; ')
}
