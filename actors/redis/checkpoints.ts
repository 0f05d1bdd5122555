import Redis from 'ioredis'
import { type Clock, realClock } from '../core/clock.ts'
import { BatonError, errorMessage } from '../core/errors.ts'
import { LatestPerKey, type Outcome } from '../core/latest-per-key.ts'
import type { Checkpoints, PartitionKey } from '../ports.ts'
import { redisStartError, redisTls } from './connection.ts'

export interface RedisCheckpointsOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` for TLS (REDIS_URL). */
  readonly url: string
  /** PEM text of the CA that signed the server's certificate (REDIS_TLS_CA); default: the system's CAs. */
  readonly tlsCa?: string
  /** Prefix of every key baton writes (default `baton:`); the ACL grants `~<prefix>*`. */
  readonly prefix?: string
  /**
   * How long checkpoint writes gather before they leave as one pipeline (default 5 ms): that much later a
   * checkpoint lands (it is off the batch path), for one round trip per 5 ms at most however many
   * partitions commit. 0: the rest of the event loop's turn.
   */
  readonly coalesceMs?: number
  readonly clock?: Clock
}

/** Checkpoints on Redis; the commands it sends are listed on `createRedisCheckpoints`. */
export interface RedisCheckpoints extends Checkpoints {
  /** The two keys of a partition, e.g. `baton:{orders-group:orders:3}:epoch`. */
  keysOf(key: PartitionKey): { readonly epoch: string; readonly checkpoint: string }
}

/**
 * Hands out an epoch: INCR of the partition's counter, after raising it to ARGV[1] (the sink's stored epoch,
 * 0 when unknown) if it is below. A missing counter means a partition never taken, or a Redis that lost its
 * data (FLUSHALL, a restart without persistence); it is seeded from the server clock in microseconds, which
 * keeps the new epoch above every epoch handed out before even when the caller does not know the sink's:
 * Redis runs scripts one at a time and one run takes more than a microsecond, so a counter never gets ahead
 * of the clock it was seeded from. (The clock is the Redis server's; 2^53 microseconds last until 2255.)
 */
const nextEpochScript = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  local now = redis.call('TIME')
  redis.call('SET', KEYS[1], now[1] .. string.format('%06d', tonumber(now[2])))
end
if tonumber(redis.call('GET', KEYS[1])) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1])
end
return redis.call('INCR', KEYS[1])
`

/**
 * Writes the checkpoint only for the partition's current epoch and a growing offset. Writing exactly the
 * checkpoint that is stored (a retry after a lost reply) counts as applied, so a retry does not look fenced.
 */
const writeScript = `
local current = redis.call('GET', KEYS[1])
if not current or tonumber(current) ~= tonumber(ARGV[1]) then return 0 end
local stored = redis.call('HGET', KEYS[2], 'next_offset')
if stored and tonumber(stored) >= tonumber(ARGV[2]) then
  if tonumber(stored) == tonumber(ARGV[2]) and redis.call('HGET', KEYS[2], 'epoch') == current then return 1 end
  return 0
end
redis.call('HSET', KEYS[2], 'next_offset', ARGV[2], 'epoch', ARGV[1])
return 1
`

interface ScriptCommands {
  batonNextEpoch(epochKey: string, above: string): Promise<number>
}

/** A pipeline with the checkpoint script queued on it (one EVALSHA per partition, one round trip). */
interface CheckpointPipeline {
  batonWriteCheckpoint(epochKey: string, checkpointKey: string, epoch: string, nextOffset: string): void
  exec(): Promise<[Error | null, unknown][] | null>
}

interface CheckpointWrite {
  readonly key: PartitionKey
  readonly epoch: number
  readonly nextOffset: number
}

/**
 * Connects to Redis and returns epochs and checkpoints kept there. Keys per (group, topic, partition):
 * `<prefix>{<group>:<topic>:<partition>}:epoch` (a counter) and `…:checkpoint` (a hash: next_offset, epoch).
 * The braces are a Redis Cluster hash tag, so a partition's two keys live in one slot and one script can
 * touch both. The key is unambiguous because a Kafka topic name cannot hold ':' and a partition is a number.
 *
 * Writes are coalesced across the node's partitions: those asked for within `coalesceMs`, or while a
 * pipeline is out, leave together in the next one (the latest offset per partition), so Redis sees one
 * round trip per moment, not one per partition. `write` still answers for its own partition, and `close` waits for what is queued.
 *
 * Least privilege: the commands sent are PING (once, at start), EVALSHA (EVAL once per script after a server
 * restart: NOSCRIPT), HMGET, and inside the scripts EXISTS, TIME, SET, INCR, GET, HGET, HSET; plus AUTH when
 * the URL has credentials and SELECT when it names a database other than 0. No KEYS, SCAN, FLUSHALL or CONFIG.
 * ACL (with the default prefix; add `+select` for a database other than 0):
 * `user baton on >… ~baton:* resetchannels -@all +ping +evalsha +eval +hmget +exists +time +set +incr +get +hget +hset`
 *
 * A dead Redis fails fast: commands are not queued while disconnected, not retried, and time out after 5 s,
 * each failure a BatonError CHECKPOINT_UNAVAILABLE; the client reconnects in the background. At start it
 * throws SERVICE_AUTH_FAILED (credentials or ACL refused), SERVICE_TLS_FAILED (certificate) or
 * SERVICE_UNREACHABLE, with the password masked. The whole ACL of a node (membership registry included)
 * is in README, Security.
 */
