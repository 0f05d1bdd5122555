import { maskUrl } from '../../actors/core/log-redact.ts'
import { type Command, usageError, wantsHelp } from '../../runtime/cli/command.ts'
import { defaultServicesDir } from './paths.ts'
import {
  type SecureServiceEnv,
  type ServiceEnv,
  type ServiceName,
  type ServiceStatus,
  serviceNames,
  servicesDown,
  servicesEnv,
  servicesStatus,
  servicesUp,
} from './services.ts'

const upHelp = `Usage: baton services up [--secure] [kafka|postgres|redis ...]

Starts real Apache Kafka (KRaft, one broker+controller), PostgreSQL and Redis as background processes on
free 127.0.0.1 ports, waits until each answers a real request, and prints their env lines on stdout:

  KAFKA_BROKERS=127.0.0.1:<port>
  DATABASE_URL=postgres://postgres@127.0.0.1:<port>/baton
  REDIS_URL=redis://127.0.0.1:<port>

Progress goes to stderr. Export the lines into your shell with:  set -a; eval "$(baton services up)"; set +a

A service whose variable is already set is used as it is (it must answer); one baton already runs is
reused. State, logs and data live in .baton/services/ (or BATON_SERVICES_DIR); the Kafka jars are
downloaded once into \${XDG_CACHE_HOME:-~/.cache}/baton/. Needs java 17+, mvn (first run only),
the PostgreSQL server binaries and redis-server.

--secure starts a secure set instead, in .baton/services-secure/ (the other sub-commands take --secure
too): a test CA made with openssl; Kafka with one SASL_SSL listener, a SCRAM-SHA-512 user and ACLs
enforced (that user has only the rights the README's Security section lists); PostgreSQL
with TLS only, a schema owner (DATABASE_MIGRATION_URL) and a DML-only runtime role (DATABASE_URL); Redis
with TLS only and an ACL user allowed baton's commands alone. It prints the further lines KAFKA_SASL_*,
KAFKA_TLS_CA, DATABASE_MIGRATION_URL and REDIS_TLS_CA, with the generated passwords. Needs openssl too.`

const downHelp = `Usage: baton services down [kafka|postgres|redis ...]

Stops the services 'baton services up' started (SIGTERM, PostgreSQL's fast shutdown; SIGKILL to the whole
process group after 10 s) and deletes their data. Their logs stay in .baton/services/ until the next up.`

const envHelp = `Usage: baton services env

Prints the env lines of the services baton runs now (the same lines 'up' prints). Exits 1 when none runs.`

const statusHelp = `Usage: baton services status

Shows each service: up (runs and answers a request), unresponsive, stopped or absent, with its pid,
ports, URL and log file.`

const help = `Usage: baton services <up|down|env|status> [options]

Real Kafka, PostgreSQL and Redis on this machine, without Docker.

  up      start them (or reuse running ones) and print KAFKA_BROKERS, DATABASE_URL, REDIS_URL lines
  down    stop them and delete their data
  env     print the env lines of the running services
  status  what runs where

Each takes --secure for the secure set (TLS, SASL, least-privilege users) in a folder of its own.
Run 'baton services <command> --help' for details.`

// Quoted only when needed, so the usual lines stay plain KEY=value for env files too.
function envLine(key: string, value: string): string {
  return /^[\w@%+=:,./-]*$/.test(value) ? `${key}=${value}` : `${key}='${value.replaceAll("'", "'\\''")}'`
}

function printEnv(env: Partial<ServiceEnv & SecureServiceEnv>): void {
  const lines = Object.entries(env).map(([key, value]) => envLine(key, value))
  process.stdout.write(`${lines.join('\n')}\n`)
}

function parseNames(args: string[]): ServiceName[] | number {
  const unknown = args.filter((a) => !serviceNames.includes(a as ServiceName))
  if (unknown.length > 0)
    return usageError(servicesCommand, `unknown service '${unknown[0]}' (one of ${serviceNames.join(', ')})`)
  return args.length > 0 ? (args as ServiceName[]) : [...serviceNames]
}

function statusTable(rows: ServiceStatus[]): string {
  const cells = rows.map((s) => [
    s.name,
    s.state,
    s.pid === null ? '-' : String(s.pid),
    s.ports.length > 0 ? s.ports.join(',') : '-',
    s.url ? maskUrl(s.url) : '-',
    s.logFile ?? '-',
  ])
  const table = [['SERVICE', 'STATE', 'PID', 'PORTS', 'URL', 'LOG'], ...cells]
  const widths = table[0]?.map((_, i) => Math.max(...table.map((row) => row[i]?.length ?? 0))) ?? []
  return table
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`
}

const progress = (line: string) => process.stderr.write(`baton services: ${line}\n`)

interface SubCommand {
  help: string
  run(args: string[], dir: { dir?: string; secure?: boolean }): Promise<number>
}

/** `--secure` picks the secure set's own folder, so it never mixes with the plain set the tests share. */
function folderOf(args: string[]): { args: string[]; dir: { dir?: string; secure?: boolean } } {
  if (!args.includes('--secure')) return { args, dir: {} }
  return {
    args: args.filter((a) => a !== '--secure'),
    dir: { dir: `${defaultServicesDir()}-secure`, secure: true },
  }
}

const subCommands: Record<string, SubCommand> = {
  up: {
    help: upHelp,
    async run(args, dir) {
      const only = parseNames(args)
      if (typeof only === 'number') return only
      const began = performance.now()
      const { env } = await servicesUp({ only, onProgress: progress, ...dir })
      progress(`up in ${seconds(began)}`)
      printEnv(env)
      return 0
    },
  },
  down: {
    help: downHelp,
    async run(args, dir) {
      const only = parseNames(args)
      if (typeof only === 'number') return only
      const began = performance.now()
      await servicesDown({ only, dir: dir.dir })
      progress(`down in ${seconds(began)}`)
      return 0
    },
  },
  env: {
    help: envHelp,
    async run(args, dir) {
      if (args.length > 0) return usageError(servicesCommand, `'env' takes no arguments but --secure`)
      const env = await servicesEnv({ dir: dir.dir })
      if (!env) {
        process.stderr.write(`baton services env: no service runs; start them with 'baton services up'.\n`)
        return 1
      }
      printEnv(env)
      return 0
    },
  },
  status: {
    help: statusHelp,
    async run(args, dir) {
      if (args.length > 0) return usageError(servicesCommand, `'status' takes no arguments but --secure`)
      process.stdout.write(`${statusTable(await servicesStatus({ dir: dir.dir }))}\n`)
      return 0
    },
  },
}

/** `baton services up|down|env|status`: the real services the tests and cluster mode run against. */
export const servicesCommand: Command = {
  name: 'services',
  help,
  async run(args) {
    const [name, ...rest] = args
    if (name === undefined || name === '--help' || name === '-h') {
      process.stdout.write(`${help}\n`)
      return name === undefined ? 2 : 0
    }
    const sub = subCommands[name]
    if (!sub) return usageError(servicesCommand, `unknown sub-command '${name}' (up, down, env or status)`)
    if (wantsHelp(rest)) {
      process.stdout.write(`${sub.help}\n`)
      return 0
    }
    const { args: subArgs, dir } = folderOf(rest)
    return sub.run(subArgs, dir)
  },
}
