/** The text that replaces a secret. */
const REDACTED = '[Redacted]'

// Field names whose values are secrets whatever they hold: `password`, `KAFKA_SASL_PASSWORD`, `apiToken`,
// `clientSecret`, `authorization` (an HTTP header), `pass` (the postgres driver's option).
const SECRET_KEY = /(?:password|passwd|secret|token|authorization|api_?key|cookie)s?$|^pass$/i

// scheme://user:PASSWORD@host. The password runs to the last `@` before the authority ends, as a URL
// parser reads it, so an unencoded `@` in a password does not leave its tail visible.
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@"]*:)[^\s/?#"]+@/gi
// libpq and several drivers also take credentials as query parameters.
const QUERY_SECRET = /([?&](?:password|passwd|pwd|secret|token|api_?key)=)[^&#\s"]+/gi
const AUTH_HEADER = /\b(Bearer|Basic)\s+[\w.~+/=-]+/g

/**
 * Masks the secrets that free text can carry: URL passwords (`postgres://u:pw@h` → `postgres://u:***@h`,
 * `rediss://:pw@h` → `rediss://:***@h`), credentials in query strings and `Bearer`/`Basic` credentials.
 * For text that is one URL, `maskUrl` does the same by parsing; this one finds URLs inside
 * messages, stack traces and serialized JSON.
 *
 * @example
 * maskSecrets('connect ECONNREFUSED postgres://app:s3cret@db:5432/baton') // 'connect ECONNREFUSED postgres://app:***@db:5432/baton'
 */
export function maskSecrets(text: string): string {
  return text.replace(URL_PASSWORD, '$1***@').replace(QUERY_SECRET, '$1***').replace(AUTH_HEADER, '$1 ***')
}

/** Replaces the password of a URL (and credentials in its query) with `***`. */
export function maskUrl(value: string): string {
  try {
    const u = new URL(value)
    if (u.password) u.password = '***'
    // libpq also takes `?password=`; maskSecrets finds that, and anything URL could not parse.
    return maskSecrets(u.toString())
  } catch {
    return maskSecrets(value)
  }
}

/**
 * Builds a function that replaces each of `secrets` in a serialized log line with `***`, also in its
 * JSON-escaped form. Secrets shorter than 4 characters are ignored: masking them would garble the line
 * and hide nothing worth hiding.
 */
export function maskKnown(secrets: readonly string[]): (line: string) => string {
  const forms = [
    ...new Set(secrets.filter((s) => s.length >= 4).flatMap((s) => [s, JSON.stringify(s).slice(1, -1)])),
  ]
  if (forms.length === 0) return (line) => line
  return (line) => {
    for (const form of forms) if (line.includes(form)) line = line.replaceAll(form, '***')
    return line
  }
}

/**
 * A copy of a log record with the value of every secret-named field replaced, at any depth, and every
 * Error serialized (`type`, `message`, `stack`, its own fields such as `code`, `cause` nested the same
 * way) so that what an error carries is redacted too.
 * Only plain objects, arrays and errors are walked; other values are left to the line-level masking.
 */
export function redactFields(value: Record<string, unknown>): Record<string, unknown> {
  return walk(value, 0, new WeakSet()) as Record<string, unknown>
}

// Deeper than any record baton logs; a bound keeps a hostile or cyclic object from costing more.
const MAX_DEPTH = 8

function walk(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value !== 'object' || value === null) return value
  if (seen.has(value)) return '[Circular]'
  if (depth >= MAX_DEPTH) return '[Object]'
  if (value instanceof Error) return serializeError(value, depth, seen)
  if (Array.isArray(value)) {
    seen.add(value)
    const out = value.map((v) => walk(v, depth + 1, seen))
    seen.delete(value)
    return out
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return value
  seen.add(value)
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) && v !== undefined && v !== null ? REDACTED : walk(v, depth + 1, seen)
  }
  seen.delete(value)
  return out
}

function serializeError(err: Error, depth: number, seen: WeakSet<object>): Record<string, unknown> {
  seen.add(err)
  const out = walk({ ...err }, depth, seen) as Record<string, unknown>
  out.type = err.name
  out.message = err.message
  out.stack = err.stack
  // `cause` is not enumerable, so the spread above missed it; AggregateError keeps its list the same way.
  if (err.cause !== undefined) out.cause = walk(err.cause, depth + 1, seen)
  if (err instanceof AggregateError) out.errors = walk(err.errors, depth + 1, seen)
  seen.delete(err)
  return out
}
