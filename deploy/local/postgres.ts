import { appendFileSync, chownSync, mkdirSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import postgres from 'postgres'
import { postgresConnection } from '../../actors/postgres/tls.ts'
import { generatedPassword } from './passwords.ts'
import { freeLoopbackPort } from './ports.ts'
import { rolesSql, securePostgresFiles, securePostgresRoles, securePostgresUrl } from './postgres-secure.ts'
import { requirePostgresBin } from './prerequisites.ts'
import { launchDetached, runToCompletion } from './processes.ts'
import { withTimeout } from './readiness.ts'
import type { ServiceDriver, ServiceRecord } from './types.ts'

/** The database baton's DATABASE_URL names. */
export const databaseName = 'baton'

// PostgreSQL refuses to run as root; as root, it runs as nobody (present on every Debian system).
const nobody = { uid: 65534, gid: 65534 }

function runAs(): { uid: number; gid: number } | undefined {
  return process.getuid?.() === 0 ? nobody : undefined
}

/** True when every folder above `path` lets `user` pass through. */
function reachableBy(path: string, user: { uid: number; gid: number }): boolean {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const { mode, uid, gid } = statSync(dir)
    const ok = uid === user.uid ? mode & 0o100 : gid === user.gid ? mode & 0o010 : mode & 0o001
    if (!ok) return false
    if (dir === dirname(dir)) return true
  }
}

/** Settings for a loopback-only test server; fsync stays on so crash tests see real durability. */
export function postgresSettings(opts: { port: number; socketDir: string | null }): string {
  return `${[
    '',
    '# baton services',
    "listen_addresses = '127.0.0.1'",
    `port = ${opts.port}`,
    // A unix socket path longer than 107 bytes cannot be bound; clients use TCP anyway.
    `unix_socket_directories = '${opts.socketDir ?? ''}'`,
    'max_connections = 200',
    'shared_buffers = 128MB',
    // A new server has no WAL segments to recycle, so each 16 MB segment it needs is first written full of
    // zeros: at 26 MB/s of WAL that doubled the disk's writes for the first minutes and held commits (bench
    // latency at 75 k ev/s: p99 510 ms with, 88 ms without). A server that has run a while renames old
    // segments instead, as production's does; ext4 and xfs allocate the blocks as the WAL is written.
    'wal_init_zero = off',
    'fsync = on',
    "log_line_prefix = '%m [%p] '",
    "log_timezone = 'UTC'",
    "timezone = 'UTC'",
  ].join('\n')}\n`
}

const hbaConf = [
  '# baton services: no password, and only from this machine',
  'local all all trust',
  'host all all 127.0.0.1/32 trust',
  '',
].join('\n')

function dataDirFor(home: string): string {
  const inHome = join(home, 'data')
  const user = runAs()
  // A clone under /root cannot be entered by nobody; then the data lives in the temp folder instead.
  if (!user || reachableBy(inHome, user)) return inHome
  return join(tmpdir(), `baton-postgres-${process.pid}-${Date.now()}`)
}

/** PostgreSQL from the system's server binaries, in a data folder of its own. */
export const postgresService: ServiceDriver = {
  name: 'postgres',

  checkPrerequisites() {
    requirePostgresBin()
  },

  async create(home, owner, _onProgress, tls) {
    const bin = requirePostgresBin()
    const port = await freeLoopbackPort()
    const dataDir = dataDirFor(home)
    const logFile = join(home, 'postgres.log')
    const user = runAs()
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    if (user) chownSync(dataDir, user.uid, user.gid)
    await runToCompletion(
      {
        command: join(bin, 'initdb'),
        // The data folder is thrown away with `down`, so initdb need not fsync it.
        args: [
          '-D',
          dataDir,
          '-U',
          'postgres',
          '--auth=trust',
          '-E',
          'UTF8',
          '--no-locale',
          '--no-sync',
          '--no-instructions',
        ],
        logFile,
        runAs: user,
      },
      'initdb',
    )
    const socketTooLong = `${dataDir}/.s.PGSQL.${port}`.length > 100
    appendFileSync(
      join(dataDir, 'postgresql.conf'),
      postgresSettings({ port, socketDir: socketTooLong ? null : dataDir }),
    )
    writeFileSync(join(dataDir, 'pg_hba.conf'), hbaConf)
    if (tls) appendFileSync(join(dataDir, 'postgresql.conf'), securePostgresFiles(dataDir, tls, user))
    // Single-user mode creates the database before any listener exists, so readiness can probe it directly.
    const single = (database: string, statements: string[], what: string) =>
      runToCompletion(
        {
          command: join(bin, 'postgres'),
          args: ['--single', '-D', dataDir, database],
          logFile,
          runAs: user,
          input: `${statements.join('\n')}\n`,
        },
        what,
      )
    let urls: { url: string; secureEnv?: { DATABASE_MIGRATION_URL: string } }
    if (tls) {
      const passwords = { ownerPassword: generatedPassword(), runtimePassword: generatedPassword() }
      const roles = rolesSql({ database: databaseName, ...passwords })
      await single('postgres', roles.server, `creating the roles and the database ${databaseName}`)
      await single(databaseName, roles.database, 'granting the runtime role its rights')
      const secureUrl = (role: string, password: string) =>
        securePostgresUrl({ role, password, port, database: databaseName, ca: tls.ca })
      urls = {
        url: secureUrl(securePostgresRoles.runtime, passwords.runtimePassword),
        secureEnv: { DATABASE_MIGRATION_URL: secureUrl(securePostgresRoles.owner, passwords.ownerPassword) },
      }
    } else {
      await single('postgres', [`CREATE DATABASE ${databaseName};`], `creating the database ${databaseName}`)
      urls = { url: `postgres://postgres@127.0.0.1:${port}/${databaseName}` }
    }
    return {
      name: 'postgres',
      pid: null,
      pidIdentity: null,
      ports: [port],
      home,
      dataDir,
      logFile,
      ...urls,
      owner,
      startedAt: new Date().toISOString(),
    } satisfies ServiceRecord
  },

  launch(record) {
    return launchDetached({
      command: join(requirePostgresBin(), 'postgres'),
      args: ['-D', record.dataDir],
      logFile: record.logFile,
      runAs: runAs(),
    })
  },

  async probe(url, timeoutMs) {
    const connection = postgresConnection(url)
    const sql = postgres(connection.url, {
      ssl: connection.ssl,
      max: 1,
      connect_timeout: Math.max(1, Math.ceil(timeoutMs / 1000)),
      onnotice: () => {},
    })
    try {
      await withTimeout(sql`select 1`, timeoutMs, 'PostgreSQL select 1')
    } finally {
      await sql.end({ timeout: 1 }).catch(() => {})
    }
  },

  signalFor(mode) {
    // SIGINT is PostgreSQL's "fast" shutdown: SIGTERM ("smart") would wait for every client to leave.
    if (mode === 'graceful') return 'SIGINT'
    return mode === 'immediate' ? 'SIGQUIT' : 'SIGKILL'
  },
}
