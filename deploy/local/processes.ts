import { spawn } from 'node:child_process'
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs'
import { BatonError } from '../../actors/core/errors.ts'

/** A command to run for a service, with its output appended to the service's log file. */
export interface ProcessSpec {
  command: string
  args: string[]
  logFile: string
  cwd?: string
  /** Drop root to this user and group (PostgreSQL refuses to run as root). */
  runAs?: { uid: number; gid: number }
  /** Text written to the process's stdin, which is closed afterwards. */
  input?: string
}

function spawnLogged(spec: ProcessSpec, detached: boolean) {
  const log = openSync(spec.logFile, 'a')
  try {
    return spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      detached,
      stdio: [spec.input === undefined ? 'ignore' : 'pipe', log, log],
      ...(spec.runAs ?? {}),
    })
  } finally {
    closeSync(log)
  }
}

function launchFailed(spec: ProcessSpec, err: unknown): BatonError {
  return new BatonError(
    'SERVICE_START_FAILED',
    `could not run ${spec.command}: ${err instanceof Error ? err.message : String(err)}. See ${spec.logFile}.`,
    { cause: err },
  )
}

/**
 * Starts a process in a session of its own so it outlives the caller (and a Ctrl-C in the caller's
 * terminal does not reach it), and returns its pid, which is also its process group id.
 */
export function launchDetached(spec: ProcessSpec): Promise<number> {
  const child = spawnLogged(spec, true)
  return new Promise((resolvePid, reject) => {
    child.once('error', (err) => reject(launchFailed(spec, err)))
    child.once('spawn', () => {
      child.unref()
      if (child.pid === undefined) reject(launchFailed(spec, new Error('no pid')))
      else resolvePid(child.pid)
    })
  })
}

/** Runs a setup command (initdb, storage format) to its end; a non-zero exit points to the log. */
export function runToCompletion(spec: ProcessSpec, what: string): Promise<void> {
  const child = spawnLogged(spec, false)
  child.stdin?.end(spec.input)
  return new Promise((done, reject) => {
    child.once('error', (err) => reject(launchFailed(spec, err)))
    child.once('exit', (code, signal) => {
      if (code === 0) done()
      else {
        const how = signal ? `was killed by ${signal}` : `exited with ${code}`
        reject(new BatonError('SERVICE_START_FAILED', `${what} ${how}. See ${spec.logFile}.`))
      }
    })
  })
}

interface ProcStat {
  state: string
  ppid: number
  pgrp: number
  /** Clock ticks after boot at which the process started. */
  startTime: string
}

/** Linux's view of a process; null when it does not exist or /proc is unavailable. */
function procStat(pid: number): ProcStat | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name in parentheses may itself contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return {
      state: fields[0] ?? '',
      ppid: Number(fields[1]),
      pgrp: Number(fields[2]),
      startTime: fields[19] ?? '',
    }
  } catch {
    return null
  }
}

const hasProc = existsSync('/proc/self/stat')

function alive(pid: number): boolean {
  if (!hasProc) {
    try {
      process.kill(pid, 0)
      return true
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM'
    }
  }
  const stat = procStat(pid)
  return stat !== null && stat.state !== 'Z'
}

let bootId: string | undefined

/**
 * What tells process `pid` apart from any later process the kernel gives the same pid: the boot and its
 * start time. Null where /proc is unavailable (then a pid alone has to do).
 */
export function processIdentity(pid: number): string | null {
  const stat = hasProc ? procStat(pid) : null
  if (!stat) return null
  bootId ??= readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  return `${bootId}/${stat.startTime}`
}

/**
 * True when `pid` is a live (not zombie) process and, given its `identity` from `processIdentity`, still
 * the same process, so a pid recycled by the kernel (after a reboot, say) is never taken for a service.
 */
export function isRunning(pid: number, identity: string | null = null): boolean {
  if (!alive(pid)) return false
  return identity === null || processIdentity(pid) === identity
}

/**
 * `pid`, its descendants and its process group. PostgreSQL's children leave the group (setsid) and
 * outlive a SIGKILLed postmaster, holding its shared memory, so they are found through their parent.
 */
function processTree(pid: number): Set<number> {
  const tree = new Set([pid])
  if (!hasProc) return tree
  const stats = readdirSync('/proc').flatMap((entry) => {
    const stat = /^\d+$/.test(entry) ? procStat(Number(entry)) : null
    return stat ? [{ pid: Number(entry), ...stat }] : []
  })
  for (const p of stats) if (p.pgrp === pid) tree.add(p.pid)
  for (let grew = true; grew; ) {
    grew = false
    for (const p of stats) {
      if (tree.has(p.ppid) && !tree.has(p.pid)) {
        tree.add(p.pid)
        grew = true
      }
    }
  }
  return tree
}

function anyAlive(pids: Set<number>): boolean {
  for (const pid of pids) if (alive(pid)) return true
  return false
}

function send(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err
  }
}

// A process that survives SIGKILL this long is stuck in the kernel (uninterruptible I/O).
const killWaitMs = 10_000

async function killTree(tree: Set<number>, leader: number): Promise<void> {
  for (const pid of tree) send(pid, 'SIGKILL')
  const deadline = Date.now() + killWaitMs
  while (anyAlive(tree)) {
    if (Date.now() >= deadline) {
      throw new BatonError(
        'SHUTDOWN_TIMEOUT',
        `processes of ${leader} survived SIGKILL; look at them with ps -p ${[...tree].join(',')}`,
      )
    }
    await Bun.sleep(20)
  }
}

/**
 * Sends `signal` to `pid` (the service's own shutdown path; SIGKILL goes to all its processes at once)
 * and waits until it and every process it started are gone. Whatever is left after `deadlineMs` gets
 * SIGKILL. Returns whether that was needed.
 */
export async function stopProcessTree(
  pid: number,
  signal: NodeJS.Signals,
  deadlineMs: number,
): Promise<boolean> {
  // Taken before signalling: once the leader dies its children are re-parented and cannot be traced.
  const tree = processTree(pid)
  if (signal === 'SIGKILL') {
    await killTree(tree, pid)
    return false
  }
  send(pid, signal)
  const deadline = Date.now() + deadlineMs
  while (anyAlive(tree)) {
    if (Date.now() >= deadline) {
      await killTree(tree, pid)
      return true
    }
    if (alive(pid)) for (const child of processTree(pid)) tree.add(child)
    await Bun.sleep(25)
  }
  return false
}
