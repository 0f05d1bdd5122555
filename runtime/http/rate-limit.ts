import type { Context, MiddlewareHandler } from 'hono'
import { type Clock, realClock } from '../../actors/core/clock.ts'
import { BatonError } from '../../actors/core/errors.ts'
import './auth.ts'

export interface RateLimitOptions {
  /** Events per second a client may send; 0 turns the limit off. */
  readonly eventsPerSec: number
  /** How many seconds of events a client may send at once after a quiet spell (default 2). */
  readonly burstSeconds?: number
  /** Clients remembered at most (default 10,000); the least recently seen are forgotten first. */
  readonly maxClients?: number
  /** Refill time (default: the process clock); tests pass a manual one. */
  readonly clock?: Clock
}

declare module 'hono' {
  interface ContextVariableMap {
    /** Set by the ingest route: how many events it accepted, which the rate limit then charges. */
    ingestedEvents: number
  }
}

/**
 * Token buckets per client: a bucket holds up to `eventsPerSec × burstSeconds` events and refills at
 * `eventsPerSec`. A request is let in while its client's bucket holds at least one event; once it is answered, its
 * events (at least 1, so that refused requests cost too) are taken out, which may leave the bucket in
 * debt. A request larger than the bucket is thus never refused for its size alone, and its client waits
 * in proportion afterwards. Counting after the fact keeps the body unread until the client is admitted.
 */
export class TokenBuckets {
  readonly #rate: number
  readonly #capacity: number
  readonly #maxClients: number
  readonly #clock: Clock
  // Insertion order is recency order: a touched bucket is moved to the end.
  readonly #buckets = new Map<string, { tokens: number; at: number }>()

  constructor(options: RateLimitOptions) {
    this.#rate = options.eventsPerSec / 1000
    this.#capacity = options.eventsPerSec * (options.burstSeconds ?? 2)
    this.#maxClients = options.maxClients ?? 10_000
    this.#clock = options.clock ?? realClock
  }

  /** 0 when `client` may send now, else the milliseconds until it may. */
  waitMs(client: string): number {
    const tokens = this.#refill(client).tokens
    return tokens >= 1 ? 0 : Math.ceil((1 - tokens) / this.#rate)
  }

  /** Takes `events` out of `client`'s bucket. */
  take(client: string, events: number): void {
    this.#refill(client).tokens -= events
  }

  /** Clients currently remembered. */
  get size(): number {
    return this.#buckets.size
  }

  #refill(client: string): { tokens: number; at: number } {
    const now = this.#clock.now()
    let bucket = this.#buckets.get(client)
    if (bucket) {
      this.#buckets.delete(client)
      bucket.tokens = Math.min(this.#capacity, bucket.tokens + (now - bucket.at) * this.#rate)
      bucket.at = now
    } else {
      bucket = { tokens: this.#capacity, at: now }
      if (this.#buckets.size >= this.#maxClients) this.#forget(now)
    }
    this.#buckets.set(client, bucket)
    return bucket
  }

  /** Drops buckets that are full again (they mean the same as no bucket), else the least recent one. */
  #forget(now: number): void {
    for (const [client, b] of this.#buckets) {
      if (b.tokens + (now - b.at) * this.#rate >= this.#capacity) this.#buckets.delete(client)
    }
    if (this.#buckets.size >= this.#maxClients) {
      const oldest = this.#buckets.keys().next().value
      if (oldest !== undefined) this.#buckets.delete(oldest)
    }
  }
}

/**
 * The per-client rate limit of the ingest route. A client is its address (Bun's remote address, passed
 * as `clientAddress` in the app's env by `serve`) together with the role of the token it presented, so
 * an authenticated client does not share its bucket with anonymous ones from the same address. Proxy
 * headers (X-Forwarded-For) are not trusted: anyone can send them. Over the limit: 429 RATE_LIMITED with
 * Retry-After in seconds.
 */
export function ingestRateLimit(options: RateLimitOptions): MiddlewareHandler {
  if (options.eventsPerSec === 0) return async (_c, next) => next()
  const buckets = new TokenBuckets(options)
  return async (c, next) => {
    const client = `${clientAddress(c)}|${c.get('principal') ?? 'anonymous'}`
    const waitMs = buckets.waitMs(client)
    if (waitMs > 0) {
      c.header('Retry-After', String(Math.ceil(waitMs / 1000)))
      throw new BatonError(
        'RATE_LIMITED',
        `this client sent more than ${options.eventsPerSec} events per second (BATON_INGEST_RATE); ` +
          `send again after ${Math.ceil(waitMs / 1000)} s, and spread events out`,
      )
    }
    try {
      await next()
    } finally {
      buckets.take(client, Math.max(1, c.get('ingestedEvents') ?? 0))
    }
  }
}

function clientAddress(c: Context): string {
  const env = c.env as { clientAddress?: unknown } | undefined
  return typeof env?.clientAddress === 'string' ? env.clientAddress : 'unknown'
}
