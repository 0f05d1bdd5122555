import { createHash, timingSafeEqual } from 'node:crypto'
import type { MiddlewareHandler } from 'hono'
import { BatonError } from '../errors.ts'

const BEARER = /^Bearer +(\S+) *$/i

/**
 * Guards admin routes with the bearer token `apiToken` (BATON_API_TOKEN).
 * Without a configured token every admin request is refused (403) with a message saying how to enable
 * them; a missing or malformed `Authorization` header is 401, a wrong token 403.
 *
 * @example app.use('/v1/dlq', adminOnly(config.apiToken))
 */
export function adminOnly(apiToken: string | undefined): MiddlewareHandler {
  const expected = apiToken ? digest(apiToken) : undefined
  return async (c, next) => {
    if (!expected) {
      throw new BatonError(
        'FORBIDDEN',
        'admin routes are disabled on this node because it has no API token: start it with BATON_API_TOKEN set, then send "Authorization: Bearer <token>"',
      )
    }
    const presented = BEARER.exec(c.req.header('authorization') ?? '')?.[1]
    if (!presented) {
      throw new BatonError(
        'UNAUTHORIZED',
        'this route needs the admin token: send the header "Authorization: Bearer <BATON_API_TOKEN>"',
      )
    }
    // Digests have equal length whatever was sent, so the comparison time reveals nothing about the token.
    if (!timingSafeEqual(digest(presented), expected)) {
      throw new BatonError('FORBIDDEN', "the bearer token is not this node's admin token (BATON_API_TOKEN)")
    }
    await next()
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest()
}
