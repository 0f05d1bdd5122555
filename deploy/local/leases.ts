import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isRunning } from './processes.ts'

function leaseDir(dir: string): string {
  return join(dir, 'leases')
}

/** Records that process `pid` (a test run) uses the services of `dir`. Call with the lock held. */
export function addLease(dir: string, pid: number): void {
  mkdirSync(leaseDir(dir), { recursive: true })
  writeFileSync(join(leaseDir(dir), String(pid)), '')
}

/** Drops the lease of `pid` and those of dead processes; returns the pids still holding one. */
export function removeLease(dir: string, pid: number): number[] {
  rmSync(join(leaseDir(dir), String(pid)), { force: true })
  let entries: string[]
  try {
    entries = readdirSync(leaseDir(dir))
  } catch {
    return []
  }
  const live: number[] = []
  for (const entry of entries) {
    const holder = Number(entry)
    if (isRunning(holder)) live.push(holder)
    else rmSync(join(leaseDir(dir), entry), { force: true })
  }
  return live
}