export async function createRedisCheckpoints(options: RedisCheckpointsOptions): Promise<RedisCheckpoints> {
  const prefix = options.prefix ?? 'baton:'
  if (/[{}]/.test(prefix)) {
    throw new BatonError('CONFIG_INVALID', `The Redis key prefix '${prefix}' must not contain '{' or '}'.`)
  }
  const where = redisTarget(options.url)
  const redis = new Redis(options.url, {
    ...redisTls(options.url, options.tlsCa),
    lazyConnect: true,
    connectTimeout: 5_000,
    commandTimeout: 5_000,
    // An in-flight command is not sent again after a reconnect: a retried INCR would skip an epoch, and the
    // caller decides about retries anyway (the watermark in the sink is the truth).
    maxRetriesPerRequest: 0,
    // Without a connection a command fails at once instead of waiting in an unbounded queue.
    enableOfflineQueue: false,
    // The ready check sends INFO and client info CLIENT SETINFO: commands a least-privilege ACL need not allow.
    enableReadyCheck: false,
    disableClientInfo: true,
    retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 2_000),
  })
  let startError: unknown = null
  // Failures reach callers as rejected commands; without a listener ioredis would print each one. The first
  // one at start-up is the root cause (WRONGPASS, ECONNREFUSED) that the failed PING below only echoes.
  redis.on('error', (err) => {
    startError ??= err
  })
  redis.defineCommand('batonNextEpoch', { numberOfKeys: 1, lua: nextEpochScript })
  redis.defineCommand('batonWriteCheckpoint', { numberOfKeys: 2, lua: writeScript })
  const scripts = redis as unknown as ScriptCommands

  try {
    await redis.connect()
    // connect() resolves even when AUTH was refused; the AUTH reply arrives before the PING's, so after the
    // PING a refused AUTH is known (and PING fails too unless the server lets anyone in as `default`).
    await redis.ping()
    if (startError) throw startError
  } catch (err) {
    redis.disconnect()
    const cause = startError ?? err
    throw redisStartError(where.masked, cause, where.scrub(errorMessage(cause)), 'checkpoints')
  }

  const keysOf = (key: PartitionKey) => {
    const base = `${prefix}{${key.group}:${key.topic}:${key.partition}}`
    return { epoch: `${base}:epoch`, checkpoint: `${base}:checkpoint` }
  }
  const unavailable = (err: unknown, doing: string, key: PartitionKey) =>
    new BatonError(
      'CHECKPOINT_UNAVAILABLE',
      `Redis at ${where.masked} is unavailable while ${doing} for ${key.topic}/${key.partition} of group ` +
        `'${key.group}' (${where.scrub(errorMessage(err))}). The watermark in the sink stays the truth; check ` +
        'that Redis is running and that its ACL allows the commands baton uses.',
      { cause: err },
    )

  // The checkpoints of all partitions of the node, coalesced: one pipeline of script calls per round trip,
  // the latest offset per partition and epoch. Each call stays a script on one partition's keys (fenced
  // by that partition's epoch alone, and within one Redis Cluster slot), so one refused partition leaves
  // the others of its pipeline applied. Keyed by epoch too: a restarted actor's write never answers for
  // its previous instance's.
  const coalesceMs = options.coalesceMs ?? 5
  const clock = options.clock ?? realClock
  const writes = new LatestPerKey<CheckpointWrite, boolean>(
    async (entries) => {
      const pipeline = redis.pipeline() as unknown as CheckpointPipeline
      for (const [, { key, epoch, nextOffset }] of entries) {
        const keys = keysOf(key)
        pipeline.batonWriteCheckpoint(keys.epoch, keys.checkpoint, String(epoch), String(nextOffset))
      }
      const replies = (await pipeline.exec()) ?? []
      return replies.map(
        ([err, reply]): Outcome<boolean> =>
          err ? { ok: false, error: err } : { ok: true, value: reply === 1 },
      )
    },
    coalesceMs > 0 ? { defer: (run) => void clock.schedule(coalesceMs, run) } : {},
  )

  return {
    keysOf,

    async nextEpoch(key, above = 0) {
      try {
        return Number(await scripts.batonNextEpoch(keysOf(key).epoch, String(above)))
      } catch (err) {
        throw unavailable(err, 'taking an epoch', key)
      }
    },

    async read(key) {
      try {
        const [nextOffset, epoch] = await redis.hmget(keysOf(key).checkpoint, 'next_offset', 'epoch')
        if (nextOffset == null || epoch == null) return null
        return { nextOffset: Number(nextOffset), epoch: Number(epoch) }
      } catch (err) {
        throw unavailable(err, 'reading the checkpoint', key)
      }
    },

    async write(key, epoch, nextOffset) {
      try {
        return await writes.submit(`${keysOf(key).checkpoint}@${epoch}`, { key, epoch, nextOffset })
      } catch (err) {
        throw unavailable(err, 'writing the checkpoint', key)
      }
    },

    async close() {
      await writes.idle()
      redis.disconnect()
    },
  }
}

/** A Redis URL for messages: `redis://user:***@host:port/db`, and a scrubber for driver messages. */
function redisTarget(url: string): { masked: string; scrub: (text: string) => string } {
  let password = ''
  let masked = url.replace(/^([a-z]+:\/\/[^:@/]*):([^@/]*)@/i, (_, head: string, secret: string) => {
    password = secret
    return `${head}:***@`
  })
  if (!masked.includes('://')) masked = '<unparsable URL>'
  const decoded = safeDecode(password)
  return {
    masked,
    scrub: (text) => [password, decoded].reduce((t, s) => (s ? t.split(s).join('***') : t), text),
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}
