import type { PartitionState } from '../actors/partition/stats.ts'
import type { OwnerAnswer, OwnerRequest } from '../cluster/messages.ts'

/**
 * What the HTTP API asks of the node it runs in. The node (runtime/node/node.ts) implements it over the actor
 * system, the coordinator and the adapters; HTTP tests implement it with plain objects. Every method may
 * throw a BatonError, which the API's one error handler maps to a status and a JSON body.
 */
export interface NodeApi {
  readonly nodeId: string
  readonly mode: 'embedded' | 'cluster'
  /** Topics this node serves; anything else is a 404 on partition routes. */
  readonly topics: readonly string[]
  /** Max partitions per topic (embedded: BATON_PARTITIONS; cluster: as the broker says). */
  partitionCount(topic: string): number | undefined
  /** Liveness: the process and its event loop answer. Never depends on a service. */
  health(): { ok: true; uptimeSeconds: number }
  /** Readiness: actors running, services reachable, not draining. `reasons` say what is missing. */
  readiness(): { ready: boolean; reasons: string[] }
  /** The actor tree of this node (GET /v1/actors). */
  actors(): unknown
  /**
   * The state of one partition's actor on this node. Throws NO_OWNER when this node does not run it right
   * now, NOT_FOUND for an unknown topic/partition. Requests for a partition another node owns go there
   * through `forward` first.
   */
  partition(topic: string, partition: number): Promise<PartitionView>
  /**
   * Hands a partition request (GET state, or an admin action) to the partition's owner when that is
   * another node. Resolves null when the request is to be answered here: this node owns the partition,
   * runs alone (embedded mode), or another node forwarded the request here already (a request travels
   * once). Otherwise resolves with the owner's answer. Throws NO_OWNER when no live node claims the
   * partition or no claimant answers, FORWARD_TIMEOUT when the owner took an admin request but did not
   * answer in time, REGISTRY_UNAVAILABLE when the registry cannot say who owns it.
   */
  forward(topic: string, partition: number, request: OwnerRequest): Promise<OwnerAnswer | null>
  /** Every node and who owns which partition (GET /v1/cluster). */
  cluster(): Promise<unknown>
  /** Appends (embedded) or produces (cluster) events; answers only once they are durable. */
  ingest(
    topic: string,
    events: readonly IngestEvent[],
  ): Promise<readonly { partition: number; offset: number }[]>
  pause(topic: string, partition: number): Promise<PartitionView>
  resume(topic: string, partition: number): Promise<PartitionView>
  seek(
    topic: string,
    partition: number,
    to: { offset: number } | { timestamp: number },
  ): Promise<PartitionView>
  restart(topic: string, partition: number): Promise<PartitionView>
  deadLetters(query: {
    topic?: string
    partition?: number
    limit: number
    after?: number
  }): Promise<DeadLetterPage>
  replay(
    selection: { ids: readonly number[] } | { topic: string; partition?: number },
  ): Promise<{ replayed: number }>
  /** The quarantined keys of the group (GET /v1/quarantine), paged by dead-letter id like GET /v1/dlq. */
  quarantine(query: {
    topic?: string
    partition?: number
    limit: number
    after?: number
  }): Promise<QuarantinePage>
  /**
   * The partition whose key dead letter `id` holds back: where its retry or skip must run. NOT_FOUND for
   * an unknown id, QUARANTINE_CONFLICT for a letter already decided or replayed, or holding no key.
   */
  letterPartition(id: number): Promise<{ topic: string; partition: number }>
  /**
   * Retries or skips letter `id` on this node, which owns its partition: 200 once its key is released,
   * 202 while the release goes on. Throws RETRY_FAILED when the retried event fails again (nothing changed),
   * QUARANTINE_CONFLICT, NOT_FOUND, NO_OWNER as the others.
   */
  decide(id: number, outcome: 'retried' | 'skipped'): Promise<{ status: 200 | 202; body: DecisionAnswer }>
  /** Prometheus text exposition of this node's metrics. */
  metrics(): Promise<{ contentType: string; body: string }>
}

export interface IngestEvent {
  readonly key?: string | null
  /** The value as it is stored: the JSON text of the request's `value`, or its `rawValue` as given. */
  readonly value: string
  readonly headers?: Readonly<Record<string, string>>
  /** Event time, milliseconds since the epoch; defaults to the time of ingest. */
  readonly time?: number
}

export interface PartitionView {
  readonly topic: string
  readonly partition: number
  /** The node that owns the partition and whose memory this state comes from. */
  readonly node: string
  /** The node that answered the HTTP request: `node` itself, or the node that forwarded it to `node`. */
  readonly answeredBy: string
  readonly status: PartitionState | 'restarting' | 'failed' | 'stopped'
  readonly epoch: number
  readonly committedOffset: number | null
  readonly highWatermark: number | null
  readonly lag: number | null
  readonly lagSeconds: number | null
  readonly inFlight: number
  /** Keys held back by a dead letter (onPoison quarantine-key), and the events they hold: not lag, held back. */
  readonly quarantinedKeys: number
  readonly quarantinedEvents: number
  readonly eventsPerSec: number
  readonly events: number
  readonly deadLetters: number
  readonly batches: number
  readonly restarts: number
  readonly fencedCommits: number
  readonly lastError: { message: string; code: string; at: string } | null
  readonly latencyMs: Readonly<
    Record<'fetchWait' | 'handle' | 'commit' | 'checkpoint', { p50: number | null; p99: number | null }>
  >
}

export interface DeadLetterEntry {
  readonly id: number
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly key: string | null
  readonly value: string | null
  readonly headers: Readonly<Record<string, string>>
  readonly error: string
  readonly errorCode: string
  readonly attempts: number
  readonly failedAt: string
  readonly replayedAt: string | null
  /** `retried` or `skipped` once an operator decided on a letter that held its key back; else null. */
  readonly resolution: 'retried' | 'skipped' | null
}

export interface DeadLetterPage {
  readonly entries: readonly DeadLetterEntry[]
  /** Pass as `after` for the next page; null on the last page. */
  readonly next: number | null
}

/** One quarantined key as GET /v1/quarantine shows it. */
export interface QuarantineEntryView {
  readonly topic: string
  readonly partition: number
  /** The key's UTF-8 text, as GET /v1/dlq shows keys. */
  readonly key: string
  readonly deadLetterId: number
  /** `releasing` once its letter was retried or skipped, until its held events are all handled. */
  readonly state: 'quarantined' | 'releasing'
  /** Events of the key held back. */
  readonly events: number
  readonly oldestEventTime: string | null
}

export interface QuarantinePage {
  readonly entries: readonly QuarantineEntryView[]
  /** Pass as `after` for the next page; null on the last page. */
  readonly next: number | null
}

/** The answer of POST /v1/dlq/:id/{retry,skip}. */
export interface DecisionAnswer {
  readonly deadLetterId: number
  readonly outcome: 'retried' | 'skipped'
  /** Held events handed to `handle` so far. */
  readonly released: number
  /** Set when a released event failed: this new letter holds the key back now, with the rest. */
  readonly heldBy?: number
}
