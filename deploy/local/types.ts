import type { TlsFiles } from './certificates.ts'

/** The services `baton services` runs; each has one env var that points clients at it. */
export type ServiceName = 'kafka' | 'postgres' | 'redis'

export const serviceNames: readonly ServiceName[] = ['kafka', 'postgres', 'redis']

/** The env lines `baton services up` prints and the test runner passes to `bun test`. */
export interface ServiceEnv {
  KAFKA_BROKERS: string
  DATABASE_URL: string
  REDIS_URL: string
}

/**
 * The further env lines of a secure set (`baton services up --secure`): who baton is and which CA it
 * trusts. DATABASE_URL is then the least-privilege runtime role, DATABASE_MIGRATION_URL the schema owner.
 */
export interface SecureServiceEnv {
  KAFKA_SASL_MECHANISM: string
  KAFKA_SASL_USERNAME: string
  KAFKA_SASL_PASSWORD: string
  KAFKA_TLS_CA: string
  DATABASE_MIGRATION_URL: string
  REDIS_TLS_CA: string
}

export const envVarOf: Record<ServiceName, keyof ServiceEnv> = {
  kafka: 'KAFKA_BROKERS',
  postgres: 'DATABASE_URL',
  redis: 'REDIS_URL',
}

/**
 * How to stop a service. `graceful`: its clean shutdown (Kafka and Redis SIGTERM, PostgreSQL "fast",
 * SIGINT). `immediate`: a crash without cleanup (PostgreSQL "immediate", SIGQUIT, which recovers from WAL
 * on the next start; Kafka and Redis SIGKILL). `kill`: SIGKILL to the whole process group.
 */
export type StopMode = 'graceful' | 'immediate' | 'kill'

/** Who asked for a service: `baton services up` (user) keeps it; a test run stops what only tests use. */
export type Owner = 'user' | 'tests'

/** One service baton started, as recorded in the state file. Ports and folders survive restarts. */
export interface ServiceRecord {
  name: ServiceName
  /** The running process (also its process group), or null while stopped by `stopService`/`killService`. */
  pid: number | null
  /** `processIdentity(pid)` when it was started: a recycled pid does not match. */
  pidIdentity: string | null
  /** The client port first; Kafka's controller port second. */
  ports: number[]
  /** The service's folder: its config, `data/` and log. */
  home: string
  dataDir: string
  logFile: string
  /** The value of the service's env var. */
  url: string
  /** Set for a secure service: its further env lines (credentials, CA file). */
  secureEnv?: Partial<SecureServiceEnv>
  /** A secure service's own super user, which `afterFirstStart` sets up baton's rights with. */
  superUser?: { name: string; password: string }
  owner: Owner
  startedAt: string
}

/** What each service module provides to the orchestration in services.ts. */
export interface ServiceDriver {
  name: ServiceName
  /** Throws PREREQUISITE_MISSING naming the missing program and its install line. */
  checkPrerequisites(): void
  /**
   * Makes a fresh home on new free ports: config, data folder, initialised storage. With `tls`, the
   * service is secure: TLS with these files only, and users with generated passwords (`secureEnv`).
   */
  create(
    home: string,
    owner: Owner,
    onProgress: (line: string) => void,
    tls?: TlsFiles,
  ): Promise<ServiceRecord>
  /** Starts the service's process for a record made by `create`; returns its pid. */
  launch(record: ServiceRecord): Promise<number>
  /**
   * One real request to the service at `url`, with the credentials and CA of `secureEnv` when given;
   * throws when it does not answer within `timeoutMs`.
   */
  probe(url: string, timeoutMs: number, secureEnv?: Partial<SecureServiceEnv>): Promise<void>
  /** Set-up that needs the service running, once, after its first start (a secure Kafka's ACLs). */
  afterFirstStart?(record: ServiceRecord): Promise<void>
  /** Tidying once the process is gone; `exitedCleanly` is false after a crash or a kill. */
  afterStop?(record: ServiceRecord, exitedCleanly: boolean): Promise<void>
  signalFor(mode: StopMode): NodeJS.Signals
}
