import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { z } from 'zod'
import { BatonError } from '../actors/core/errors.ts'
import { maskUrl } from '../actors/core/log-redact.ts'
import { DEFAULT_FETCH_BUFFER_BYTES } from '../actors/kafka/fetch-budget.ts'

/**
 * The node's configuration, read from the environment once, at start-up, and read-only afterwards.
 * Every problem is reported at once, each naming its variable, so a bad deployment is fixed in one go.
 * Secrets (passwords in URLs, tokens) never leave this module unmasked: use `printableConfig`.
 */
export interface Config {
  readonly mode: 'embedded' | 'cluster'
  readonly kafkaBrokers: readonly string[]
  readonly databaseUrl: string | undefined
  readonly redisUrl: string | undefined
  /** DATABASE_MIGRATION_URL: the role that runs migrations (DDL); unset: DATABASE_URL's role runs them. */
  readonly databaseMigrationUrl: string | undefined
  /** REDIS_TLS_CA: PEM file of the CA that signed Redis's certificate (with a `rediss://` REDIS_URL). */
  readonly redisTlsCa: string | undefined
  /** KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD; unset: no SASL. */
  readonly kafkaSasl: KafkaSaslConfig | undefined
  /** KAFKA_TLS=true or KAFKA_TLS_CA set: TLS to the brokers, verified against `ca` (a PEM file) or the system CAs. */
  readonly kafkaTls: { readonly ca: string | undefined } | undefined
  readonly nodeId: string
  readonly httpHost: string
  readonly httpPort: number
  /** BATON_ADVERTISE_URL: where other nodes reach this node's API; unset: derived (cluster/advertise-url.ts). */
  readonly advertiseUrl: string | undefined
  readonly groupId: string
  readonly topics: readonly string[]
  readonly partitions: number
  readonly batchMaxEvents: number
  readonly batchMaxBytes: number
  readonly batchMaxWaitMs: number
  readonly maxRetries: number
  /** BATON_ON_POISON: the built-in event store's `onPoison` (a custom pipeline declares its own). */
  readonly onPoison: 'dead-letter' | 'quarantine-key'
  /** BATON_QUARANTINE_MAX_KEYS: quarantined keys a partition may hold before it pauses (quarantine-full). */
  readonly quarantineMaxKeys: number
  readonly dataDir: string
  readonly pipeline: string | undefined
  readonly apiToken: string | undefined
  /** BATON_INGEST_TOKEN: bearer token of POST /v1/topics/:topic/events (the admin token passes too). */
  readonly ingestToken: string | undefined
  /** BATON_READ_TOKEN: bearer token of the actor, cluster and DLQ listing routes (the admin token passes too). */
  readonly readToken: string | undefined
  /** BATON_METRICS_AUTH: /metrics needs the read token. */
  readonly metricsAuth: boolean
  /**
   * Routes whose token is unset answer everyone: true in embedded mode on a loopback address, or with
   * BATON_INSECURE=true. Otherwise such routes accept only the admin token (or none, when it is unset too).
   */
  readonly openWithoutToken: boolean
  /** BATON_INGEST_RATE: events per second each client may ingest (0: no limit). */
  readonly ingestRate: number
  /** BATON_REQUEST_TIMEOUT_MS: longest an HTTP request may take before the node answers 503. */
  readonly requestTimeoutMs: number
  readonly createTopics: boolean
  /** BATON_CHECK_CRCS: check fetched Kafka record batches against their CRC-32C (cluster mode). */
  readonly checkCrcs: boolean
  readonly drainTimeoutMs: number
  readonly mailboxCapacity: number
  /** BATON_FETCH_BUFFER_BYTES: fetched records the node holds before actors take them, all partitions together. */
  readonly fetchBufferBytes: number
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error'
  /** Embedded log: events kept per partition once every consumer has passed them. */
  readonly retainEvents: number
  /** Embedded log: and for at least this long by event time (0: no time limit). */
  readonly retainMs: number
}

export interface KafkaSaslConfig {
  readonly mechanism: 'SCRAM-SHA-512' | 'SCRAM-SHA-256' | 'PLAIN'
  readonly username: string
  readonly password: string
}

const TOPIC = /^[a-zA-Z0-9._-]{1,249}$/

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))

const bool = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no']))
  .transform((v) => v === 'true' || v === '1' || v === 'yes')

const list = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string()).min(1, 'must name at least one'))

const url = (protocols: string[]) =>
  z
    .string()
    .trim()
    .refine(
      (s) => {
        try {
          return protocols.includes(new URL(s).protocol)
        } catch {
          return false
        }
      },
      `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`,
    )

