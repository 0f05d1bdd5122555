import { BatonError } from '../errors.ts'
import { type ResolvedSupervisorSpec, type RestartKind, resolveSupervisorSpec } from '../supervision.ts'
import type { SpawnOptions } from '../types.ts'

export interface ResolvedSpawnOptions {
  readonly mailboxCapacity: number
  readonly restart: RestartKind
  readonly shutdownMs: number
  readonly supervision: ResolvedSupervisorSpec
}

export const spawnDefaults: ResolvedSpawnOptions = Object.freeze({
  mailboxCapacity: 1000,
  restart: 'permanent',
  shutdownMs: 5_000,
  supervision: resolveSupervisorSpec(undefined, ''),
})

const restartKinds: readonly RestartKind[] = ['permanent', 'transient', 'temporary']

/** Merges `options` over the defaults once and checks them; throws ACTOR_OPTIONS_INVALID naming the field. */
export function resolveSpawnOptions(options: SpawnOptions | undefined, path: string): ResolvedSpawnOptions {
  if (options === undefined) return spawnDefaults
  const resolved: ResolvedSpawnOptions = Object.freeze({
    mailboxCapacity: options.mailboxCapacity ?? spawnDefaults.mailboxCapacity,
    restart: options.restart ?? spawnDefaults.restart,
    shutdownMs: options.shutdownMs ?? spawnDefaults.shutdownMs,
    supervision: resolveSupervisorSpec(options.supervision, `spawn ${path}`),
  })
  const fail = (problem: string) => {
    throw new BatonError('ACTOR_OPTIONS_INVALID', `spawn ${path}: ${problem}`)
  }
  if (!Number.isInteger(resolved.mailboxCapacity) || resolved.mailboxCapacity < 1)
    fail(`mailboxCapacity must be a whole number >= 1, got ${resolved.mailboxCapacity}`)
  if (!restartKinds.includes(resolved.restart))
    fail(`restart must be one of ${restartKinds.join(', ')}, got '${resolved.restart}'`)
  if (!(resolved.shutdownMs > 0))
    fail(`shutdownMs must be positive (Infinity for no limit), got ${resolved.shutdownMs}`)
  return resolved
}

const validName = /^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,199}$/

/** Throws ACTOR_NAME_INVALID unless `name` can be one segment of an actor path. */
export function checkActorName(name: string, parentPath: string): void {
  if (typeof name === 'string' && validName.test(name)) return
  throw new BatonError(
    'ACTOR_NAME_INVALID',
    `Cannot spawn '${String(name)}' under ${parentPath}: an actor name is 1-200 characters from A-Z a-z 0-9 . _ ~ -, not starting with a dot (it becomes one segment of the actor's path).`,
  )
}
