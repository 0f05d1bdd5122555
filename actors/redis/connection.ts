import type { ConnectionOptions } from 'node:tls'
import type { RedisOptions } from 'ioredis'
import { connectionError } from '../connection-failure.ts'
import { BatonError } from '../core/errors.ts'

/**
 * The `tls` option of ioredis for REDIS_URL: none for `redis://`; for `rediss://`, the server's certificate
 * verified against `tlsCa` (PEM text of REDIS_TLS_CA) or the system's CAs, and its name checked against
 * the URL's host (ioredis's default).
 */
export function redisTls(url: string, tlsCa: string | undefined): Pick<RedisOptions, 'tls'> {
  if (!url.startsWith('rediss:')) {
    if (tlsCa) {
      throw new BatonError('CONFIG_INVALID', 'REDIS_TLS_CA is set, but REDIS_URL is not rediss:// (TLS).')
    }
    return {}
  }
  const tls: ConnectionOptions = { rejectUnauthorized: true, ...(tlsCa ? { ca: tlsCa } : {}) }
  return { tls }
}

/**
 * The start-up error for a Redis that refused the connection: SERVICE_AUTH_FAILED (WRONGPASS, NOAUTH, an
 * ACL that refuses PING), SERVICE_TLS_FAILED (its certificate) or SERVICE_UNREACHABLE. `where` is masked.
 */
export function redisStartError(where: string, cause: unknown, detail: string, doing: string): BatonError {
  return connectionError('Redis', `${where} (${doing})`, cause, detail, {
    authentication:
      "Check the user and password in REDIS_URL and that user's ACL (README, Security, lists the line baton needs).",
    certificate:
      "Set REDIS_TLS_CA to the PEM file of the CA that signed Redis's certificate, and check that the " +
      'certificate names the host of REDIS_URL.',
    unreachable:
      'Check REDIS_URL (rediss:// when Redis only listens with TLS) and that the server is running and ' +
      'reachable from this node.',
  })
}
