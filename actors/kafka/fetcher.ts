import {
  type Broker,
  type ClusterMetadata,
  type ConnectionPool,
  type Consumer,
  ListOffsetTimestamps,
} from '@platformatic/kafka'
import { type Clock, realClock } from '../core/clock.ts'
import { tpString } from '../ports.ts'
import type { FetchBudget } from './fetch-budget.ts'
import { type FetchCandidate, FetchOrder, type FetchPlan, planFetch } from './fetch-plan.ts'
import { type FetchResponse, type FetchTuning, sendFetch } from './fetch-request.ts'
import { brokerRetries, type KafkaLog } from './kafka-client.ts'
import { describeKafkaError, kafkaErrorName, partitionFetchAction } from './kafka-errors.ts'
import type { FeedRequest, KafkaPartitionFeed } from './partition-feed.ts'
import { decodePartition } from './record-decoder.ts'
import { nextTurn, Wakeup } from './wakeup.ts'

/** The longest a fetch may wait at the broker while a partition with records left is being delivered. */
const BACKLOG_WAIT_MS = 20

/** A broker the fetcher cannot currently fetch from (or cannot find partitions' leaders on). */
export interface FetchOutage {
  readonly node: number | null
  readonly message: string
  readonly since: number
}

/**
 * Fetches the records of the partitions it is given: one loop per broker, each sending one fetch request
 * at a time for all partitions that broker leads and that are ready (started, not paused, no delivery
 * pending, room left in their share of the fetch budget), each at its own position. While one response's
 * records are being delivered, the loop already fetches for the partitions that took theirs.
 *
 * Memory: every request reserves its response's `maxBytes` from the node's `FetchBudget` and asks each
 * partition for no more than its room; when too little is free the loop waits for actors to take records.
 * Partitions are asked least recently served first (`FetchOrder`), so a short budget goes round them. Fetches carry no session (KIP-227): every request names its
 * partitions, so leaving a partition out is all it takes to stop fetching it.
 *
 * Broker failures never escape: a failed fetch is logged, shows in `outages()`, and is retried with
 * backoff after fresh metadata; a partition's own error (leader moved, offset out of range) is handled for
 * that partition alone.
 */
export class Fetcher {
  readonly #client: Consumer
  readonly #pool: ConnectionPool
  readonly #tuning: FetchTuning
  readonly #log: KafkaLog
  readonly #clock: Clock
  readonly #feeds = new Map<string, KafkaPartitionFeed>()
  readonly #order = new FetchOrder<KafkaPartitionFeed>()
  readonly #budget: FetchBudget
  readonly #loops = new Map<number, { wakeup: Wakeup; done: Promise<void> }>()
  readonly #outages = new Map<number | null, FetchOutage>()
  #brokers = new Map<number, Broker>()
  readonly #sleepers = new Set<() => void>()
  #routing: Promise<void> | null = null
  #routeAgain = false
  #forceMetadata = false
  #closed = false

  constructor(
    client: Consumer,
    pool: ConnectionPool,
    tuning: FetchTuning,
    log: KafkaLog,
    budget: FetchBudget,
    clock: Clock = realClock,
  ) {
    this.#client = client
    this.#budget = budget
    this.#clock = clock
    this.#pool = pool
    this.#tuning = tuning
    this.#log = log
  }

  add(feed: KafkaPartitionFeed): void {
    const previous = this.#feeds.get(tpString(feed.tp))
    if (previous) this.remove(previous)
    this.#feeds.set(tpString(feed.tp), feed)
    this.#order.add(feed)
    this.#budget.partitionAdded()
    this.#route()
  }

