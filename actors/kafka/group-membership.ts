import { randomUUID } from 'node:crypto'
import {
  type Broker,
  type ClusterMetadata,
  type Connection,
  type Consumer,
  consumerGroupHeartbeatV1,
  FindCoordinatorKeyTypes,
  findCoordinatorV6,
  offsetCommitV9,
} from '@platformatic/kafka'
import { type AttemptPolicy, attempt } from '../core/attempts.ts'
import { backoff } from '../core/backoff.ts'
import { type Clock, realClock } from '../core/clock.ts'
import { BatonError, errorMessage } from '../core/errors.ts'
import { type TopicPartition, tpString } from '../ports.ts'
import { brokerRetries, type KafkaLog, parseBrokers, unreachable } from './kafka-client.ts'
import {
  describeKafkaError,
  errorResponse,
  groupErrorAction,
  groupErrorActionForCode,
  kafkaErrorIds,
} from './kafka-errors.ts'
import type { CommitOutcome, OffsetToCommit } from './offset-committer.ts'
import { Wakeup } from './wakeup.ts'

/** An assigned partition as the coordinator names it (by topic id) and as baton names it (by topic). */
export interface AssignedPartition extends TopicPartition {
  readonly topicId: string
}

/**
 * What the membership tells its owner. Calls are serialized: one at a time, in the order the assignment
 * changed, never overlapping; heartbeats go on meanwhile, so a slow callback does not cost the membership.
 * An `onRevoked` or `onLost` that throws is logged and the partitions are taken as gone. An `onAssigned`
 * that throws is tried again (`assignmentAttempts`); if it never succeeds, `onAssignmentFailed` hears why.
 */
export interface MembershipListener {
  /**
   * The partitions are this member's now. Called before the coordinator is told they were taken. Must be
   * safe to call again for the same partitions after it threw part-way.
   */
  onAssigned(partitions: AssignedPartition[]): Promise<void>
  /**
   * `onAssigned` failed on every attempt (error ASSIGNMENT_FAILED, the last failure as its cause): this
   * member owns partitions it cannot process, so the owner must leave the group (`leave`, not from inside
   * this call) and let the others take them. The partitions count as owned until then, so that leaving
   * revokes them, and with them any actor that did start.
   */
  onAssignmentFailed(error: BatonError): void
  /**
   * The coordinator moves the partitions to another member. They stay this member's until the promise
   * settles: only then does the next heartbeat release them, and only then may another member get them.
   * It must settle within the rebalance timeout, or the coordinator expels this member (→ onLost).
   */
  onRevoked(partitions: AssignedPartition[]): Promise<void>
  /** The partitions were taken away already (this member was fenced or expired): do not commit for them. */
  onLost(partitions: AssignedPartition[]): Promise<void>
}

export interface MembershipOptions {
  readonly client: Consumer
  readonly brokers: readonly string[]
  readonly groupId: string
  readonly topics: readonly string[]
  /** The static member identity (KIP-345 as KIP-848 keeps it); null for a dynamic member. */
  readonly instanceId: string | null
  readonly rebalanceTimeoutMs: number
  /** A server-side assignor the brokers offer (`uniform`, `range`); null for the brokers' default. */
  readonly serverAssignor: string | null
  /** How long `start` waits for an unreachable group coordinator before it gives up. */
  readonly joinTimeoutMs: number
  readonly listener: MembershipListener
  readonly log: KafkaLog
  /** Heartbeat intervals, retry delays and join deadlines (default: the process clock). */
  readonly clock?: Clock
}

/**
 * 5 tries, 1, 2, 4 and 8 s apart (15 s in all): long enough for a coordinator restarting after a bug (its
 * backoff starts at 5 s), short against the group's rebalance timeout and a pod's readiness budget.
 */
export const assignmentAttempts: AttemptPolicy = {
  attempts: 5,
  backoff: backoff({ minMs: 1_000, maxMs: 8_000, jitter: 0 }),
}

export interface MembershipStatus {
  readonly state: 'joining' | 'joined' | 'unavailable' | 'left'
  readonly memberId: string
  readonly memberEpoch: number
  readonly owned: number
  /** What keeps the member from heartbeating, and since when; null while heartbeats succeed. */
  readonly problem: { readonly message: string; readonly since: number } | null
  /** An assignment this member could not carry out yet (retrying) or at all (leaving); null otherwise. */
  readonly assignmentProblem: { readonly message: string; readonly since: number } | null
}

