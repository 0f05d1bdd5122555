/**
 * Every error baton raises on purpose carries a stable code from this one list, a message that says
 * what happened and what to do, and the `cause` it wraps. Programs (and tests) match on `code`, never on
 * message text. Add a code here before throwing it anywhere.
 */
export const errorCodes = [
  // configuration and start-up
  'CONFIG_INVALID',
  'PIPELINE_INVALID',
  'PREREQUISITE_MISSING',
  'SERVICE_UNREACHABLE',
  // a service answered but refused baton's credentials (password, SASL user, ACL user)
  'SERVICE_AUTH_FAILED',
  // the TLS handshake with a service failed: its certificate is not trusted by the configured CA, or names another host
  'SERVICE_TLS_FAILED',
  'SERVICE_START_FAILED',
  'MIGRATION_FAILED',
  // the HTTP port could not be bound (taken, an address this machine lacks, a privileged port)
  'LISTEN_FAILED',
  'SERVICE_NOT_STARTED',
  'SERVICES_BUSY',
  // actor core
  'MAILBOX_FULL',
  'ACTOR_STOPPED',
  'ACTOR_NOT_FOUND',
  'ASK_TIMEOUT',
  'ASK_ABORTED',
  'ACTOR_NAME_TAKEN',
  'SUPERVISOR_INTENSITY_EXCEEDED',
  'SHUTDOWN_TIMEOUT',
  'ACTOR_NAME_INVALID',
  'ACTOR_OPTIONS_INVALID',
  // partition processing
  'FENCED',
  // the watermark row holds this actor's epoch (or an older one) but not the offset its batch starts at:
  // the actor restarts and resumes from the watermark, nothing is applied
  'WATERMARK_MISMATCH',
  'POISON_EVENT',
  'SINK_UNAVAILABLE',
  'CHECKPOINT_UNAVAILABLE',
  'SOURCE_UNAVAILABLE',
  // a fetched record batch does not match its CRC-32C (BATON_CHECK_CRCS)
  'CORRUPT_RECORD_BATCH',
  'DEAD_LETTER_FAILED',
  // per-key quarantine: a partition at BATON_QUARANTINE_MAX_KEYS pauses; a letter's retry/skip that does not
  // apply (already decided, replayed, or holding no key)
  'QUARANTINE_FULL',
  'QUARANTINE_CONFLICT',
  // POST /v1/dlq/:id/retry: the dead-lettered event failed again; nothing changed
  'RETRY_FAILED',
  'PARTITION_NOT_ASSIGNED',
  // the node could not start the partitions the group assigned it, after retries: it leaves the group and exits
  'ASSIGNMENT_FAILED',
  'PRODUCE_FAILED',
  // cluster: membership registry and requests forwarded to a partition's owner
  'REGISTRY_UNAVAILABLE',
  'FORWARD_TIMEOUT',
  // HTTP
  'BAD_REQUEST',
  'PAYLOAD_TOO_LARGE',
  'NOT_FOUND',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NO_OWNER',
  'METHOD_NOT_ALLOWED',
  'RATE_LIMITED',
  'REQUEST_TIMEOUT',
  // the port is bound but the node has not finished starting (services checked, API built)
  'NODE_STARTING',
  // anything not raised on purpose, as the HTTP API reports it (the details stay in the node's log)
  'INTERNAL',
] as const

export type ErrorCode = (typeof errorCodes)[number]

/**
 * The codes that say a service is away, not that the request or its data is wrong: the same operation can
 * succeed later, so the caller retries it with backoff and blames no event (as franz-go's `kerr.Retriable`
 * is a property of Kafka's error codes). Whether an outside error is one of these is decided once, where
 * an adapter turns it into a BatonError (`toSinkError`, `connectionError`, the SQLite sink); everything
 * downstream reads the code. Not here: SOURCE_UNAVAILABLE, which also reports a group coordinator that
 * refused the member for good, and the codes of a refusal (FENCED, SERVICE_AUTH_FAILED, ...).
 */
const retryableCodes: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'SERVICE_UNREACHABLE',
  'SINK_UNAVAILABLE',
  'CHECKPOINT_UNAVAILABLE',
])

export class BatonError extends Error {
  readonly code: ErrorCode

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = 'BatonError'
  }
}

/** True when `err` is a BatonError with one of the given codes (or any code when none is given). */
export function isBatonError(err: unknown, ...codes: ErrorCode[]): err is BatonError {
  return err instanceof BatonError && (codes.length === 0 || codes.includes(err.code))
}

/** True when `err` is a BatonError whose code says "retry later" (see `retryableCodes`). */
export function isRetryable(err: unknown): boolean {
  return err instanceof BatonError && retryableCodes.has(err.code)
}

/** The message of anything thrown, for logs and API answers. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message
  return String(err)
}
