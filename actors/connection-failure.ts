import { BatonError, errorMessage } from './core/errors.ts'
import { maskSecrets } from './core/log-redact.ts'

/**
 * Why a connection to a service failed, as an operator fixes it:
 * - `authentication`: the service answered and refused the credentials (or the ACL user may not log in);
 * - `certificate`: the TLS handshake failed: the server's certificate is not signed by the trusted CA,
 *   names another host, or expired;
 * - `unreachable`: anything else (refused, reset, timed out, unknown host).
 */
export type ConnectionFailure = 'authentication' | 'certificate' | 'unreachable'

// Node's and Bun's TLS verification codes, and OpenSSL's handshake errors.
const CERTIFICATE_CODE =
  /^(CERT_|UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO|ERR_TLS_|ERR_SSL_|HOSTNAME_MISMATCH|INVALID_CA)/
// PostgreSQL SQLSTATE 28P01 (wrong password) and 28000 (no pg_hba entry, or the role may not log in);
// postgres.js's own SCRAM failure; @platformatic/kafka's SASL failure and Kafka's protocol errors.
const AUTHENTICATION_CODE =
  /^(28P01|28000|SASL_SIGNATURE_MISMATCH|PLT_KFK_AUTHENTICATION|SASL_AUTHENTICATION_FAILED|UNSUPPORTED_SASL_MECHANISM|ILLEGAL_SASL_STATE)$/
// Redis replies: wrong user or password, no credentials given, or an ACL that refuses the first command.
const AUTHENTICATION_REPLY = /^(WRONGPASS|NOAUTH|NOPERM)\b/

/** Classifies `err`, looking through its `cause` chain and aggregated `errors` (the first match wins). */
export function connectionFailure(err: unknown): ConnectionFailure {
  return classify(err).kind
}

/** The kind, and the message of the error inside `err` that decided it. */
function classify(err: unknown): { kind: ConnectionFailure; evidence?: string } {
  let found: { kind: ConnectionFailure; evidence?: string } = { kind: 'unreachable' }
  const walk = (e: unknown, depth: number): boolean => {
    if (!e || typeof e !== 'object' || depth > 8) return false
    const code = (e as { code?: unknown }).code
    const message = errorMessage(e)
    if (typeof code === 'string' && CERTIFICATE_CODE.test(code))
      found = { kind: 'certificate', evidence: message }
    else if (/certificate|self[- ]signed|wrong version number/i.test(message))
      found = { kind: 'certificate', evidence: message }
    else if (typeof code === 'string' && AUTHENTICATION_CODE.test(code)) found = { kind: 'authentication' }
    else if (AUTHENTICATION_REPLY.test(message)) found = { kind: 'authentication' }
    else {
      const inner = [(e as { cause?: unknown }).cause, ...((e as { errors?: unknown[] }).errors ?? [])]
      return inner.some((x) => walk(x, depth + 1))
    }
    return true
  }
  walk(err, 0)
  return found
}

/** What to tell the operator for each kind of failure, per service. */
export interface ConnectionHints {
  readonly authentication: string
  readonly certificate: string
  readonly unreachable: string
}

/**
 * The start-up error for a service baton could not connect to: SERVICE_AUTH_FAILED, SERVICE_TLS_FAILED or
 * SERVICE_UNREACHABLE, naming the service and where it is (`where` must already be masked) and saying
 * what to check. `detail` is the driver's message; pass it through the service's scrubber, as drivers may
 * quote a URL.
 *
 * @example
 * throw connectionError('Redis', 'rediss://baton:***@cache:6380', err, scrub(errorMessage(err)), hints)
 */
export function connectionError(
  service: string,
  where: string,
  cause: unknown,
  detail: string,
  hints: ConnectionHints,
): BatonError {
  const { kind, evidence } = classify(cause)
  // A client may wrap the TLS error in its own ("Listing topics failed."): name the certificate problem too.
  const seen = evidence && !detail.includes(evidence) ? `${detail}: ${maskSecrets(evidence)}` : detail
  switch (kind) {
    case 'authentication':
      return new BatonError(
        'SERVICE_AUTH_FAILED',
        `${service} at ${where} refused baton's credentials (${seen}). ${hints.authentication}`,
        { cause },
      )
    case 'certificate':
      return new BatonError(
        'SERVICE_TLS_FAILED',
        `${service} at ${where}: its TLS certificate could not be verified (${seen}). ${hints.certificate}`,
        { cause },
      )
    case 'unreachable':
      return new BatonError(
        'SERVICE_UNREACHABLE',
        `${service} at ${where} is unreachable (${seen}). ${hints.unreachable}`,
        {
          cause,
        },
      )
  }
}