const token = z.string().min(16, 'must be at least 16 characters long').optional()

// A CA file is read once here, so a typo in its path stops start-up with the other problems.
const pemFile = z
  .string()
  .trim()
  .refine((path) => {
    try {
      return readFileSync(path, 'utf8').includes('-----BEGIN CERTIFICATE-----')
    } catch {
      return false
    }
  }, 'must be the path of a readable PEM file holding a CA certificate')
  .optional()

const schema = z.object({
  KAFKA_BROKERS: list
    .pipe(z.array(z.string().regex(/^[^:\s]+:\d+$/, 'each broker must be host:port')))
    .optional(),
  DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),
  REDIS_URL: url(['redis:', 'rediss:']).optional(),
  BATON_NODE_ID: z
    .string()
    .trim()
    .regex(/^[a-zA-Z0-9._-]{1,128}$/, 'may hold only letters, digits, ".", "_" and "-"')
    .optional(),
  BATON_HTTP_HOST: z.string().trim().min(1).optional(),
  BATON_HTTP_PORT: int(0, 65535).default(8080),
  BATON_ADVERTISE_URL: url(['http:', 'https:'])
    .refine(
      (s) => URL.parse(s)?.origin === s.replace(/\/$/, ''),
      'must be a bare origin like http://baton-0.baton:8080 (no path, query or credentials)',
    )
    .optional(),
  BATON_GROUP_ID: z.string().trim().min(1).max(200).default('baton'),
  BATON_TOPICS: list
    .pipe(z.array(z.string().regex(TOPIC, 'topic names may hold only letters, digits, ".", "_" and "-"')))
    .default(['events']),
  BATON_PARTITIONS: int(1, 10_000).default(8),
  BATON_BATCH_MAX_EVENTS: int(1, 100_000).default(1000),
  BATON_BATCH_MAX_BYTES: int(1024, 256 * 1024 * 1024).default(4 * 1024 * 1024),
  BATON_BATCH_MAX_WAIT_MS: int(0, 60_000).default(100),
  BATON_MAX_RETRIES: int(0, 100).default(3),
  BATON_ON_POISON: z.enum(['dead-letter', 'quarantine-key']).optional(),
  BATON_QUARANTINE_MAX_KEYS: int(1, 10_000_000).default(10_000),
  BATON_DATA_DIR: z.string().trim().min(1).default('./data'),
  BATON_PIPELINE: z.string().trim().min(1).optional(),
  BATON_API_TOKEN: token,
  BATON_INGEST_TOKEN: token,
  BATON_READ_TOKEN: token,
  BATON_METRICS_AUTH: bool.default(false),
  BATON_INSECURE: bool.default(false),
  BATON_INGEST_RATE: int(0, 1e9).default(50_000),
  BATON_REQUEST_TIMEOUT_MS: int(1_000, 3_600_000).default(60_000),
  DATABASE_MIGRATION_URL: url(['postgres:', 'postgresql:']).optional(),
  REDIS_TLS_CA: pemFile,
  KAFKA_SASL_MECHANISM: z.enum(['SCRAM-SHA-512', 'SCRAM-SHA-256', 'PLAIN']).optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  KAFKA_TLS: bool.optional(),
  KAFKA_TLS_CA: pemFile,
  BATON_CREATE_TOPICS: bool.default(true),
  BATON_CHECK_CRCS: bool.default(true),
  BATON_DRAIN_TIMEOUT_MS: int(100, 600_000).default(15_000),
  BATON_MAILBOX_CAPACITY: int(1, 10_000).default(16),
  BATON_FETCH_BUFFER_BYTES: int(16 * 1024, 64 * 1024 * 1024 * 1024).default(DEFAULT_FETCH_BUFFER_BYTES),
  BATON_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  BATON_RETAIN_EVENTS: int(0, 1e12).default(10_000),
  BATON_RETAIN_MS: int(0, 1e13).default(0),
})

