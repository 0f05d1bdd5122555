import Redis from 'ioredis'
import { z } from 'zod'
import { BatonError, errorMessage } from '../actors/core/errors.ts'
import { type Cancellable, type Clock, every, realClock } from '../actors/core/index.ts'
import { maskUrl } from '../actors/core/log-redact.ts'
import { redisStartError, redisTls } from '../actors/redis/connection.ts'

/** A partition a member says it owns, with the epoch its actor took (0 until the actor has taken one). */
export interface PartitionClaim {
  readonly topic: string
  readonly partition: number
  readonly epoch: number
}

/** What a node publishes about itself. */
export interface Member {
  readonly id: string
  /** Where the other nodes reach its HTTP API (BATON_ADVERTISE_URL), without a trailing slash. */
  readonly httpUrl: string
  readonly startedAt: string
  /** When it last wrote this record (ISO time, its own clock). */
  readonly updatedAt: string
  readonly partitions: readonly PartitionClaim[]
}

export interface MembershipOptions {
  /** REDIS_URL. */
  readonly url: string
  /** PEM text of the CA that signed the server's certificate (REDIS_TLS_CA), for a `rediss://` URL. */
  readonly tlsCa?: string
  /** The consumer group (BATON_GROUP_ID): a registry lists the members of one group. */
  readonly group: string
  /** Prefix of every key (default `baton:`), as for the checkpoints: the ACL grants `~<prefix>*`. */
  readonly prefix?: string
  /** How often a member rewrites its record (default 2 s). */
  readonly heartbeatMs?: number
  /** How long a record outlives its last write (default 10 s): a dead node disappears within this. */
  readonly ttlMs?: number
  /** How often the claims are compared with the last published ones (default 250 ms), to publish a new epoch soon. */
  readonly checkMs?: number
  /** Heartbeats, checks and the times it records (default: the process clock). */
  readonly clock?: Clock
}

export interface MembershipRegistry {
  /** The keys of this group: the set of member ids and one member's record. */
  readonly keys: { readonly ids: string; member(id: string): string }
  /**
   * Starts publishing this node: at once, whenever `claims()` differs from what was last published
   * (checked every `checkMs`), on `changed()`, and every `heartbeatMs` regardless. `claims` is called on
   * each check, so it must be cheap and must not throw. Call once.
   */
  join(self: { id: string; httpUrl: string; startedAt: string }, claims: () => PartitionClaim[]): void
  /** The claims changed (a partition assigned or revoked): publish now rather than at the next check. */
  changed(): void
  /** Every member whose record has not expired, sorted by id. Throws REGISTRY_UNAVAILABLE. */
  members(): Promise<Member[]>
  /** Why this node's record may be stale (the last write failed), or null while writes succeed. */
  problem(): string | null
  /** Stops publishing and deletes this node's record, so others stop counting it at once. Never throws. */
  leave(): Promise<void>
  /** Stops publishing and closes the connection (the record then expires after `ttlMs`). */
  close(): Promise<void>
}

const claimSchema = z.object({
  topic: z.string(),
  partition: z.number().int().nonnegative(),
  epoch: z.number().int().nonnegative(),
})
const memberSchema = z.object({
  id: z.string(),
  httpUrl: z.string(),
  startedAt: z.string(),
  updatedAt: z.string(),
  partitions: z.array(claimSchema),
})

/**
 * The membership registry of one consumer group in Redis. Each node writes its record
 * `{id, httpUrl, startedAt, updatedAt, partitions: [{topic, partition, epoch}]}` as JSON to
 * `<prefix>members:{<group>}:<id>` with a TTL (`SET … PX ttlMs`) and adds its id to the set
 * `<prefix>members:{<group>}` (`SADD`, and `PEXPIRE` so that the set of a group that is gone goes too).
 * A reader takes the set (`SMEMBERS`) and the records (`MGET`); an id whose record expired is a dead node:
 * it is skipped and removed from the set (`SREM`). The braces are a Redis Cluster hash tag, so the set and
 * the records live in one slot and one `MGET` reads them all.
 *
 * A node that just expired and writes again while a reader removes its id is missing from the set until
 * its next heartbeat; it had missed its TTL anyway, so for that moment it is as good as dead.
 *
 * Least privilege: SET (with PX), SADD, PEXPIRE, SMEMBERS, MGET, SREM and DEL (on leave), plus AUTH and
 * SELECT as the URL asks; no KEYS, no SCAN. ACL (default prefix):
 * `~baton:* +set +sadd +pexpire +smembers +mget +srem +del`, on top of what the checkpoints need.
 *
 * Redis being down does not stop the node: writes fail, `problem()` says so (the node is then not ready),
 * the client reconnects in the background and the next heartbeat publishes again.
 *
 * @example
 * const registry = await createMembershipRegistry({ url: process.env.REDIS_URL, group: 'baton' })
 * registry.join({ id: 'baton-0', httpUrl: 'http://10.0.0.7:8080', startedAt }, () => claims())
 */
