import { chmodSync, chownSync, copyFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { TlsFiles } from './certificates.ts'

/** The two roles of a secure set: the schema's owner runs migrations, the runtime role only DML. */
export const securePostgresRoles = { owner: 'baton_owner', runtime: 'baton_app' } as const

/**
 * The SQL that sets up the two roles (README, Security, shows the same): `server` runs in the `postgres`
 * database, `database` in baton's database once it exists.
 */
export function rolesSql(opts: { database: string; ownerPassword: string; runtimePassword: string }) {
  const { owner, runtime } = securePostgresRoles
  return {
    server: [
      `CREATE ROLE ${owner} LOGIN PASSWORD '${opts.ownerPassword}';`,
      `CREATE ROLE ${runtime} LOGIN PASSWORD '${opts.runtimePassword}';`,
      `CREATE DATABASE ${opts.database} OWNER ${owner};`,
      `REVOKE ALL ON DATABASE ${opts.database} FROM PUBLIC;`,
      `GRANT CONNECT ON DATABASE ${opts.database} TO ${runtime};`,
    ],
    database: [
      'REVOKE CREATE ON SCHEMA public FROM PUBLIC;',
      `GRANT USAGE ON SCHEMA public TO ${runtime};`,
      `ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${runtime};`,
      `ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO ${runtime};`,
    ],
  }
}

/**
 * Makes a fresh data folder secure: the certificate and key copied in (PostgreSQL wants its key readable
 * by itself alone), TLS on, and a pg_hba.conf that admits only TLS connections with a SCRAM password.
 * Returns the postgresql.conf lines to append.
 */
export function securePostgresFiles(
  dataDir: string,
  tls: TlsFiles,
  runAs: { uid: number; gid: number } | undefined,
): string {
  for (const [from, to, mode] of [
    [tls.cert, 'server.pem', 0o644],
    [tls.key, 'server.key', 0o600],
  ] as const) {
    const file = join(dataDir, to)
    copyFileSync(from, file)
    if (runAs) chownSync(file, runAs.uid, runAs.gid)
    chmodSync(file, mode)
  }
  writeFileSync(
    join(dataDir, 'pg_hba.conf'),
    [
      '# baton services --secure: TLS and a SCRAM password, from this machine only',
      'hostssl all all 127.0.0.1/32 scram-sha-256',
      '',
    ].join('\n'),
  )
  return `${[
    '',
    '# baton services --secure',
    'ssl = on',
    "ssl_cert_file = 'server.pem'",
    "ssl_key_file = 'server.key'",
    "ssl_min_protocol_version = 'TLSv1.2'",
    "password_encryption = 'scram-sha-256'",
  ].join('\n')}\n`
}

/** A role's URL for baton: TLS verified against the test CA, the host name included. */
export function securePostgresUrl(opts: {
  role: string
  password: string
  port: number
  database: string
  ca: string
}): string {
  return `postgres://${opts.role}:${opts.password}@127.0.0.1:${opts.port}/${opts.database}?sslmode=verify-full&sslrootcert=${opts.ca}`
}
