export { classifyPostgresError, type PostgresErrorClass } from './classify-error.ts'
export { type PostgresClients, postgresClients } from './clients.ts'
export {
  type DeadLetterPage,
  type DeadLetterQuery,
  type PostgresDeadLetters,
  postgresDeadLetters,
  type StoredDeadLetter,
} from './dead-letters.ts'
export { BATON_SCHEMA_VERSION, migratePostgres } from './migrations.ts'
export { createPostgresSink, type PostgresSink, type PostgresSinkOptions } from './sink.ts'
export { type PostgresTarget, postgresTarget } from './target.ts'
