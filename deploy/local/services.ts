import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { BatonError, errorMessage } from '../../actors/core/errors.ts'
import { maskUrl } from '../../actors/core/log-redact.ts'
import { createTestCertificates, type TlsFiles } from './certificates.ts'
import { ensurePrerequisites } from './install.ts'
import { drivers, launchAndWait, livePid, removeRecord, stopRecord } from './instances.ts'
import { addLease, removeLease } from './leases.ts'
import { withLock } from './lock.ts'
import { defaultServicesDir } from './paths.ts'
import { requireOpenssl } from './prerequisites.ts'
import { readState, type ServicesState } from './state.ts'
import {
  envVarOf,
  type Owner,
  type SecureServiceEnv,
  type ServiceEnv,
  type ServiceName,
  type ServiceRecord,
  type StopMode,
  serviceNames,
} from './types.ts'

export type { Owner, SecureServiceEnv, ServiceEnv, ServiceName, StopMode } from './types.ts'
export { serviceNames } from './types.ts'

/** Every function works on one services folder: `dir`, or `BATON_SERVICES_DIR`, or `<repo>/.baton/services`. */
export interface DirOption {
  dir?: string
}

export interface UpOptions extends DirOption {
  /** Only these services (default: all three). */
  only?: ServiceName[]
  /** Called with one line per step, for stderr. */
  onProgress?: (line: string) => void
  /** Use services that KAFKA_BROKERS / DATABASE_URL / REDIS_URL point at (default true; never when `secure`). */
  useEnv?: boolean
  /**
   * A secure set: TLS only, with a test CA made in `<dir>/tls/`; Kafka's one listener SASL_SSL with a
   * SCRAM user; PostgreSQL with a schema owner (DATABASE_MIGRATION_URL) and a DML-only runtime role
   * (DATABASE_URL); Redis with an ACL user that may run only baton's commands. A folder holds either a
   * secure set or a plain one.
   */
  secure?: boolean
}

export interface UpResult {
  /** The env var of every requested service, and for a secure set its credentials and CA files. */
  env: Partial<ServiceEnv & SecureServiceEnv>
  /** The services this call started (not the reused or external ones). */
  started: ServiceName[]
}

/** What `baton services status` shows for one service. */
export interface ServiceStatus {
  name: ServiceName
  /** up: runs and answers; unresponsive: runs, no answer; stopped: recorded, not running; absent: never started. */
  state: 'up' | 'unresponsive' | 'stopped' | 'absent'
  pid: number | null
  ports: number[]
  url: string | null
  dataDir: string | null
  logFile: string | null
  owner: Owner | null
}

const defaultStopDeadlineMs = 10_000
const externalProbeMs = 5_000

function dirOf(opts?: DirOption): string {
  return opts?.dir ?? defaultServicesDir()
}

function recordOf(state: ServicesState, name: ServiceName): ServiceRecord {
  const record = state.services[name]
  if (!record) {
    throw new BatonError(
      'SERVICE_NOT_STARTED',
      `${name} was not started by baton; run 'baton services up' first.`,
    )
  }
  return record
}

async function useExternal(name: ServiceName, url: string, progress: (line: string) => void): Promise<void> {
  const envVar = envVarOf[name]
  try {
    await drivers[name].probe(url, externalProbeMs)
  } catch (err) {
    throw new BatonError(
      'SERVICE_UNREACHABLE',
      `${envVar}=${maskUrl(url)} is set but does not answer (${errorMessage(err)}). Start that ${name}, or unset ${envVar} to let baton start one.`,
      { cause: err },
    )
  }
  progress(`${name}: using ${envVar}=${maskUrl(url)} from the environment`)
}

async function reuse(record: ServiceRecord, owner: Owner, progress: (line: string) => void): Promise<void> {
  try {
    await drivers[record.name].probe(record.url, externalProbeMs, record.secureEnv)
  } catch (err) {
    throw new BatonError(
      'SERVICE_UNREACHABLE',
      `${record.name} (pid ${record.pid}) runs but does not answer (${errorMessage(err)}); see ${record.logFile}. Run 'baton services down' and try again.`,
      { cause: err },
    )
  }
  // Once a user asked for a service by hand, a test run that started it must not stop it.
  if (owner === 'user') record.owner = 'user'
  progress(`${record.name}: already running, pid ${record.pid}, ${maskUrl(record.url)}`)
}

