import { BatonError, isBatonError, isRetryable } from '../core/errors.ts'
import { type PostgresTarget, scrub } from './target.ts'

/**
 * What a failed sink operation means for the partition actor:
 * - `unavailable`: the database, not the batch, is at fault. Retry the same batch with backoff, open the
 *   circuit, pause fetching; never dead-letter an event for it.
 * - `data`: this batch's data (or the pipeline's SQL for it) is at fault and retrying it unchanged fails the
 *   same way. Isolate the failing event and, after its retries, dead-letter it.
 * - `fenced`: a newer epoch owns the partition (or the batch is a duplicate). Roll back and stop the actor.
 */
export type PostgresErrorClass = 'unavailable' | 'data' | 'fenced'

/**
 * Error codes that are not SQLSTATEs: postgres.js's own connection codes, and Node/Bun socket, DNS and TLS
 * codes. All of them say the connection failed, whatever the batch held.
 */
const connectionCodes = new Set([
  // postgres.js: the socket closed under a query, `sql.end()` ran, or connecting took too long.
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  // clients.ts: a call got no answer within its deadline, and its connection was closed.
  'DEADLINE_EXCEEDED',
  // postgres.js: the SCRAM handshake failed, which is the server's or the credentials' fault.
  'SASL_SIGNATURE_MISMATCH',
  // Sockets and DNS: the server is down, restarting, or the network between is cut.
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  // TLS: a certificate problem is configuration, and an operator fixes it, not a dead letter.
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
])

/**
 * SQLSTATE classes (the first two characters) that the server sends about itself rather than about the
 * statement. The same batch can succeed once the condition passes.
 */
const unavailableClasses = new Set([
  // 08: connection exception (the connection broke, or the server refused to set one up).
  '08',
  // 28: invalid authorization, e.g. a rotated password: the credentials are wrong for every batch alike.
  '28',
  // 3D: invalid catalog name: the database itself is missing (dropped, or the URL names the wrong one).
  '3D',
  // 40: transaction rollback, serialization failure 40001 and deadlock 40P01 above all: retrying is the cure.
  '40',
  // 53: insufficient resources (disk full, out of memory, too many connections).
  '53',
  // 55: object not in prerequisite state, e.g. 55P03 lock_not_available (lock_timeout) while a migration
  // or an operator holds a lock.
  '55',
  // 57: operator intervention: 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now
  // (starting up, recovering), 57014 query canceled (statement_timeout: the server is too slow right now).
  '57',
  // 58: system error (I/O error on the server).
  '58',
  // XX: internal error, data corruption in the server's own files.
  'XX',
])

/** Single SQLSTATEs whose class is mostly about the statement, but which are about the server's state. */
const unavailableStates = new Set([
  // read_only_sql_transaction: after a failover the URL points at a standby; writes succeed on the new primary.
  '25006',
  // insufficient_privilege: a missing grant for the runtime role. The operator fixes the grant; dead-lettering
  // every event meanwhile would empty the partition into the DLQ.
  '42501',
])

/**
 * Classifies an error thrown by `claim`, `commit`, or a pipeline's `handle` inside the sink transaction. The
 * one place that decides "retry the batch, stop the actor, or isolate and dead-letter an event" for
 * PostgreSQL. Follows `cause` so that a pipeline that wrapped a driver error is still understood.
 *
 * Everything a SQLSTATE outside the lists above reports is `data`: 22 data exceptions (bad value, bad JSON),
 * 23 integrity constraint violations (a duplicate key, a null in a not-null column), 42 syntax or undefined
 * objects in a pipeline's SQL, 25P02 a pipeline that went on after a failed statement, P0 a trigger's RAISE.
 * Those fail the same way on every retry, so they are the batch's fault. So is any other error a pipeline
 * throws (a TypeError, postgres.js's UNDEFINED_VALUE for an undefined parameter).
 */
export function classifyPostgresError(err: unknown): PostgresErrorClass {
  let current: unknown = err
  for (let depth = 0; depth < 8 && current instanceof Error; depth++) {
    const verdict = classifyOne(current)
    if (verdict) return verdict
    current = current.cause
  }
  return 'data'
}

function classifyOne(err: Error): PostgresErrorClass | undefined {
  if (err instanceof BatonError) {
    if (err.code === 'FENCED') return 'fenced'
    // Our own wrappers of a lost connection, at start or during a batch: their code says so.
    if (isRetryable(err)) return 'unavailable'
    // Any other BatonError (POISON_EVENT above all) is a verdict about the data already.
    return 'data'
  }
  const code = (err as { code?: unknown }).code
  if (typeof code !== 'string') {
    // A failed system call (connect, read, write) without a code we know is still I/O, not data.
    return typeof (err as { syscall?: unknown }).syscall === 'string' ? 'unavailable' : undefined
  }
  if (connectionCodes.has(code)) return 'unavailable'
  // postgres.js raises its own `query.cancel()` as a plain Error with the server's code 57014.
  if ((err.name === 'PostgresError' || code === '57014') && code.length === 5) {
    return unavailableStates.has(code) || unavailableClasses.has(code.slice(0, 2)) ? 'unavailable' : 'data'
  }
  return undefined
}

/**
 * True when PostgreSQL itself answered with an ERROR somewhere along `cause`: its session lives on and the
 * transaction was rolled back, so nothing about its outcome is unknown. False for a lost connection, a
 * passed deadline, or a FATAL error (which closes the session).
 */
export function answeredWithError(err: unknown): boolean {
  let current: unknown = err
  for (let depth = 0; depth < 8 && current instanceof Error; depth++) {
    if (current.name === 'PostgresError' && (current as { severity?: unknown }).severity === 'ERROR')
      return true
    current = current.cause
  }
  return false
}

/**
 * Wraps an error that means the database is unavailable as BatonError SINK_UNAVAILABLE (with the original as
 * `cause`); returns every other error unchanged, so that a pipeline's own error reaches the actor as thrown.
 */
export function toSinkError(err: unknown, target: PostgresTarget, doing: string): unknown {
  if (isBatonError(err) || classifyPostgresError(err) !== 'unavailable') return err
  return new BatonError(
    'SINK_UNAVAILABLE',
    `PostgreSQL at ${target.where} is unavailable while ${doing} (${describeError(err, target)}). ` +
      'baton retries with backoff; check that the server is running and reachable from this node.',
    { cause: err },
  )
}

/** `CODE: message` of a driver error, scrubbed of the password. */
export function describeError(err: unknown, target: PostgresTarget): string {
  const code = (err as { code?: unknown } | null)?.code
  const message = err instanceof Error ? err.message : String(err)
  const text = typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message
  return scrub(text, target.password)
}
