import { randomBytes } from 'node:crypto'

/**
 * A name no other test (or concurrent test run) uses: `<prefix>_<12 hex digits>`. Lowercase letters,
 * digits and underscores only, so it is a valid Kafka topic and group, PostgreSQL table and Redis key
 * without quoting. Every test makes its own and removes what it created.
 *
 * @example
 * const topic = uniqueName('t') // t_3f9c0a1b22de
 */
export function uniqueName(prefix = 't'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`
}