async function startFresh(
  dir: string,
  state: ServicesState,
  name: ServiceName,
  owner: Owner,
  progress: (line: string) => void,
  tls: TlsFiles | undefined,
): Promise<void> {
  const began = performance.now()
  const home = join(dir, name)
  rmSync(home, { recursive: true, force: true })
  mkdirSync(home, { recursive: true })
  const record = await drivers[name].create(home, owner, progress, tls)
  progress(`${name}: starting on 127.0.0.1:${record.ports.join(', ')}; log ${record.logFile}`)
  await launchAndWait(dir, state, record)
  await drivers[name].afterFirstStart?.(record)
  progress(`${name}: ready in ${((performance.now() - began) / 1000).toFixed(1)} s`)
}

async function upLocked(dir: string, opts: UpOptions, owner: Owner): Promise<UpResult> {
  const names = opts.only ?? serviceNames
  const progress = opts.onProgress ?? (() => {})
  const state = readState(dir)
  const env: Partial<ServiceEnv & SecureServiceEnv> = {}
  const toStart: ServiceName[] = []
  const secure = opts.secure === true
  for (const name of names) {
    const given = opts.useEnv === false || secure ? undefined : process.env[envVarOf[name]]
    const record = state.services[name]
    if (record && livePid(record) !== null && Boolean(record.secureEnv) !== secure) {
      throw new BatonError(
        'SERVICE_START_FAILED',
        `${dir} runs a ${secure ? 'plain' : 'secure'} ${name}; stop it first ('baton services down${secure ? '' : ' --secure'}') or use another folder.`,
      )
    }
    if (given) {
      await useExternal(name, given, progress)
      env[envVarOf[name]] = given
    } else if (record && livePid(record) !== null) {
      await reuse(record, owner, progress)
      Object.assign(env, { [envVarOf[name]]: record.url }, record.secureEnv)
    } else {
      // A recorded service whose process is gone (a reboot, a killed test run) starts afresh.
      if (record) await removeRecord(dir, state, record, defaultStopDeadlineMs)
      toStart.push(name)
    }
  }
  ensurePrerequisites(
    [
      ...toStart.map((name) => () => drivers[name].checkPrerequisites()),
      ...(secure && toStart.length > 0 ? [requireOpenssl] : []),
    ],
    progress,
  )
  const tls = secure && toStart.length > 0 ? createTestCertificates(join(dir, 'tls')) : undefined
  const results = await Promise.allSettled(
    toStart.map((name) => startFresh(dir, state, name, owner, progress, tls)),
  )
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []))
  if (failures.length > 0) {
    // Leave nothing half-started behind: the caller sees the error and no running leftovers.
    for (const name of toStart) {
      const record = state.services[name]
      if (record) await removeRecord(dir, state, record, defaultStopDeadlineMs)
    }
    if (failures.length === 1) throw failures[0]
    throw new BatonError('SERVICE_START_FAILED', failures.map(errorMessage).join('\n'), { cause: failures })
  }
  for (const name of toStart) {
    const record = recordOf(state, name)
    Object.assign(env, { [envVarOf[name]]: record.url }, record.secureEnv)
  }
  return { env, started: toStart }
}

/**
 * Makes sure Kafka, PostgreSQL and Redis run and answer, and returns their env vars. A service whose
 * env var is set is used as it is (and must answer); one that baton already runs is reused; any other is
 * started on free loopback ports and stays up until `servicesDown`.
 *
 * @example
 * const { env } = await servicesUp({ onProgress: (line) => console.error(line) })
 * const sql = postgres(env.DATABASE_URL!)
 */
export function servicesUp(opts: UpOptions = {}): Promise<UpResult> {
  const dir = dirOf(opts)
  return withLock(dir, () => upLocked(dir, opts, 'user'))
}

/** Services held by a test run: `release` stops them once no other test run holds them. */
export interface ServicesLease extends UpResult {
  /** Drops the lease; returns the services it stopped (none while another test run still holds one). */
  release(): Promise<ServiceName[]>
}

/**
 * `servicesUp` for a test run. Services it starts are marked as the tests'; `release` stops every such
 * service once no other live test run holds a lease, so concurrent runs in one tree share services safely.
 * Services started with `baton services up` are never stopped by a release.
 */
