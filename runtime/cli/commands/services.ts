import {
  type ServiceEnv,
  type ServiceName,
  type ServiceStatus,
  serviceNames,
  servicesDown,
  servicesEnv,
  servicesStatus,
  servicesUp,
} from '../../../deploy/local/services.ts'
import { type Command, usageError, wantsHelp } from '../command.ts'

const upHelp = `Usage: baton services up [kafka|postgres|redis ...]

Starts real Apache Kafka (KRaft, one broker+controller), PostgreSQL and Redis as background processes on
free 127.0.0.1 ports, waits until each answers a real request, and prints their env lines on stdout:

  KAFKA_BROKERS=127.0.0.1:<port>
  DATABASE_URL=postgres://postgres@127.0.0.1:<port>/baton
  REDIS_URL=redis://127.0.0.1:<port>

Progress goes to stderr. Export the lines into your shell with:  set -a; eval "$(baton services up)"; set +a

A service whose variable is already set is used as it is (it must answer); one baton already runs is
reused. State, logs and data live in .baton/services/ (or BATON_SERVICES_DIR); the Kafka jars are
downloaded once into \${XDG_CACHE_HOME:-~/.cache}/baton/. Needs java 17+, mvn (first run only),
the PostgreSQL server binaries and redis-server.`

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

Run 'baton services <command> --help' for details.`

// Quoted only when needed, so the usual lines stay plain KEY=value for env files too.
function envLine(key: string, value: string): string {
  return /^[\w@%+=:,./-]*$/.test(value) ? `${key}=${value}` : `${key}='${value.replaceAll("'", "'\\''")}'`
}

function printEnv(env: Partial<ServiceEnv>): void {
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
    s.url ?? '-',
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
  run(args: string[]): Promise<number>
}

const subCommands: Record<string, SubCommand> = {
  up: {
    help: upHelp,
    async run(args) {
      const only = parseNames(args)
      if (typeof only === 'number') return only
      const began = performance.now()
      const { env } = await servicesUp({ only, onProgress: progress })
      progress(`up in ${seconds(began)}`)
      printEnv(env)
      return 0
    },
  },
  down: {
    help: downHelp,
    async run(args) {
      const only = parseNames(args)
      if (typeof only === 'number') return only
      const began = performance.now()
      await servicesDown({ only })
      progress(`down in ${seconds(began)}`)
      return 0
    },
  },
  env: {
    help: envHelp,
    async run(args) {
      if (args.length > 0) return usageError(servicesCommand, `'env' takes no arguments`)
      const env = await servicesEnv()
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
    async run(args) {
      if (args.length > 0) return usageError(servicesCommand, `'status' takes no arguments`)
      process.stdout.write(`${statusTable(await servicesStatus())}\n`)
      return 0
    },
  },
}

/** `baton services up|down|env|status`: the real services the tests and cluster mode run against. */
export const servicesCommand: Command = {
  name: 'services',
  summary: 'Start, stop and show local Kafka, PostgreSQL and Redis (no Docker)',
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
    return sub.run(rest)
  },
}