/**
 * Validates the environment and returns the config, or throws one CONFIG_INVALID error listing every
 * problem. Empty variables count as unset.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''))
  const parsed = schema.safeParse(present)
  const problems: string[] = []
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.')}: ${issue.message}`)
  }
  const cluster = present.KAFKA_BROKERS !== undefined
  if (cluster) {
    if (!present.DATABASE_URL)
      problems.push('DATABASE_URL: required when KAFKA_BROKERS is set (cluster mode)')
    if (!present.REDIS_URL) problems.push('REDIS_URL: required when KAFKA_BROKERS is set (cluster mode)')
  } else {
    for (const name of clusterOnly) {
      if (present[name])
        problems.push(`${name}: only used in cluster mode; set KAFKA_BROKERS too, or unset it`)
    }
  }
  problems.push(...securityProblems(present, cluster))
  if (present.BATON_ON_POISON && present.BATON_PIPELINE) {
    problems.push(
      'BATON_ON_POISON: applies to the built-in event store only; the pipeline of BATON_PIPELINE declares `onPoison` itself. Unset one of them',
    )
  }
  if (problems.length > 0 || !parsed.success) {
    throw new BatonError(
      'CONFIG_INVALID',
      `The configuration is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}\nFix these environment variables and start again.`,
    )
  }
  const v = parsed.data
  const httpHost = v.BATON_HTTP_HOST ?? (cluster ? '0.0.0.0' : '127.0.0.1')
  return Object.freeze({
    mode: cluster ? 'cluster' : 'embedded',
    kafkaBrokers: v.KAFKA_BROKERS ?? [],
    databaseUrl: v.DATABASE_URL,
    redisUrl: v.REDIS_URL,
    databaseMigrationUrl: v.DATABASE_MIGRATION_URL,
    redisTlsCa: v.REDIS_TLS_CA,
    kafkaSasl:
      v.KAFKA_SASL_MECHANISM && v.KAFKA_SASL_USERNAME && v.KAFKA_SASL_PASSWORD
        ? {
            mechanism: v.KAFKA_SASL_MECHANISM,
            username: v.KAFKA_SASL_USERNAME,
            password: v.KAFKA_SASL_PASSWORD,
          }
        : undefined,
    kafkaTls: v.KAFKA_TLS || v.KAFKA_TLS_CA ? { ca: v.KAFKA_TLS_CA } : undefined,
    nodeId: v.BATON_NODE_ID ?? hostname(),
    // Embedded mode serves ingest without tokens, so it listens on loopback unless told otherwise.
    httpHost,
    httpPort: v.BATON_HTTP_PORT,
    advertiseUrl: v.BATON_ADVERTISE_URL,
    groupId: v.BATON_GROUP_ID,
    topics: v.BATON_TOPICS,
    partitions: v.BATON_PARTITIONS,
    batchMaxEvents: v.BATON_BATCH_MAX_EVENTS,
    batchMaxBytes: v.BATON_BATCH_MAX_BYTES,
    batchMaxWaitMs: v.BATON_BATCH_MAX_WAIT_MS,
    maxRetries: v.BATON_MAX_RETRIES,
    onPoison: v.BATON_ON_POISON ?? 'dead-letter',
    quarantineMaxKeys: v.BATON_QUARANTINE_MAX_KEYS,
    dataDir: v.BATON_DATA_DIR,
    pipeline: v.BATON_PIPELINE,
    apiToken: v.BATON_API_TOKEN,
    ingestToken: v.BATON_INGEST_TOKEN,
    readToken: v.BATON_READ_TOKEN,
    metricsAuth: v.BATON_METRICS_AUTH,
    openWithoutToken: v.BATON_INSECURE || !exposed(httpHost),
    ingestRate: v.BATON_INGEST_RATE,
    requestTimeoutMs: v.BATON_REQUEST_TIMEOUT_MS,
    createTopics: v.BATON_CREATE_TOPICS,
    checkCrcs: v.BATON_CHECK_CRCS,
    drainTimeoutMs: v.BATON_DRAIN_TIMEOUT_MS,
    mailboxCapacity: v.BATON_MAILBOX_CAPACITY,
    fetchBufferBytes: v.BATON_FETCH_BUFFER_BYTES,
    logLevel: v.BATON_LOG_LEVEL,
    retainEvents: v.BATON_RETAIN_EVENTS,
    retainMs: v.BATON_RETAIN_MS,
  })
}

const clusterOnly = [
  'DATABASE_URL',
  'REDIS_URL',
  'DATABASE_MIGRATION_URL',
  'REDIS_TLS_CA',
  'KAFKA_SASL_MECHANISM',
  'KAFKA_SASL_USERNAME',
  'KAFKA_SASL_PASSWORD',
  'KAFKA_TLS',
  'KAFKA_TLS_CA',
]

const tokenVars = ['BATON_API_TOKEN', 'BATON_INGEST_TOKEN', 'BATON_READ_TOKEN'] as const

/**
 * True when the API can be reached from other machines: it listens on an address other than loopback. A
 * cluster of nodes on one machine (BATON_HTTP_HOST=127.0.0.1) forwards between them over loopback, so it
 * is no more exposed than an embedded node; cluster mode's default host, 0.0.0.0, is.
 */
