import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

/** The repository this module lives in (deploy/local/ is two levels down). */
export const repoRoot = resolve(import.meta.dir, '..', '..')

/** deploy/local/, where the pinned pom.xml and the Kafka logging config live. */
export const localDeployDir = import.meta.dir

/**
 * Where running services keep their state file, logs and data: `BATON_SERVICES_DIR`, or `.baton/services`
 * in the repository (gitignored). Every API function also accepts its own `dir`, for private sets.
 */
export function defaultServicesDir(): string {
  return resolve(process.env.BATON_SERVICES_DIR ?? join(repoRoot, '.baton', 'services'))
}

/** The per-user cache for downloaded jars, outside the work tree so a fresh clone reuses it. */
export function cacheDir(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'baton')
}
