import { readFileSync } from 'node:fs'

/** Where the kernel says how much memory this process's cgroup may use: cgroup v2, then v1. */
const LIMIT_FILES = ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']

/**
 * cgroup v1 writes "no limit" as the largest page-aligned 64-bit value (9223372036854771712); anything at
 * or above 2^62 bytes is no limit that a machine could have.
 */
const NO_LIMIT = 2 ** 62

/**
 * The memory limit of the cgroup this process runs in (in Kubernetes, its container's
 * `resources.limits.memory`), or null when there is none or it cannot be read (not Linux, no cgroup
 * mounted). Read once at start-up for `baton_memory_limit_bytes`.
 *
 * @example memoryLimitBytes() // 1073741824 in a container limited to 1Gi
 */
export function memoryLimitBytes(
  read: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): number | null {
  for (const file of LIMIT_FILES) {
    let text: string
    try {
      text = read(file).trim()
    } catch {
      continue
    }
    return parseLimit(text)
  }
  return null
}

/** `max` (cgroup v2's "no limit") and v1's huge sentinel are null; so is anything that is not a number. */
function parseLimit(text: string): number | null {
  if (!/^\d+$/.test(text)) return null
  const bytes = Number(text)
  return bytes > 0 && bytes < NO_LIMIT ? bytes : null
}
