import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BatonError } from '../../actors/core/errors.ts'
import type { ServiceName, ServiceRecord } from './types.ts'

/** The state file's content: the services baton started in one services folder. */
export interface ServicesState {
  version: 1
  services: Partial<Record<ServiceName, ServiceRecord>>
}

function stateFile(dir: string): string {
  return join(dir, 'state.json')
}

/** The recorded services of `dir`; empty when nothing was ever started there. */
export function readState(dir: string): ServicesState {
  const file = stateFile(dir)
  if (!existsSync(file)) return { version: 1, services: {} }
  try {
    const state = JSON.parse(readFileSync(file, 'utf8')) as ServicesState
    if (state.version !== 1) throw new Error(`unknown version ${String(state.version)}`)
    return state
  } catch (err) {
    throw new BatonError(
      'CONFIG_INVALID',
      `the services state file ${file} is unreadable (${err instanceof Error ? err.message : String(err)}). Stop any java, postgres or redis-server started from ${dir} and delete that folder.`,
      { cause: err },
    )
  }
}

/** Replaces the state file in one rename, so a reader never sees half of it. */
export function writeState(dir: string, state: ServicesState): void {
  mkdirSync(dir, { recursive: true })
  const file = stateFile(dir)
  // Owner-only: a secure set's records hold its users' passwords.
  writeFileSync(`${file}.${process.pid}.tmp`, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 })
  renameSync(`${file}.${process.pid}.tmp`, file)
}
