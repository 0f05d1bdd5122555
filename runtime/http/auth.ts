import { createHash, timingSafeEqual } from 'node:crypto'
import type { MiddlewareHandler } from 'hono'
import { BatonError } from '../../actors/core/errors.ts'

/** Who may call a route: the admin token passes every role, the ingest and read tokens only their own. */
export type Role = 'admin' | 'ingest' | 'read'

/** The bearer tokens of a node, by role (BATON_API_TOKEN, BATON_INGEST_TOKEN, BATON_READ_TOKEN). */
export interface ApiTokens {
  readonly admin?: string
  readonly ingest?: string
  readonly read?: string
}

export interface AccessPolicy {
  readonly tokens: ApiTokens
  /**
   * Routes whose own token is unset answer everyone (embedded mode on loopback, or BATON_INSECURE).
   * Otherwise they accept only the admin token, and nobody when that is unset too.
   */
  readonly openWithoutToken: boolean
}

/** The variable that holds each role's token, for messages. */
export const tokenVariable: Record<Role, string> = {
  admin: 'BATON_API_TOKEN',
  ingest: 'BATON_INGEST_TOKEN',
  read: 'BATON_READ_TOKEN',
}

declare module 'hono' {
  interface ContextVariableMap {
    /** Set by `requireRole`: the role of the token the request carried ('anonymous' on an open route). */
    principal: Role | 'anonymous'
  }
}

const BEARER = /^Bearer +(\S+) *$/i

/**
 * Guards routes of `role` with bearer tokens compared in constant time. A missing or malformed
 * `Authorization` header is 401; a token that is not accepted here (wrong, or another role's) is 403;
 * a route that no configured token can open is 403 with a message naming the variable to set. Sets the
 * `principal` variable to the role of the token that passed, for the rate limit.
 *
 * @example app.post('/v1/topics/:topic/events', requireRole('ingest', { tokens, openWithoutToken: false }))
 */
export function requireRole(role: Role, policy: AccessPolicy): MiddlewareHandler {
  const own = policy.tokens[role]
  const accepted = (role === 'admin' ? (['admin'] as const) : ([role, 'admin'] as const)).flatMap((r) => {
    const token = policy.tokens[r]
    return token ? [{ role: r, digest: digest(token) }] : []
  })
  const variables =
    role === 'admin' ? tokenVariable.admin : `${tokenVariable[role]} or ${tokenVariable.admin}`
  return async (c, next) => {
    if (!own && policy.openWithoutToken) {
      c.set('principal', 'anonymous')
      return next()
    }
    if (accepted.length === 0) {
      throw new BatonError(
        'FORBIDDEN',
        `${role} routes are disabled on this node because it has no token for them: start it with ` +
          `${tokenVariable[role]} set, then send "Authorization: Bearer <token>"`,
      )
    }
    const presented = BEARER.exec(c.req.header('authorization') ?? '')?.[1]
    if (!presented) {
      throw new BatonError(
        'UNAUTHORIZED',
        `this route needs the ${role} token: send the header "Authorization: Bearer <${variables}>"`,
      )
    }
    // Digests have equal length whatever was sent, so the comparison time reveals nothing about a token;
    // every accepted token is compared, so neither does the number of comparisons.
    const sent = digest(presented)
    let match: Role | undefined
    for (const candidate of accepted) {
      if (timingSafeEqual(sent, candidate.digest)) match ??= candidate.role
    }
    if (!match) {
      throw new BatonError(
        'FORBIDDEN',
        `the bearer token does not open ${role} routes on this node; they take ${variables}`,
      )
    }
    c.set('principal', match)
    await next()
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest()
}
