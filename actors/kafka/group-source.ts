import { ConnectionPool, Consumer, ListOffsetTimestamps } from '@platformatic/kafka'
import { type Clock, realClock } from '../core/clock.ts'
import { BatonError } from '../core/errors.ts'
import { type PartitionFeed, type TopicPartition, tpString } from '../ports.ts'
import { DEFAULT_FETCH_BUFFER_BYTES, FetchBudget } from './fetch-budget.ts'
import { defaultFetchTuning, type FetchTuning } from './fetch-request.ts'
import { Fetcher } from './fetcher.ts'
import { type AssignedPartition, GroupMembership } from './group-membership.ts'
import { initialOffsets } from './initial-offsets.ts'
import { clientOptions, type KafkaLog, stderrLog, unreachable } from './kafka-client.ts'
import { describeKafkaError } from './kafka-errors.ts'
import type { KafkaSecurity } from './kafka-security.ts'
import { OffsetCommitter } from './offset-committer.ts'
import { type FeedHost, KafkaPartitionFeed } from './partition-feed.ts'

/**
 * Called when the group's assignment changes. Calls never overlap and come in the order of the changes;
 * heartbeats and fetching for the other partitions go on while one runs. Errors thrown are logged and the
 * change counts as done, so handle your own failures inside.
 *
 * - `onAssigned(partitions)`: the partitions are this node's. `feed(tp)` works for them from now on (start
 *   a partition actor, which calls `feed.start`). Runs before the coordinator hears they were taken. Throw
 *   when a partition could not be started: the call is repeated (5 tries, 1 to 8 s apart), so it must be
 *   safe to call again for partitions it started before it threw.
 * - `onAssignmentFailed(error)`: `onAssigned` threw on every try (ASSIGNMENT_FAILED). The node owns
 *   partitions it cannot process: it must `close()` (not from inside this call) and exit, so that the
 *   group gives them to other nodes. `status()` names the cause from the first failed try on.
 * - `onRevoked(partitions)`: the group moves them elsewhere. They stay this node's, and their feeds keep
 *   fetching, until the promise settles: drain each actor (finish or abandon its batch, commit, checkpoint,
 *   `feed.commit`) and then resolve. Only after that are their offsets flushed, their feeds stopped, and the
 *   partitions released to the next owner. Must settle within `rebalanceTimeoutMs`, or the coordinator
 *   expels this node (its partitions then count as lost).
 * - `onLost(partitions)`: the partitions are already someone else's (this node missed its session
 *   timeout or was fenced): stop their actors without committing. Their feeds are stopped before the call.
 *   Defaults to `onRevoked` (safe in baton: a late commit of a lost partition is fenced by its epoch).
 *
 * Do not call `close()` from inside a callback: close waits for the callbacks to finish.
 *
 * What the protocol allows: under KIP-848 the coordinator hands a partition to its next owner only after
 * the current owner's heartbeat reports it released, and it waits up to the rebalance timeout for that;
 * so `onRevoked` really is awaited before the partition moves. An assignment needs no acknowledgement
 * (the coordinator never assigns a partition someone still owns), so awaiting `onAssigned` only delays
 * this node's own start on those partitions.
 */
export interface AssignmentListener {
  onAssigned(partitions: TopicPartition[]): Promise<void> | void
  onRevoked(partitions: TopicPartition[]): Promise<void> | void
  onLost?(partitions: TopicPartition[]): Promise<void> | void
  onAssignmentFailed?(error: BatonError): void
}

export interface KafkaGroupSourceOptions extends AssignmentListener {
  readonly brokers: readonly string[]
  /** SASL and TLS of every connection to the brokers (KAFKA_SASL_*, KAFKA_TLS*); default: plaintext. */
  readonly security?: KafkaSecurity
  readonly groupId: string
  readonly topics: readonly string[]
  /** This node's id (BATON_NODE_ID): the Kafka client id and, by default, its static group instance id. */
  readonly nodeId: string
  /** Join as a static member identified by `nodeId`, so a restarted node gets its partitions back (default true). */
  readonly staticMembership?: boolean
  /** How long `onRevoked` may take before the coordinator gives up on this node (default 60 s). */
  readonly rebalanceTimeoutMs?: number
  /** Server-side assignor (`uniform` or `range`); the brokers' default (`uniform`) when unset. */
  readonly serverAssignor?: string
  readonly fetch?: Partial<FetchTuning>
  /**
   * Fetched records the node may hold before its partition actors take them, all partitions together
   * (BATON_FETCH_BUFFER_BYTES; default 8 MiB). Shared among the owned partitions (see FetchBudget).
   */
  readonly fetchBufferBytes?: number
  /** How often pending offset commits are sent (default 100 ms). */
  readonly commitIntervalMs?: number
  /** How long `start` waits for unreachable brokers before it fails (default 30 s). */
  readonly joinTimeoutMs?: number
  readonly log?: KafkaLog
  /** Every timer and reading of time in the source (default: the process clock). */
  readonly clock?: Clock
}

