import { hostname } from 'node:os'
import { z } from 'zod'
import { BatonError } from './errors.ts'

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
  readonly dataDir: string
  readonly pipeline: string | undefined
  readonly apiToken: string | undefined
  readonly createTopics: boolean
  readonly drainTimeoutMs: number
  readonly mailboxCapacity: number
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error'
  /** Embedded log: events kept per partition once every consumer has passed them. */
  readonly retainEvents: number
  /** Embedded log: and for at least this long by event time (0: no time limit). */
  readonly retainMs: number
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
  BATON_DATA_DIR: z.string().trim().min(1).default('./data'),
  BATON_PIPELINE: z.string().trim().min(1).optional(),
  BATON_API_TOKEN: z.string().min(16, 'must be at least 16 characters long').optional(),
  BATON_CREATE_TOPICS: bool.default(true),
  BATON_DRAIN_TIMEOUT_MS: int(100, 600_000).default(15_000),
  BATON_MAILBOX_CAPACITY: int(1, 10_000).default(16),
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
    for (const name of ['DATABASE_URL', 'REDIS_URL']) {
      if (present[name])
        problems.push(`${name}: only used in cluster mode; set KAFKA_BROKERS too, or unset it`)
    }
  }
  if (problems.length > 0 || !parsed.success) {
    throw new BatonError(
      'CONFIG_INVALID',
      `The configuration is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}\nFix these environment variables and start again.`,
    )
  }
  const v = parsed.data
  return Object.freeze({
    mode: cluster ? 'cluster' : 'embedded',
    kafkaBrokers: v.KAFKA_BROKERS ?? [],
    databaseUrl: v.DATABASE_URL,
    redisUrl: v.REDIS_URL,
    nodeId: v.BATON_NODE_ID ?? hostname(),
    // Embedded mode serves ingest without tokens, so it listens on loopback unless told otherwise.
    httpHost: v.BATON_HTTP_HOST ?? (cluster ? '0.0.0.0' : '127.0.0.1'),
    httpPort: v.BATON_HTTP_PORT,
    advertiseUrl: v.BATON_ADVERTISE_URL,
    groupId: v.BATON_GROUP_ID,
    topics: v.BATON_TOPICS,
    partitions: v.BATON_PARTITIONS,
    batchMaxEvents: v.BATON_BATCH_MAX_EVENTS,
    batchMaxBytes: v.BATON_BATCH_MAX_BYTES,
    batchMaxWaitMs: v.BATON_BATCH_MAX_WAIT_MS,
    maxRetries: v.BATON_MAX_RETRIES,
    dataDir: v.BATON_DATA_DIR,
    pipeline: v.BATON_PIPELINE,
    apiToken: v.BATON_API_TOKEN,
    createTopics: v.BATON_CREATE_TOPICS,
    drainTimeoutMs: v.BATON_DRAIN_TIMEOUT_MS,
    mailboxCapacity: v.BATON_MAILBOX_CAPACITY,
    logLevel: v.BATON_LOG_LEVEL,
    retainEvents: v.BATON_RETAIN_EVENTS,
    retainMs: v.BATON_RETAIN_MS,
  })
}

/** Replaces the password of a URL with `***`; returns the input unchanged when it is not a URL. */
export function maskUrl(value: string): string {
  try {
    const u = new URL(value)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return value
  }
}

/** The config as it may be printed or served: URLs masked, tokens reduced to whether they are set. */
export function printableConfig(config: Config): Record<string, unknown> {
  return {
    ...config,
    databaseUrl: config.databaseUrl && maskUrl(config.databaseUrl),
    redisUrl: config.redisUrl && maskUrl(config.redisUrl),
    apiToken: config.apiToken ? '(set)' : '(unset)',
  }
}