export async function createMembershipRegistry(options: MembershipOptions): Promise<MembershipRegistry> {
  const prefix = options.prefix ?? 'baton:'
  const heartbeatMs = options.heartbeatMs ?? 2_000
  const ttlMs = options.ttlMs ?? 10_000
  const checkMs = options.checkMs ?? 250
  const clock = options.clock ?? realClock
  if (ttlMs < 2 * heartbeatMs) {
    throw new BatonError(
      'CONFIG_INVALID',
      `The membership TTL (${ttlMs} ms) must be at least twice the heartbeat (${heartbeatMs} ms), or one late heartbeat makes a live node look dead.`,
    )
  }
  const where = maskUrl(options.url)
  const redis = new Redis(options.url, {
    ...redisTls(options.url, options.tlsCa),
    lazyConnect: true,
    connectTimeout: 2_000,
    // Reads serve HTTP requests and readiness: fail in a second or two, never hang a request.
    commandTimeout: 2_000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    // INFO and CLIENT SETINFO are commands a least-privilege ACL need not allow.
    enableReadyCheck: false,
    disableClientInfo: true,
    retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 2_000),
  })
  // Failures reach the caller as rejected commands; without a listener ioredis would print each one.
  redis.on('error', () => {})
  try {
    await redis.connect()
  } catch (err) {
    redis.disconnect()
    throw redisStartError(where, err, errorMessage(err), 'membership registry')
  }

  const ids = `${prefix}members:{${options.group}}`
  const memberKey = (id: string) => `${ids}:${id}`
  let self: { id: string; httpUrl: string; startedAt: string } | null = null
  let claims: () => PartitionClaim[] = () => []
  let published = 0
  let publishedAt = 0
  let dirty = false
  let publishing: Promise<void> | null = null
  let timer: Cancellable | null = null
  let failure: { message: string; since: number } | null = null
  let stopped = false

  async function publish(): Promise<void> {
    if (!self || stopped) return
    const partitions = claims()
    const snapshot = fingerprint(partitions)
    const record: Member = { ...self, updatedAt: new Date(clock.now()).toISOString(), partitions }
    try {
      // A pipeline, not MULTI (one command fewer to allow); record first, then the id, so a reader that
      // sees the id finds the record.
      await redis
        .pipeline()
        .set(memberKey(self.id), JSON.stringify(record), 'PX', ttlMs)
        .sadd(ids, self.id)
        .pexpire(ids, ttlMs)
        .exec()
        .then(throwFirstError)
      published = snapshot
      publishedAt = clock.now()
      failure = null
    } catch (err) {
      // Readiness reports it (problem()); the next check tries again.
      failure ??= { message: errorMessage(err), since: clock.now() }
    }
  }

  /** Publishes when due; never two writes at once, and a change during a write is published after it. */
  function check(): void {
    if (publishing) {
      dirty = true
      return
    }
    const due = dirty || clock.now() - publishedAt >= heartbeatMs || fingerprint(claims()) !== published
    if (!due) return
    dirty = false
    publishing = publish().finally(() => {
      publishing = null
      if (dirty) check()
    })
  }

  function stop(): void {
    stopped = true
    timer?.cancel()
    timer = null
  }

  return {
    keys: { ids, member: memberKey },

    join(member, memberClaims) {
      if (self) throw new Error('join() was called twice')
      self = { ...member, httpUrl: member.httpUrl.replace(/\/+$/, '') }
      claims = memberClaims
      timer = every(clock, checkMs, check)
      check()
    },

    changed() {
      dirty = true
      check()
    },

    async members() {
      try {
        const listed = (await redis.smembers(ids)).sort()
        if (listed.length === 0) return []
        const records = await redis.mget(listed.map(memberKey))
        const gone = listed.filter((_, i) => records[i] == null)
        // Best effort: another reader or the next heartbeat sets the set right if this fails.
        if (gone.length > 0) await redis.srem(ids, ...gone).catch(() => {})
        return records.flatMap((raw) => {
          if (raw == null) return []
          const parsed = memberSchema.safeParse(safeJson(raw))
          return parsed.success ? [parsed.data] : []
        })
      } catch (err) {
        throw new BatonError(
          'REGISTRY_UNAVAILABLE',
          `The membership registry in Redis at ${where} does not answer (${errorMessage(err)}); retry, and check that Redis runs.`,
          { cause: err },
        )
      }
    },

    problem() {
      if (!failure) return null
      return `Redis: the membership registry at ${where} refuses writes since ${new Date(failure.since).toISOString()} (${failure.message})`
    },

    async leave() {
      stop()
      await publishing
      if (!self) return
      await redis
        .pipeline()
        .del(memberKey(self.id))
        .srem(ids, self.id)
        .exec()
        .catch(() => {})
    },

    async close() {
      stop()
      await publishing
      redis.disconnect()
    },
  }
}

function throwFirstError(results: [Error | null, unknown][] | null): void {
  const failed = results?.find(([err]) => err)
  if (failed?.[0]) throw failed[0]
  if (!results) throw new Error('the write was discarded')
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return null
  }
}

/**
 * A number that changes when a claim comes, goes or takes another epoch, so a check every 250 ms need not
 * serialise thousands of claims (at 4,096 partitions that was 4% of the node's CPU). Two different sets
 * that collide delay a publish to the next heartbeat, no longer: assignment changes publish at once
 * (`changed()`), and the heartbeat rewrites the record regardless.
 */
function fingerprint(claims: readonly PartitionClaim[]): number {
  let hash = claims.length
  for (const { topic, partition, epoch } of claims)
    hash = (Math.imul(hash ^ topic.length, 0x01000193) + Math.imul(partition, 0x9e3779b1) + epoch) | 0
  return hash
}