  remove(feed: KafkaPartitionFeed): void {
    if (this.#feeds.get(tpString(feed.tp)) !== feed) return
    this.#feeds.delete(tpString(feed.tp))
    this.#order.remove(feed)
    this.#budget.partitionRemoved()
  }

  /** Called by a feed whose state changed: its broker's loop looks at it again. */
  wake(feed: KafkaPartitionFeed): void {
    if (this.#closed) return
    if (feed.node === undefined) this.#route()
    else this.#loops.get(feed.node)?.wakeup.notify()
  }

  /** What is currently unreachable, oldest first; empty when fetching works. */
  outages(): FetchOutage[] {
    return [...this.#outages.values()].sort((a, b) => a.since - b.since)
  }

  async close(): Promise<void> {
    this.#closed = true
    for (const wakeSleeper of this.#sleepers) wakeSleeper()
    for (const loop of this.#loops.values()) loop.wakeup.notify()
    await Promise.all([...this.#loops.values()].map((loop) => loop.done))
    await this.#routing
  }

  /**
   * Finds the leader of every partition without one and hands each to its broker's loop (coalesced).
   * `refresh` asks the cluster again instead of trusting cached metadata (after a leader moved or died).
   */
  #route(refresh = false): void {
    if (this.#closed) return
    if (refresh) this.#forceMetadata = true
    if (this.#routing) {
      this.#routeAgain = true
      return
    }
    let failed = false
    this.#routing = this.#routeUntilDone()
      .catch((err) => {
        this.#log('error', 'finding partition leaders failed', { error: describeKafkaError(err) })
        failed = true
      })
      .finally(() => {
        this.#routing = null
        // A request that came in while the last round was finishing must not be lost; a failed round retries.
        if (failed) this.#clock.schedule(1_000, () => this.#route(true))
        else if (this.#routeAgain) this.#route()
      })
  }

  async #routeUntilDone(): Promise<void> {
    const backoff = brokerRetries(100, 5_000)
    do {
      this.#routeAgain = false
      const unrouted = [...this.#feeds.values()].filter((feed) => feed.node === undefined && !feed.stopped)
      if (unrouted.length === 0) return
      const topics = [...new Set(unrouted.map((feed) => feed.tp.topic))]
      const forceUpdate = this.#forceMetadata
      this.#forceMetadata = false
      let metadata: ClusterMetadata
      try {
        metadata = await this.#client.metadata({ topics, forceUpdate })
      } catch (err) {
        this.#outage(null, `cannot read partition leaders: ${describeKafkaError(err)}`)
        await this.#sleep(backoff.next())
        this.#forceMetadata = true
        this.#routeAgain = true
        continue
      }
      this.#recovered(null)
      this.#brokers = new Map([...metadata.brokers].map(([id, b]) => [id, { host: b.host, port: b.port }]))
      let leaderless = false
      for (const feed of unrouted) {
        const topic = metadata.topics.get(feed.tp.topic)
        const leader = topic?.partitions[feed.tp.partition]?.leader ?? -1
        if (!topic || leader < 0 || !this.#brokers.has(leader)) {
          leaderless = true
          continue
        }
        feed.topicId = topic.id
        feed.node = leader
        this.#loop(leader).wakeup.notify()
      }
      if (leaderless) {
        // A partition without a leader (election under way, topic being created): ask again shortly.
        await this.#sleep(backoff.next())
        this.#forceMetadata = true
        this.#routeAgain = true
      }
    } while (this.#routeAgain && !this.#closed)
  }

  #loop(node: number): { wakeup: Wakeup; done: Promise<void> } {
    let loop = this.#loops.get(node)
    if (!loop) {
      const wakeup = new Wakeup(this.#clock)
      const done = this.#fetchLoop(node, wakeup).catch((err) => {
        // A bug, not a broker problem: let the next routing start a fresh loop for this broker.
        this.#log('error', `the fetch loop of broker ${node} failed`, { error: describeKafkaError(err) })
        this.#loops.delete(node)
        for (const feed of this.#feeds.values()) if (feed.node === node) feed.node = undefined
        this.#route(true)
      })
      loop = { wakeup, done }
      this.#loops.set(node, loop)
    }
    return loop
  }

  async #fetchLoop(node: number, wakeup: Wakeup): Promise<void> {
    const backoff = brokerRetries(100, 5_000)
    const minFetch = this.#budget.minFetch(this.#tuning.partitionMaxBytes)
    let waitingForBytes = false
    // The last response filled half its bytes or more: the broker holds more than a response carries.
    let behind = false
    const bytesFreed = () => {
      waitingForBytes = false
      wakeup.notify()
    }
    while (!this.#closed) {
      const now = this.#clock.now()
      const share = this.#budget.share()
      const candidates: FetchCandidate<FeedRequest>[] = []
      let nextRetry = Number.POSITIVE_INFINITY
      let led = 0
      let backlogged = false
      let waitsForBytes = false
      // Without the bytes for a fetch, the walk only needs to know who waits for them (a third to half of
      // the passes of a drain at 4,096 partitions): no request is made for a fetch that cannot be sent.
      const canFetch = this.#budget.free >= minFetch
      for (const feed of this.#order) {
        if (feed.node !== node) continue
        led++
        backlogged ||= feed.backlogged
        const at = feed.readyAt(now)
        if (at !== 0) {
          nextRetry = Math.min(nextRetry, at)
          continue
        }
        const room = share - feed.heldBytes
        if (room > 0 && canFetch) candidates.push({ request: feed.request(), room })
        else waitsForBytes = true
      }
      // A broker that leads none of our partitions any more is nobody's outage.
      if (led === 0) this.#outages.delete(node)
      // Each broker's loop may reserve its part of the budget at most, so one long-polling a broker
      // whose partitions are caught up does not keep the others waiting for bytes.
      const loopShare = Math.max(minFetch, Math.floor(this.#budget.limit / Math.max(1, this.#loops.size)))
      const plan: FetchPlan<FeedRequest> | null =
        candidates.length === 0
          ? null
          : planFetch(candidates, {
              free: this.#budget.free,
              minFetch,
              maxBytes: Math.min(this.#tuning.maxBytes, loopShare),
              partitionMaxBytes: this.#tuning.partitionMaxBytes,
              behind,
            })
      if (plan === null) {
        // Out of budget (the node's, or a ready partition's own share): an actor taking records frees it.
        if ((waitsForBytes || candidates.length > 0) && !waitingForBytes) {
          waitingForBytes = true
          this.#budget.whenFree(bytesFreed)
        }
        await wakeup.wait(Number.isFinite(nextRetry) ? nextRetry - now : undefined)
        continue
      }
      // A long poll on caught-up partitions would keep a backlogged one (whose delivery is about to
      // settle) out of the next request for the whole wait.
      const maxWaitMs = backlogged
        ? Math.min(this.#tuning.maxWaitMs, BACKLOG_WAIT_MS)
        : this.#tuning.maxWaitMs
      const reserved = this.#budget.reserve(plan.maxBytes)
      const requests: FeedRequest[] = plan.partitions.map((p) => p.request)
      try {
        const response = await this.#fetch(node, plan, reserved, maxWaitMs)
        backoff.reset()
        this.#recovered(node)
        behind = this.#take(response, requests) * 2 >= plan.maxBytes
      } catch (err) {
        if (this.#closed) return
        const message = `fetching from broker ${node} failed: ${describeKafkaError(err)}`
        this.#outage(node, message)
        // The broker may be gone for good: find the partitions' leaders again, wherever they are now.
        for (const request of requests) request.feed.node = undefined
        this.#route(true)
        await this.#sleep(backoff.next())
        continue
      } finally {
        // What came back is held by its chunks now (see #take); the rest of the reservation is free again.
        this.#budget.unreserve(reserved)
      }
      // Deliveries that settle at once (room in the mailbox) make their partitions ready for the next request.
      await nextTurn()
    }
  }

  #fetch(
    node: number,
    plan: FetchPlan<FeedRequest>,
    maxBytes: number,
    maxWaitMs: number,
  ): Promise<FetchResponse> {
    const broker = this.#brokers.get(node)
    if (!broker) return Promise.reject(new Error(`broker ${node} is not in the cluster metadata`))
    const partitions = plan.partitions.map(({ request: { feed, offset }, maxBytes }) => ({
      topicId: feed.topicId as string,
      partition: feed.tp.partition,
      offset,
      maxBytes,
    }))
    return sendFetch(this.#pool, broker, partitions, { ...this.#tuning, maxBytes, maxWaitMs })
  }

  /** Hands each partition its records; returns the bytes of records the response carried. */
  #take(response: FetchResponse, requests: readonly FeedRequest[]): number {
    // Brokers answer in the order asked: each partition is matched with the next request, and a map of
    // all requests is built only if one is not (at 4,096 partitions a map per response was 1 ms of it).
    let next = 0
    let byTopic: Map<string | undefined, Map<number, FeedRequest>> | null = null
    const requestFor = (topicId: string, partition: number): FeedRequest | undefined => {
      const expected = requests[next]
      if (expected?.feed.topicId === topicId && expected.feed.tp.partition === partition) {
        next++
        return expected
      }
      byTopic ??= byTopicAndPartition(requests)
      return byTopic.get(topicId)?.get(partition)
    }
    const served: KafkaPartitionFeed[] = []
    let bytes = 0
    for (const topic of response.responses) {
      for (const part of topic.partitions) {
        const request = requestFor(topic.topicId, part.partitionIndex)
        if (!request?.feed.isCurrent(request.generation)) continue
        if (part.errorCode !== 0) {
          this.#partitionFailed(request, part.errorCode)
          continue
        }
        const { feed, generation, offset } = request
        const aborted = this.#tuning.readCommitted ? part.abortedTransactions : null
        const decoded = decodePartition(
          feed.tp.topic,
          feed.tp.partition,
          part.records ?? null,
          offset,
          aborted,
          { checkCrcs: this.#tuning.checkCrcs, wholeBatchDue: request === requests[0] },
        )
        bytes += part.records?.length ?? 0
        feed.accept(generation, decoded, Number(part.highWatermark), part.records?.length ?? 0)
        if (decoded.records.length > 0) served.push(feed)
      }
    }
    this.#order.served(served)
    return bytes
  }

  #partitionFailed(request: FeedRequest, code: number): void {
    const { feed, generation } = request
    const name = kafkaErrorName(code)
    switch (partitionFetchAction(code)) {
      case 'reset-to-earliest':
        void this.#resetToEarliest(request)
        return
      case 'find-leader':
        feed.backOff(generation, 100, `${name} from broker ${feed.node}; looking up the leader`)
        feed.node = undefined
        this.#route(true)
        return
      case 'back-off':
        if (feed.problem === null) {
          this.#log('warn', `fetching ${tpString(feed.tp)} failed with ${name}; retrying`, {
            offset: request.offset,
          })
        }
        feed.backOff(generation, 2_000, `${name} fetching offset ${request.offset}`)
        return
    }
  }

  async #resetToEarliest(request: FeedRequest): Promise<void> {
    const { feed, generation, offset } = request
    if (!feed.beginReset(generation)) return
    const { topic, partition } = feed.tp
    try {
      const offsets = await this.#client.listOffsets({
        topics: [topic],
        partitions: { [topic]: [partition] },
        timestamp: ListOffsetTimestamps.EARLIEST,
      })
      const earliest = Number(offsets.get(topic)?.[partition] ?? 0n)
      this.#log(
        'warn',
        `offset ${offset} of ${tpString(feed.tp)} is out of range; continuing from the earliest, ${earliest}`,
        {
          topic,
          partition,
          from: offset,
          to: earliest,
        },
      )
      feed.endReset(generation, earliest, null)
    } catch (err) {
      feed.endReset(
        generation,
        null,
        `offset ${offset} out of range and the earliest offset is unknown: ${describeKafkaError(err)}`,
      )
    }
  }

  /** Waits `ms`, or less when the fetcher closes. */
  #sleep(ms: number): Promise<void> {
    if (this.#closed) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        timer.cancel()
        this.#sleepers.delete(done)
        resolve()
      }
      const timer = this.#clock.schedule(ms, done)
      this.#sleepers.add(done)
    })
  }

  #outage(node: number | null, message: string): void {
    const previous = this.#outages.get(node)
    if (previous?.message !== message) this.#log('warn', message, { node })
    this.#outages.set(node, { node, message, since: previous?.since ?? this.#clock.now() })
  }

  #recovered(node: number | null): void {
    const previous = this.#outages.get(node)
    if (!previous) return
    this.#outages.delete(node)
    this.#log(
      'info',
      node === null ? 'partition leaders found again' : `fetching from broker ${node} works again`,
      {
        node,
        downMs: this.#clock.now() - previous.since,
      },
    )
  }
}

function byTopicAndPartition(
  requests: readonly FeedRequest[],
): Map<string | undefined, Map<number, FeedRequest>> {
  const byTopic = new Map<string | undefined, Map<number, FeedRequest>>()
  for (const request of requests) {
    let byPartition = byTopic.get(request.feed.topicId)
    if (!byPartition) {
      byPartition = new Map()
      byTopic.set(request.feed.topicId, byPartition)
    }
    byPartition.set(request.feed.tp.partition, request)
  }
  return byTopic
}