function exposed(httpHost: string): boolean {
  return !/^(127\.\d+\.\d+\.\d+|::1|localhost)$/i.test(httpHost)
}

/**
 * The cross-field rules of the API tokens and the services' credentials and TLS settings. They read the
 * raw values, so that they are reported together with the problems of single variables.
 */
function securityProblems(present: Record<string, string | undefined>, cluster: boolean): string[] {
  const problems: string[] = []
  const flag = (name: string) => bool.safeParse(present[name]).data
  const httpHost = present.BATON_HTTP_HOST?.trim() || (cluster ? '0.0.0.0' : '127.0.0.1')
  if (exposed(httpHost) && !flag('BATON_INSECURE') && tokenVars.every((name) => !present[name])) {
    problems.push(
      `${tokenVars.join(', ')}: none is set, and this node's API is reachable from other machines ` +
        `(BATON_HTTP_HOST=${httpHost}${present.BATON_HTTP_HOST?.trim() ? '' : ', the cluster-mode default'}). ` +
        'Set them (each at least 16 random characters), set BATON_INSECURE=true to serve every route ' +
        'without a token, or listen on loopback only (BATON_HTTP_HOST=127.0.0.1).',
    )
  }
  for (const name of ['BATON_INGEST_TOKEN', 'BATON_READ_TOKEN'] as const) {
    if (present[name] && present[name] === present.BATON_API_TOKEN)
      problems.push(`${name}: must differ from BATON_API_TOKEN, or whoever holds it can administer the node`)
  }
  const sasl = ['KAFKA_SASL_MECHANISM', 'KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD'] as const
  const missing = sasl.filter((name) => !present[name])
  if (missing.length > 0 && missing.length < sasl.length)
    problems.push(
      `${missing.join(', ')}: needed with ${sasl.filter((n) => present[n]).join(', ')} (Kafka SASL)`,
    )
  const tls = flag('KAFKA_TLS') ?? present.KAFKA_TLS_CA !== undefined
  if (flag('KAFKA_TLS') === false && present.KAFKA_TLS_CA)
    problems.push('KAFKA_TLS_CA: set, but KAFKA_TLS=false; unset one of them')
  if (present.KAFKA_SASL_MECHANISM === 'PLAIN' && !tls)
    problems.push('KAFKA_SASL_MECHANISM: PLAIN sends the password as it is; use it only with KAFKA_TLS=true')
  if (present.REDIS_TLS_CA && present.REDIS_URL && !present.REDIS_URL.trim().startsWith('rediss:'))
    problems.push(
      'REDIS_TLS_CA: set, but REDIS_URL is not rediss:// (TLS); use rediss://, or unset REDIS_TLS_CA',
    )
  return problems
}

/** The config as it may be printed or served: URLs masked, tokens reduced to whether they are set. */
export function printableConfig(config: Config): Record<string, unknown> {
  return {
    ...config,
    databaseUrl: config.databaseUrl && maskUrl(config.databaseUrl),
    redisUrl: config.redisUrl && maskUrl(config.redisUrl),
    databaseMigrationUrl: config.databaseMigrationUrl && maskUrl(config.databaseMigrationUrl),
    kafkaSasl: config.kafkaSasl && { ...config.kafkaSasl, password: '***' },
    apiToken: config.apiToken ? '(set)' : '(unset)',
    ingestToken: config.ingestToken ? '(set)' : '(unset)',
    readToken: config.readToken ? '(set)' : '(unset)',
  }
}

/**
 * Every secret of the config, for the log's last line of defence (`createLogger({ secrets })`): tokens,
 * the SASL password, and the URLs with their passwords, raw and percent-decoded.
 */
export function secretsOf(config: Config): string[] {
  const urls = [config.databaseUrl, config.databaseMigrationUrl, config.redisUrl]
  const passwords = urls.flatMap((u) => {
    const raw = u ? /^[a-z][a-z0-9+.-]*:\/\/[^:@/]*:([^@/]*)@/i.exec(u)?.[1] : undefined
    if (!raw) return []
    try {
      return [raw, decodeURIComponent(raw)]
    } catch {
      return [raw]
    }
  })
  return [
    config.apiToken,
    config.ingestToken,
    config.readToken,
    config.kafkaSasl?.password,
    ...urls,
    ...passwords,
  ].filter((s): s is string => !!s)
}