/**
 * One member of a consumer group under the KIP-848 protocol (ConsumerGroupHeartbeat, Kafka 4.0+): the
 * brokers compute the assignment and hand it out incrementally, so a rebalance only stops the partitions
 * that move. The client library joins this protocol only inside its `consume()` stream (which cannot
 * pause or seek one partition) and acknowledges revocations without waiting for the application; its
 * classic-protocol `joinGroup` has no such wait either (cooperative-sticky revokes inside the client, and
 * the eager assignors revoke everything on every rebalance). So baton speaks KIP-848 itself, with the
 * library's request encoders (ConsumerGroupHeartbeat v1, OffsetCommit v9, FindCoordinator v6).
 *
 * Reconciliation follows the protocol: a partition leaving the target assignment is revoked first
 * (`onRevoked` is awaited, heartbeats keep reporting it as owned meanwhile), then reported released; a
 * partition entering it is assigned (`onAssigned` awaited) and reported owned. The coordinator gives a
 * partition to a member only after its previous owner reported it released, so two members never own the
 * same partition at once, unless one of them lost its session (baton's epochs fence that case).
 */
export class GroupMembership {
  readonly memberId = randomUUID()
  readonly #o: MembershipOptions
  readonly #bootstrap: Broker[]
  readonly #clock: Clock
  readonly #wakeup: Wakeup
  readonly #backoff = brokerRetries(200, 5_000)
  readonly #owned = new Map<string, AssignedPartition>()
  #target: Map<string, { topicId: string; partition: number }> | null = null
  /** Counts changes of `#owned`, so a heartbeat knows whether the coordinator has heard the current set. */
  #ownedVersion = 0
  /**
   * The `#ownedVersion` the last successful heartbeat reported; null: the next heartbeat sends every field
   * (a join, or the first after a failure, as the Java client does).
   */
  #reported: number | null = null
  #epoch = 0
  #intervalMs = 1_000
  #coordinator: Broker | null = null
  #ops: Promise<void> = Promise.resolve()
  #reconcileQueued = false
  #startedAt = 0
  #joined = false
  #joinWaiter: { resolve: () => void; reject: (err: Error) => void } | null = null
  #leaving: Promise<void> | null = null
  #stopping = false
  #left = false
  #loop: Promise<void> = Promise.resolve()
  #problem: { message: string; since: number } | null = null
  #assignmentProblem: { message: string; since: number } | null = null

  constructor(options: MembershipOptions) {
    this.#o = options
    this.#clock = options.clock ?? realClock
    this.#wakeup = new Wakeup(this.#clock)
    this.#bootstrap = parseBrokers(options.brokers)
  }

