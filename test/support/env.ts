import type { ServiceEnv } from '../../deploy/local/services.ts'

/**
 * The real services an integration test talks to, from the env vars `npm test` sets. Throws a message
 * that says how to provide them when a test runs outside `npm test`.
 *
 * @example
 * const { DATABASE_URL } = serviceEnv()
 * const sql = postgres(DATABASE_URL)
 */
export function serviceEnv(): ServiceEnv {
  const { KAFKA_BROKERS, DATABASE_URL, REDIS_URL } = process.env
  if (!KAFKA_BROKERS || !DATABASE_URL || !REDIS_URL) {
    const missing = Object.entries({ KAFKA_BROKERS, DATABASE_URL, REDIS_URL })
      .filter(([, value]) => !value)
      .map(([key]) => key)
    throw new Error(
      `this test needs real services but ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not set. Run it through 'npm test' (npm test -- <path> for one file), or export the services' env first: set -a; eval "$(bun runtime/cli/baton.ts services up)"; set +a`,
    )
  }
  return { KAFKA_BROKERS, DATABASE_URL, REDIS_URL }
}

/** KAFKA_BROKERS as the list `@platformatic/kafka` takes as `bootstrapBrokers`. */
export function kafkaBrokers(): string[] {
  return serviceEnv().KAFKA_BROKERS.split(',')
}