export async function leaseServices(opts: UpOptions = {}): Promise<ServicesLease> {
  const dir = dirOf(opts)
  const result = await withLock(dir, async () => {
    const up = await upLocked(dir, opts, 'tests')
    addLease(dir, process.pid)
    return up
  })
  const release = () =>
    withLock(dir, async () => {
      if (removeLease(dir, process.pid).length > 0) return []
      const state = readState(dir)
      const ours = Object.values(state.services).filter((r) => r.owner === 'tests')
      await Promise.all(ours.map((r) => removeRecord(dir, state, r, defaultStopDeadlineMs)))
      return ours.map((r) => r.name)
    })
  return { ...result, release }
}

/**
 * Stops the services baton started (SIGTERM, or SIGINT for PostgreSQL's fast shutdown; SIGKILL to the
 * whole process group after `deadlineMs`) and deletes their data. Logs stay until the next `up`.
 */
export function servicesDown(
  opts: DirOption & { only?: ServiceName[]; deadlineMs?: number } = {},
): Promise<void> {
  const dir = dirOf(opts)
  return withLock(dir, async () => {
    const state = readState(dir)
    const records = (opts.only ?? serviceNames).flatMap((name) => state.services[name] ?? [])
    await Promise.all(
      records.map((r) => removeRecord(dir, state, r, opts.deadlineMs ?? defaultStopDeadlineMs)),
    )
  })
}

/** The env vars of the services baton runs now, or null when none runs. Does not probe them. */
export async function servicesEnv(
  opts: DirOption = {},
): Promise<Partial<ServiceEnv & SecureServiceEnv> | null> {
  const state = readState(dirOf(opts))
  const env: Partial<ServiceEnv & SecureServiceEnv> = {}
  for (const record of Object.values(state.services)) {
    if (livePid(record) !== null)
      Object.assign(env, { [envVarOf[record.name]]: record.url }, record.secureEnv)
  }
  return Object.keys(env).length > 0 ? env : null
}

/** What runs where: one entry per service, probed with a real request when its process runs. */
export async function servicesStatus(opts: DirOption = {}): Promise<ServiceStatus[]> {
  const state = readState(dirOf(opts))
  return Promise.all(
    serviceNames.map(async (name): Promise<ServiceStatus> => {
      const record = state.services[name]
      if (!record) {
        return {
          name,
          state: 'absent',
          pid: null,
          ports: [],
          url: null,
          dataDir: null,
          logFile: null,
          owner: null,
        }
      }
      const pid = livePid(record)
      let answers = false
      if (pid !== null)
        answers = await drivers[name].probe(record.url, 2000, record.secureEnv).then(
          () => true,
          () => false,
        )
      const { ports, url, dataDir, logFile, owner } = record
      const shown = pid === null ? 'stopped' : answers ? 'up' : 'unresponsive'
      return { name, state: shown, pid, ports, url, dataDir, logFile, owner }
    }),
  )
}

/**
 * Stops one service but keeps its ports and data, for fault-injection tests; `startService` brings it back.
 * `mode` picks a clean shutdown, a crash, or SIGKILL (see StopMode).
 */
export function stopService(
  name: ServiceName,
  opts: DirOption & { mode?: StopMode; deadlineMs?: number } = {},
): Promise<void> {
  const dir = dirOf(opts)
  return withLock(dir, async () => {
    const state = readState(dir)
    await stopRecord(
      dir,
      state,
      recordOf(state, name),
      opts.mode ?? 'graceful',
      opts.deadlineMs ?? defaultStopDeadlineMs,
    )
  })
}

/** SIGKILLs one service's whole process group (a crash); its ports and data stay for `startService`. */
export function killService(name: ServiceName, opts: DirOption = {}): Promise<void> {
  return stopService(name, { ...opts, mode: 'kill' })
}

/** Starts a stopped service again on the same ports and data and waits until it answers. */
export function startService(name: ServiceName, opts: DirOption = {}): Promise<void> {
  const dir = dirOf(opts)
  return withLock(dir, async () => {
    const state = readState(dir)
    const record = recordOf(state, name)
    if (livePid(record) === null) await launchAndWait(dir, state, record)
  })
}

/**
 * Stops one service (default: its clean shutdown) and starts it again on the same ports and data.
 *
 * @example
 * await restartService('postgres', { mode: 'immediate' }) // a crash; PostgreSQL recovers from its WAL
 */
export async function restartService(
  name: ServiceName,
  opts: DirOption & { mode?: StopMode; deadlineMs?: number } = {},
): Promise<void> {
  await stopService(name, opts)
  await startService(name, opts)
}