  /** Starts heartbeating; resolves once the coordinator accepted this member (the assignment follows). */
  start(): Promise<void> {
    this.#startedAt = this.#clock.now()
    return new Promise((resolve, reject) => {
      this.#joinWaiter = { resolve, reject }
      this.#loop = this.#run().catch((err) => {
        this.#o.log('error', `heartbeating to group '${this.#o.groupId}' stopped`, {
          error: describeKafkaError(err),
        })
        this.#failJoin(err instanceof Error ? err : new Error(String(err)))
      })
    })
  }

  status(): MembershipStatus {
    const state = this.#left ? 'left' : !this.#joined ? 'joining' : this.#problem ? 'unavailable' : 'joined'
    return {
      state,
      memberId: this.memberId,
      memberEpoch: this.#epoch,
      owned: this.#owned.size,
      problem: this.#problem,
      assignmentProblem: this.#assignmentProblem,
    }
  }

  /**
   * Leaves the group: revokes every owned partition through the listener (while still a member, so its
   * last commits count), stops heartbeating and tells the coordinator. `temporary` (static members only)
   * keeps this member's assignment reserved for the group's session timeout, for a restart that comes
   * back with the same instance id; otherwise the partitions move to the other members at once.
   */
  leave(temporary: boolean): Promise<void> {
    this.#leaving ??= this.#leave(temporary)
    return this.#leaving
  }

  /** Commits group offsets with this member's id and epoch; answers per partition (key: `tpString`). */
  async commitOffsets(offsets: readonly OffsetToCommit[]): Promise<Map<string, CommitOutcome>> {
    const outcomes = new Map<string, CommitOutcome>()
    // Only a member with an epoch may commit to a KIP-848 group; the next round will have one.
    if (this.#epoch <= 0 || this.#left) {
      for (const offset of offsets) outcomes.set(tpString(offset), 'retry')
      return outcomes
    }
    const topics = new Map<string, offsetCommitV9.OffsetCommitRequestTopic>()
    for (const { topic, partition, offset } of offsets) {
      let entry = topics.get(topic)
      if (!entry) {
        entry = { name: topic, partitions: [] }
        topics.set(topic, entry)
      }
      entry.partitions.push({
        partitionIndex: partition,
        committedOffset: BigInt(offset),
        committedLeaderEpoch: -1,
        committedMetadata: null,
      })
    }
    const { groupId, instanceId } = this.#o
    try {
      const connection = await this.#coordinatorConnection()
      await offsetCommitV9.api.async(connection, groupId, this.#epoch, this.memberId, instanceId, [
        ...topics.values(),
      ])
      for (const offset of offsets) outcomes.set(tpString(offset), 'ok')
      return outcomes
    } catch (err) {
      const partial = errorResponse<offsetCommitV9.OffsetCommitResponse>(err)
      if (!Array.isArray(partial?.topics)) {
        if (groupErrorAction(err) === 'find-coordinator') this.#coordinator = null
        throw err
      }
      for (const topic of partial.topics) {
        for (const { partitionIndex, errorCode } of topic.partitions) {
          const action = errorCode === 0 ? null : groupErrorActionForCode(errorCode)
          if (action === 'find-coordinator') this.#coordinator = null
          const outcome = action === null ? 'ok' : action === 'fatal' ? 'drop' : 'retry'
          outcomes.set(tpString({ topic: topic.name, partition: partitionIndex }), outcome)
        }
      }
      return outcomes
    }
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      const ok = await this.#heartbeat()
      if (this.#stopping) return
      await this.#wakeup.wait(ok ? this.#intervalMs : this.#backoff.next())
    }
  }

  async #heartbeat(): Promise<boolean> {
    // A fenced member hands its partitions back (as lost) before it joins again with epoch 0.
    if (this.#epoch === 0 && this.#owned.size > 0) await this.#enqueue(() => this.#loseAll())
    const epoch = this.#epoch
    const { groupId, instanceId, rebalanceTimeoutMs, topics, serverAssignor } = this.#o
    // KIP-848: a field left null (-1 for the timeout) means "unchanged since the last heartbeat", and the
    // coordinator answers a heartbeat that is not full with the assignment only when it changed. Sending
    // everything every time made each heartbeat carry every owned partition both ways and reconcile them
    // all (at 4,096 partitions, 4% of the node's CPU while draining). A join must say it owns nothing.
    const full = epoch === 0 || this.#reported === null
    const version = this.#ownedVersion
    const owned = epoch === 0 ? [] : full || version !== this.#reported ? this.#ownedByTopic() : null
    try {
      const connection = await this.#coordinatorConnection()
      const response = await consumerGroupHeartbeatV1.api.async(
        connection,
        groupId,
        this.memberId,
        epoch,
        instanceId,
        null,
        full ? rebalanceTimeoutMs : -1,
        full ? [...topics] : null,
        null,
        full ? serverAssignor : null,
        owned,
      )
      this.#epoch = response.memberEpoch
      this.#reported = version
      if (response.heartbeatIntervalMs > 0) this.#intervalMs = response.heartbeatIntervalMs
      this.#backoff.reset()
      this.#recovered()
      if (!this.#joined) {
        this.#joined = true
        this.#o.log('info', `joined consumer group '${groupId}'`, { memberId: this.memberId, instanceId })
        this.#joinWaiter?.resolve()
      }
      if (response.assignment) {
        this.#target = new Map()
        for (const { topicId, partitions } of response.assignment.topicPartitions) {
          for (const partition of partitions)
            this.#target.set(`${topicId}:${partition}`, { topicId, partition })
        }
        this.#scheduleReconcile()
      }
      return true
    } catch (err) {
      this.#reported = null
      this.#heartbeatFailed(err)
      return false
    }
  }

  #heartbeatFailed(err: unknown): void {
    const { groupId, instanceId } = this.#o
    const description = describeKafkaError(err)
    switch (groupErrorAction(err)) {
      case 'rejoin':
        this.#o.log(
          'warn',
          `the coordinator of group '${groupId}' no longer knows this member; its partitions are lost and it joins again`,
          {
            error: description,
          },
        )
        this.#epoch = 0
        this.#target = null
        return
      case 'find-coordinator':
        this.#coordinator = null
        this.#trouble(`the coordinator of group '${groupId}' cannot be reached: ${description}`)
        if (!this.#joined && this.#clock.now() - this.#startedAt > this.#o.joinTimeoutMs) {
          this.#failJoin(unreachable(this.#o.brokers, `joining consumer group '${groupId}'`, err))
        }
        return
      case 'retry':
        this.#trouble(
          kafkaErrorIds(err).has('UNRELEASED_INSTANCE_ID')
            ? `another member still holds instance id '${instanceId}' in group '${groupId}' (a previous process of this node?); waiting until it leaves or its session times out`
            : `heartbeat to group '${groupId}' refused for now: ${description}`,
        )
        return
      case 'fatal': {
        const message = `the coordinator of group '${groupId}' refused this member: ${description}`
        this.#trouble(message)
        if (!this.#joined) {
          this.#failJoin(
            new BatonError(
              'SOURCE_UNAVAILABLE',
              `${message}. baton needs Kafka 4.0 or newer with the consumer group protocol (KIP-848) enabled ` +
                "(broker setting group.coordinator.rebalance.protocols must include 'consumer').",
              { cause: err },
            ),
          )
        }
        return
      }
    }
  }

  #failJoin(err: Error): void {
    this.#stopping = true
    this.#joinWaiter?.reject(err)
    this.#joinWaiter = null
  }

  #trouble(message: string): void {
    if (this.#problem?.message !== message) this.#o.log('warn', message, { memberId: this.memberId })
    this.#problem = { message, since: this.#problem?.since ?? this.#clock.now() }
  }

  #recovered(): void {
    if (!this.#problem) return
    this.#o.log('info', `heartbeats to group '${this.#o.groupId}' work again`, {
      downMs: this.#clock.now() - this.#problem.since,
    })
    this.#problem = null
  }

  async #coordinatorConnection(): Promise<Connection> {
    const pool = this.#o.client.connections
    if (!this.#coordinator) {
      const known = [...(this.#o.client.currentMetadata?.brokers.values() ?? [])]
      const connection = await pool.getFirstAvailable([...known, ...this.#bootstrap])
      const response = await findCoordinatorV6.api.async(connection, FindCoordinatorKeyTypes.GROUP, [
        this.#o.groupId,
      ])
      const found = response.coordinators[0]
      if (!found) throw new Error(`no coordinator named for group '${this.#o.groupId}'`)
      this.#coordinator = { host: found.host, port: found.port }
    }
    return pool.get(this.#coordinator)
  }

  #ownedByTopic(): { topicId: string; partitions: number[] }[] {
    const byTopic = new Map<string, number[]>()
    for (const { topicId, partition } of this.#owned.values()) {
      const partitions = byTopic.get(topicId)
      if (partitions) partitions.push(partition)
      else byTopic.set(topicId, [partition])
    }
    return [...byTopic].map(([topicId, partitions]) => ({ topicId, partitions }))
  }

  /** Runs listener work one piece at a time, in order. */
  #enqueue(work: () => Promise<void>): Promise<void> {
    const run = this.#ops.then(work)
    this.#ops = run.catch(() => {})
    return run
  }

  #scheduleReconcile(): void {
    if (this.#reconcileQueued) return
    this.#reconcileQueued = true
    void this.#enqueue(async () => {
      this.#reconcileQueued = false
      try {
        await this.#reconcile()
      } catch (err) {
        // Not expected (the listener's errors are caught where it is called): try again shortly.
        this.#o.log('error', 'reconciling the assignment failed; retrying', {
          error: describeKafkaError(err),
        })
        this.#clock.schedule(1_000, () => this.#scheduleReconcile())
      }
    })
  }

  async #reconcile(): Promise<void> {
    const target = this.#target
    if (!target || this.#leaving || this.#epoch === 0) return
    const revoked = [...this.#owned].filter(([key]) => !target.has(key))
    if (revoked.length > 0) {
      await this.#notify(
        'onRevoked',
        revoked.map(([, partition]) => partition),
      )
      for (const [key] of revoked) this.#owned.delete(key)
      this.#ownedVersion++
      // Report the release at once: the coordinator hands these partitions on only after it hears of it.
      this.#wakeup.notify()
    }
    // A newer target (already queued for its own round) or a lost membership makes the rest moot.
    if (this.#target !== target || this.#leaving || this.#epoch === 0) return
    const added = [...target].filter(([key]) => !this.#owned.has(key)).map(([, tp]) => tp)
    if (added.length === 0) return
    const names = await this.#topicNames(new Set(added.map((tp) => tp.topicId)))
    const partitions: AssignedPartition[] = []
    for (const { topicId, partition } of added) {
      const topic = names.get(topicId)
      if (topic) partitions.push({ topic, partition, topicId })
    }
    if (partitions.length > 0) {
      await this.#assign(partitions)
      // Owned even when the assignment failed: the owner leaves the group then, and leaving revokes them.
      for (const partition of partitions)
        this.#owned.set(`${partition.topicId}:${partition.partition}`, partition)
      this.#ownedVersion++
      this.#wakeup.notify()
    }
    // A topic id the metadata does not know yet (a topic just created): try again shortly.
    if (partitions.length < added.length) this.#clock.schedule(1_000, () => this.#scheduleReconcile())
  }

  async #loseAll(): Promise<void> {
    const lost = [...this.#owned.values()]
    this.#owned.clear()
    this.#ownedVersion++
    if (lost.length > 0) await this.#notify('onLost', lost)
  }

  /**
   * Hands `partitions` to `onAssigned` until it succeeds, `assignmentAttempts` times at most; an assignment
   * is never taken as carried out when it was not. While it retries, and once it gave up, the status names
   * the cause (readiness shows it); giving up tells the owner, which leaves the group.
   */
  async #assign(partitions: AssignedPartition[]): Promise<void> {
    const { groupId } = this.#o
    const what = `the assignment of ${partitions.length} partition(s) of group '${groupId}'`
    const since = this.#clock.now()
    const outcome = await attempt(() => this.#o.listener.onAssigned(partitions), assignmentAttempts, {
      clock: this.#clock,
      abandoned: () => this.#leaving !== null || this.#epoch === 0 || this.#stopping,
      onFailure: (err, n, retryInMs) => {
        const message =
          `${what} failed (attempt ${n} of ${assignmentAttempts.attempts}): ${errorMessage(err)}` +
          (retryInMs === null ? '' : `; retrying in ${retryInMs} ms`)
        this.#assignmentProblem = { message, since }
        this.#o.log('error', message, { partitions: partitions.length, error: describeKafkaError(err) })
      },
    })
    if (outcome.ok || outcome.abandoned) {
      this.#assignmentProblem = null
      return
    }
    const error = new BatonError(
      'ASSIGNMENT_FAILED',
      `This node could not start ${what} after ${outcome.attempts} attempts (last: ${errorMessage(outcome.error)}). ` +
        'It leaves the group so that other nodes take its partitions, and exits non-zero to be restarted; ' +
        'see docs/runbooks/BatonNodeNotReady.md.',
      { cause: outcome.error },
    )
    this.#assignmentProblem = { message: error.message, since }
    this.#o.log('error', error.message, { code: error.code })
    this.#o.listener.onAssignmentFailed(error)
  }

  async #notify(kind: 'onRevoked' | 'onLost', partitions: AssignedPartition[]): Promise<void> {
    try {
      await this.#o.listener[kind](partitions)
    } catch (err) {
      this.#o.log('error', `${kind} failed; the partitions are taken as gone`, {
        partitions: partitions.map(tpString),
        error: describeKafkaError(err),
      })
    }
  }

  async #topicNames(ids: Set<string>): Promise<Map<string, string>> {
    const names = new Map<string, string>()
    const collect = (metadata: ClusterMetadata) => {
      for (const [name, topic] of metadata.topics) if (topic && ids.has(topic.id)) names.set(topic.id, name)
    }
    const { client, topics } = this.#o
    try {
      collect(await client.metadata({ topics: [...topics], forceUpdate: true }))
    } catch {
      // One missing topic fails the whole request: ask topic by topic.
      for (const topic of topics) {
        try {
          collect(await client.metadata({ topics: [topic], forceUpdate: true }))
        } catch {}
      }
    }
    return names
  }

  async #leave(temporary: boolean): Promise<void> {
    const { groupId, instanceId } = this.#o
    // Give everything back while still a member, so the last commits of a graceful drain are accepted.
    await this.#enqueue(async () => {
      if (this.#epoch === 0) return this.#loseAll()
      const all = [...this.#owned.values()]
      if (all.length > 0) await this.#notify('onRevoked', all)
      this.#owned.clear()
      this.#ownedVersion++
    })
    this.#stopping = true
    this.#wakeup.notify()
    await this.#loop
    this.#joinWaiter?.reject(
      new BatonError('SOURCE_UNAVAILABLE', `left group '${groupId}' before joining it`),
    )
    this.#joinWaiter = null
    if (this.#epoch > 0) {
      // -2 keeps a static member's assignment for its return; -1 gives it to the others now.
      const epoch = temporary && instanceId ? -2 : -1
      try {
        const connection = await this.#coordinatorConnection()
        await consumerGroupHeartbeatV1.api.async(
          connection,
          groupId,
          this.memberId,
          epoch,
          instanceId,
          null,
          -1,
          null,
          null,
          null,
          null,
        )
      } catch (err) {
        this.#o.log(
          'warn',
          `leaving group '${groupId}' failed; the coordinator drops this member after its session timeout`,
          {
            error: describeKafkaError(err),
          },
        )
      }
    }
    this.#left = true
  }
}
