import { BatonError } from '../core/errors.ts'

const LEGAL = /^[a-zA-Z0-9._-]{1,249}$/

/**
 * Checks a topic name against Kafka's rules (1 to 249 of `a-z A-Z 0-9 . _ -`, and not `.` or `..`), so a
 * name that works in embedded mode also works in cluster mode. Throws BAD_REQUEST naming the problem.
 */
export function assertTopicName(name: string): void {
  if (typeof name === 'string' && LEGAL.test(name) && name !== '.' && name !== '..') return
  const shown =
    typeof name === 'string'
      ? JSON.stringify(name.length > 60 ? `${name.slice(0, 60)}…` : name)
      : String(name)
  const why =
    typeof name !== 'string' || name.length === 0
      ? 'it is empty'
      : name.length > 249
        ? `it is ${name.length} characters long (at most 249)`
        : name === '.' || name === '..'
          ? '"." and ".." are reserved'
          : 'it may hold only letters, digits, ".", "_" and "-"'
  throw new BatonError(
    'BAD_REQUEST',
    `Topic name ${shown} is not valid: ${why}. Use a name like "orders" or "iot.readings-v2".`,
  )
}