/** What the node shows about its Kafka source. */
export interface SourceStatus {
  readonly state: 'starting' | 'joined' | 'unavailable' | 'closed'
  readonly groupId: string
  readonly memberId: string
  readonly memberEpoch: number
  readonly assigned: number
  /**
   * Set while the group coordinator or a partition leader cannot be reached (SOURCE_UNAVAILABLE), or while
   * an assignment cannot be carried out (ASSIGNMENT_FAILED): what and since when.
   */
  readonly error: {
    readonly code: 'SOURCE_UNAVAILABLE' | 'ASSIGNMENT_FAILED'
    readonly message: string
    readonly since: number
  } | null
}

/** The broker features this source needs, as (api key, lowest version, what it is for). */
const requiredApis: readonly [number, number, string][] = [
  [68, 1, 'ConsumerGroupHeartbeat v1 (the KIP-848 consumer group protocol, Kafka 4.0+)'],
  [1, 17, 'Fetch v17'],
  [8, 9, 'OffsetCommit v9'],
  [10, 6, 'FindCoordinator v6'],
]

/**
 * A node's Kafka source: one member of consumer group `groupId` subscribed to `topics`, handing out one
 * `PartitionFeed` per assigned partition. Offsets are manual: nothing is committed unless a feed's
 * `commit` asks (coalesced, at most every `commitIntervalMs`, and flushed on revoke and close).
 *
 * Group protocol: KIP-848 (see GroupMembership). The brokers assign partitions incrementally and a
 * rebalance stops only the partitions that move; a revoked partition is released only after `onRevoked`
 * settled. What happens when:
 * - a node joins (scale up): the owners of the partitions that move to it get `onRevoked` for those only;
 *   once they released them, the new node gets `onAssigned` at its next heartbeat. The rest keep flowing.
 * - a node stops (`close()`, scale down or SIGTERM): `onRevoked` for all its partitions, offsets flushed,
 *   it leaves the group, and the others get its partitions at their next heartbeat.
 * - a node restarts under the same id (rolling restart) after `close({ rejoinSoon: true })`: its
 *   assignment stays reserved for the group's session timeout and comes back to it unchanged; nobody else
 *   is disturbed. After a plain `close()` it rejoins as a new member and gets a fair share.
 * - a node crashes (kill -9): its partitions stay assigned to it until the group's session timeout
 *   (brokers' `group.consumer.session.timeout.ms`, 45 s by default), then move. A restart under the same id
 *   before that waits (UNRELEASED_INSTANCE_ID) until the old member has timed out.
 * - this node is cut off from the coordinator longer than the session timeout: the others get its
 *   partitions; when it reaches the coordinator again it learns so, gets `onLost` (or `onRevoked`) and
 *   joins again. Meanwhile it still believes it owns them: baton's epochs fence what it commits.
 *
 * @example
 * const source = new KafkaGroupSource({
 *   brokers: ['127.0.0.1:9092'], groupId: 'baton', topics: ['events'], nodeId: 'baton-0',
 *   onAssigned: (tps) => coordinator.spawn(tps.map((tp) => [tp, source.feed(tp)])),
 *   onRevoked: (tps) => coordinator.drain(tps),
 * })
 * await source.start()
 */
export class KafkaGroupSource {
  readonly #o: KafkaGroupSourceOptions
  readonly #log: KafkaLog
  readonly #client: Consumer
  readonly #fetchPool: ConnectionPool
  readonly #fetcher: Fetcher
  readonly #committer: OffsetCommitter
  readonly #membership: GroupMembership
  readonly #feeds = new Map<string, KafkaPartitionFeed>()
  readonly #host: FeedHost
  readonly #budget: FetchBudget
  #closing: Promise<void> | null = null

