import { readFileSync } from 'node:fs'
import { type ConnectionOptions, checkServerIdentity } from 'node:tls'
import { BatonError } from '../core/errors.ts'

/** A PostgreSQL URL as postgres.js takes it: the URL without libpq's TLS parameters, and its `ssl` option. */
export interface PostgresConnection {
  readonly url: string
  readonly ssl: false | 'prefer' | 'require' | ConnectionOptions
}

const TLS_PARAMETERS = ['sslmode', 'sslrootcert']

/**
 * Reads libpq's `sslmode` and `sslrootcert` from a DATABASE_URL and turns them into postgres.js's `ssl`
 * option, because postgres.js alone does not verify against a CA file: it ignores `sslrootcert` (and
 * would send it to the server as a run-time parameter, which the server refuses) and verifies
 * `verify-full` only against the system's CAs.
 *
 * - `disable` (or no sslmode): no TLS; `allow`/`prefer`: TLS when the server offers it, unverified;
 * - `require`: TLS, unverified, unless `sslrootcert` is given, which makes it `verify-ca` (as libpq does);
 * - `verify-ca`: the certificate must be signed by `sslrootcert` (or a system CA);
 * - `verify-full`: that, and it must name the host of the URL.
 *
 * Throws CONFIG_INVALID for an unknown sslmode or an unreadable `sslrootcert`.
 *
 * @example postgresConnection('postgres://app:pw@db:5432/baton?sslmode=verify-full&sslrootcert=/etc/baton/ca.pem')
 */
export function postgresConnection(url: string, variable = 'DATABASE_URL'): PostgresConnection {
  const at = url.indexOf('?')
  if (at < 0) return { url, ssl: false }
  const query = new URLSearchParams(url.slice(at + 1))
  const mode = query.get('sslmode') ?? 'disable'
  const rootCert = query.get('sslrootcert')
  for (const name of TLS_PARAMETERS) query.delete(name)
  const rest = query.toString()
  const stripped = `${url.slice(0, at)}${rest ? `?${rest}` : ''}`
  const ca = rootCert && rootCert !== 'system' ? readCa(rootCert, variable) : undefined
  switch (mode) {
    case 'disable':
      return { url: stripped, ssl: false }
    case 'allow':
    case 'prefer':
      return { url: stripped, ssl: 'prefer' }
    case 'require':
      return { url: stripped, ssl: ca ? verifyCa(ca) : 'require' }
    case 'verify-ca':
      return { url: stripped, ssl: verifyCa(ca) }
    case 'verify-full':
      return { url: stripped, ssl: verifyFull(ca, singleHost(url)) }
    default:
      throw new BatonError(
        'CONFIG_INVALID',
        `${variable}: sslmode=${mode} is not one of disable, allow, prefer, require, verify-ca, verify-full.`,
      )
  }
}

function verifyCa(ca: string | undefined): ConnectionOptions {
  // The chain is checked; the name is not (that is what verify-ca means).
  return { rejectUnauthorized: true, ...(ca ? { ca } : {}), checkServerIdentity: () => undefined }
}

function verifyFull(ca: string | undefined, host: string | undefined): ConnectionOptions {
  return {
    rejectUnauthorized: true,
    ...(ca ? { ca } : {}),
    // Checked against the URL's host explicitly: postgres.js passes no server name for an IP address.
    ...(host ? { checkServerIdentity: (_: string, cert) => checkServerIdentity(host, cert) } : {}),
  }
}

/** The host of a URL that names one; undefined for postgres.js's several-host URLs. */
function singleHost(url: string): string | undefined {
  try {
    const host = new URL(url).hostname
    return host.replace(/^\[(.*)\]$/, '$1') || undefined
  } catch {
    return undefined
  }
}

function readCa(path: string, variable: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    throw new BatonError(
      'CONFIG_INVALID',
      `${variable}: sslrootcert=${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}); give the path of the PEM file of the CA that signed the server's certificate.`,
      { cause: err },
    )
  }
}
