import { memoryLimitBytes } from './memory-limit.ts'

/**
 * The RAM JSC sizes its heap for on a host without a memory limit. JSC grows its heap in proportion to
 * the RAM it sees: on a bare host with tens of GiB it let an 8-partition drain peak at 350-420 MB of RSS.
 * Told 512 MiB, a drain of 1,000,000 events over 8 partitions (bench scale) still peaked at 443-503 MB;
 * told 256 MiB, at 314 MB, at 172,000 events/s against 158,000. JSC grows the heap past that when live
 * data needs it: this sizes how lazily it collects, not a limit. A cgroup limit (a pod's
 * `resources.limits.memory`) already tells JSC; this stands in for it where there is none.
 */
export const DEFAULT_HEAP_RAM_BYTES = 256 * 1024 * 1024

/** The variable JSC reads the RAM size from; set by the user, it is left as it is. */
const RAM_SIZE_VARIABLE = 'BUN_JSC_forceRAMSize'

/**
 * The environment to restart `baton start` with so that JSC sizes its heap for DEFAULT_HEAP_RAM_BYTES, or
 * null when it needs no restart: a cgroup memory limit applies, or the RAM size is set already (by the
 * user, or by this restart).
 */
export function heapBudgetEnv(
  env: Readonly<Record<string, string | undefined>>,
  limitBytes: number | null,
): Record<string, string> | null {
  if (limitBytes !== null || env[RAM_SIZE_VARIABLE] !== undefined) return null
  const next: Record<string, string> = {}
  for (const [name, value] of Object.entries(env)) if (value !== undefined) next[name] = value
  next[RAM_SIZE_VARIABLE] = String(DEFAULT_HEAP_RAM_BYTES)
  return next
}

/**
 * Replaces this process (same pid, same stdio, same arguments) with one whose heap is sized by
 * heapBudgetEnv, when it wants that; returns only when no restart is due or execve is unavailable.
 * Call it before anything is opened: nothing of this process survives the exec.
 */
export function restartWithHeapBudget(): void {
  const env = heapBudgetEnv(process.env, memoryLimitBytes())
  if (env === null || typeof process.execve !== 'function') return
  process.execve(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], env)
}
