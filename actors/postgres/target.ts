/**
 * How a PostgreSQL URL is shown in messages: host, port and database, never the password. postgres.js also
 * accepts URLs that `URL` cannot parse (several hosts: `host1,host2:5433`), so those fall back to patterns.
 */
export interface PostgresTarget {
  /** `host:port/database`, for error messages. */
  readonly where: string
  /** The URL with its password replaced by `***`. */
  readonly masked: string
  /** The password, so that messages quoting a driver error can be scrubbed of it; '' when none. */
  readonly password: string
}

const userInfo = /^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):([^@/]*)@/i
const hostAndDatabase = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/]*@)?([^/?]*)\/?([^?]*)/i

/**
 * Describes `url` for messages.
 * @example postgresTarget('postgres://app:s3cret@db:5432/orders').masked // 'postgres://app:***@db:5432/orders'
 */
export function postgresTarget(url: string): PostgresTarget {
  const password = decode(userInfo.exec(url)?.[2] ?? '')
  const masked = url.replace(userInfo, '$1:***@')
  try {
    const parsed = new URL(url)
    const database = decode(parsed.pathname.slice(1)) || decode(parsed.username) || 'postgres'
    return { where: `${parsed.hostname}:${parsed.port || '5432'}/${database}`, masked, password }
  } catch {
    const [, hosts = '?', database = ''] = hostAndDatabase.exec(url) ?? []
    return { where: `${hosts}/${decode(database)}`, masked, password }
  }
}

/** `text` with every occurrence of `secret` replaced by `***`, for driver messages that might echo it. */
export function scrub(text: string, secret: string): string {
  return secret ? text.split(secret).join('***') : text
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}