  constructor(options: KafkaGroupSourceOptions) {
    this.#o = options
    this.#log = options.log ?? stderrLog
    const clock = options.clock ?? realClock
    const base = clientOptions(`baton-${options.nodeId}`, options.brokers, options.security)
    this.#client = new Consumer({ ...base, groupId: options.groupId })
    // Fetches wait at the broker for up to maxWaitMs; on their own connections they never hold up a
    // heartbeat or a commit behind them.
    this.#fetchPool = new ConnectionPool(`baton-${options.nodeId}-fetch`, base)
    this.#budget = new FetchBudget(options.fetchBufferBytes ?? DEFAULT_FETCH_BUFFER_BYTES)
    this.#fetcher = new Fetcher(
      this.#client,
      this.#fetchPool,
      { ...defaultFetchTuning, ...options.fetch },
      this.#log,
      this.#budget,
      clock,
    )
    this.#membership = new GroupMembership({
      client: this.#client,
      brokers: options.brokers,
      groupId: options.groupId,
      topics: options.topics,
      instanceId: options.staticMembership === false ? null : options.nodeId,
      rebalanceTimeoutMs: options.rebalanceTimeoutMs ?? 60_000,
      serverAssignor: options.serverAssignor ?? null,
      joinTimeoutMs: options.joinTimeoutMs ?? 30_000,
      log: this.#log,
      clock,
      listener: {
        onAssigned: (partitions) => this.#assigned(partitions),
        onRevoked: (partitions) => this.#revoked(partitions),
        onLost: (partitions) => this.#lost(partitions),
        onAssignmentFailed: (error) => options.onAssignmentFailed?.(error),
      },
    })
    this.#committer = new OffsetCommitter(
      (offsets) => this.#membership.commitOffsets(offsets),
      options.commitIntervalMs ?? 100,
      this.#log,
      clock,
    )
    this.#host = {
      log: this.#log,
      clock,
      budget: this.#budget,
      wake: (feed) => this.#fetcher.wake(feed),
      initialOffset: initialOffsets(this.#client, options.groupId),
      commit: (feed, nextOffset) =>
        this.#feeds.get(tpString(feed.tp)) === feed
          ? this.#committer.commit(feed.tp, nextOffset)
          : Promise.resolve(),
    }
  }

  /**
   * Checks the brokers and joins the group; resolves once the group accepted this node (partitions are
   * assigned right after, through `onAssigned`). Throws SERVICE_UNREACHABLE when no broker answers within
   * `joinTimeoutMs`, PREREQUISITE_MISSING when the brokers are too old, SOURCE_UNAVAILABLE when the group
   * refuses this member. After a failed start, call `close()`.
   */
  async start(): Promise<void> {
    let apis: Awaited<ReturnType<Consumer['listApis']>>
    try {
      apis = await this.#client.listApis()
    } catch (err) {
      throw unreachable(this.#o.brokers, 'starting the Kafka source', err)
    }
    const missing = requiredApis.filter(([key, version]) => {
      const api = apis.find((candidate) => candidate.apiKey === key)
      return !api || api.maxVersion < version
    })
    if (missing.length > 0) {
      throw new BatonError(
        'PREREQUISITE_MISSING',
        `Kafka at ${this.#o.brokers.join(',')} lacks ${missing.map(([, , what]) => what).join(', ')}. ` +
          "baton needs Kafka 4.0 or newer with group.coordinator.rebalance.protocols including 'consumer'.",
      )
    }
    await this.#membership.start()
  }

  /** The feed of an assigned partition. Throws PARTITION_NOT_ASSIGNED for any other partition. */
  feed(tp: TopicPartition): PartitionFeed {
    const feed = this.#feeds.get(tpString(tp))
    if (!feed) {
      throw new BatonError(
        'PARTITION_NOT_ASSIGNED',
        `${tpString(tp)} is not assigned to node '${this.#o.nodeId}' in group '${this.#o.groupId}'; ask for feeds in onAssigned.`,
      )
    }
    return feed
  }

  /**
   * The first offset of `tp` whose record time is at or after `time` (ms since the epoch), or the end
   * offset when every record is older: where a seek to a point in time goes. Throws SOURCE_UNAVAILABLE.
   */
  async offsetForTime(tp: TopicPartition, time: number): Promise<number> {
    const { topic, partition } = tp
    const ask = async (timestamp: bigint) => {
      const offsets = await this.#client.listOffsets({
        topics: [topic],
        partitions: { [topic]: [partition] },
        timestamp,
      })
      return offsets.get(topic)?.[partition] ?? -1n
    }
    try {
      const offset = await ask(BigInt(Math.trunc(time)))
      return Number(offset >= 0n ? offset : await ask(ListOffsetTimestamps.LATEST))
    } catch (err) {
      throw new BatonError(
        'SOURCE_UNAVAILABLE',
        `Could not look up the offset of ${tpString(tp)} at ${new Date(time).toISOString()}: ${describeKafkaError(err)}.`,
        { cause: err },
      )
    }
  }

  /** The partitions this node owns now. */
  assignment(): TopicPartition[] {
    return [...this.#feeds.values()].map((feed) => feed.tp)
  }

  /** Fetched bytes whose records the partition actors have not committed yet, and the budget they are held to. */
  fetchBuffer(): { readonly heldBytes: number; readonly limitBytes: number } {
    return { heldBytes: this.#budget.held, limitBytes: this.#budget.limit }
  }

  status(): SourceStatus {
    const member = this.#membership.status()
    const outage = member.problem ?? this.#fetcher.outages()[0] ?? null
    const state =
      this.#closing !== null
        ? 'closed'
        : member.state === 'joining'
          ? 'starting'
          : outage
            ? 'unavailable'
            : 'joined'
    const assignment = member.assignmentProblem
    return {
      state,
      groupId: this.#o.groupId,
      memberId: member.memberId,
      memberEpoch: member.memberEpoch,
      assigned: member.owned,
      error: assignment
        ? { code: 'ASSIGNMENT_FAILED', ...assignment }
        : outage
          ? { code: 'SOURCE_UNAVAILABLE', message: outage.message, since: outage.since }
          : null,
    }
  }

  /**
   * Revokes every partition (through `onRevoked`, so actors drain and commit), flushes offsets, leaves the
   * group and closes the connections. `rejoinSoon` (static membership only) keeps this node's assignment
   * reserved for the group's session timeout, for a restart under the same node id; otherwise the
   * partitions move to the other nodes at once.
   */
  close(options: { rejoinSoon?: boolean } = {}): Promise<void> {
    this.#closing ??= this.#close(options.rejoinSoon === true)
    return this.#closing
  }

  async #close(rejoinSoon: boolean): Promise<void> {
    await this.#membership.leave(rejoinSoon)
    await this.#committer.close()
    await this.#fetcher.close()
    for (const feed of this.#feeds.values()) feed.stop()
    this.#feeds.clear()
    await Promise.allSettled([this.#fetchPool.close(), this.#client.close()])
  }

  async #assigned(partitions: AssignedPartition[]): Promise<void> {
    const tps = partitions.map(({ topic, partition }) => ({ topic, partition }))
    for (const tp of tps) {
      if (this.#feeds.has(tpString(tp))) continue // a retry of an assignment that failed part-way
      const feed = new KafkaPartitionFeed(tp, this.#host)
      this.#feeds.set(tpString(tp), feed)
      this.#fetcher.add(feed)
    }
    this.#log('info', `assigned ${tps.map(tpString).join(', ')}`, { group: this.#o.groupId })
    await this.#o.onAssigned(tps)
  }

  async #revoked(partitions: AssignedPartition[]): Promise<void> {
    const tps = partitions.map(({ topic, partition }) => ({ topic, partition }))
    this.#log('info', `revoking ${tps.map(tpString).join(', ')}`, { group: this.#o.groupId })
    try {
      await this.#o.onRevoked(tps)
    } finally {
      this.#drop(tps)
      await this.#committer.flush(tps)
      this.#committer.forget(tps)
    }
  }

  async #lost(partitions: AssignedPartition[]): Promise<void> {
    const tps = partitions.map(({ topic, partition }) => ({ topic, partition }))
    this.#log('warn', `lost ${tps.map(tpString).join(', ')} (this node's group session ended)`, {
      group: this.#o.groupId,
    })
    this.#drop(tps)
    this.#committer.forget(tps)
    await (this.#o.onLost ?? this.#o.onRevoked)(tps)
  }

  #drop(tps: readonly TopicPartition[]): void {
    for (const tp of tps) {
      const feed = this.#feeds.get(tpString(tp))
      if (!feed) continue
      feed.stop()
      this.#fetcher.remove(feed)
      this.#feeds.delete(tpString(tp))
    }
  }
}
