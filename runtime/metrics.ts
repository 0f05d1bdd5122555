import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { PartitionObserver } from '../actors/partition/observer.ts'
import type { TopicPartition } from '../actors/ports.ts'
import { PartitionSeries, registerPartitionFamilies } from './partition-series.ts'

/**
 * What the node reports besides the partition actors' own observations. The coordinator and the node
 * call these; their tests pass fakes. Like PartitionObserver, implementations are cheap and never throw.
 */
export interface NodeMetrics {
  /** The consumer group moved partitions (one call per assignment change this node saw). */
  rebalance(): void
  /** A sink transaction started with `batches` partitions' batches in it (PostgreSQL: commit-group.ts). */
  sinkTransaction(batches: number): void
  /** The supervisor restarted the partition's actor. */
  restart(key: TopicPartition): void
  /** How many partitions of `topic` this node owns now. */
  ownedPartitions(topic: string, count: number): void
  /**
   * Drops the partition's gauges (lag, mailbox depth), which would otherwise show a partition this node
   * no longer runs. Counters and histograms stay: their label sets are bounded by the partitions of the
   * served topics, and dropping them would lose what happened around a revoke (a zombie's fenced commits
   * are counted exactly then) and break `rate()`. Call it after the partition's actor stopped for good.
   */
  forget(key: TopicPartition): void
  /**
   * Where `baton_ready` and the `baton_cluster_*` gauges come from. Both are read at every scrape, so the
   * gauges say what `/readyz` and `GET /v1/cluster` would say at that moment. Call once, when the node's
   * readiness and cluster view exist. `cluster` may reject (the registry does not answer): its gauges are
   * then left out of that scrape rather than showing stale counts.
   */
  watchNode(sources: { ready(): boolean; cluster(): Promise<OwnershipView> }): void
}

/** An owned partition's gauges at a scrape. */
export interface PartitionReading {
  readonly tp: TopicPartition
  /** Events between the committed watermark and the end, and the age of the last committed event while
   * it lags (0 caught up); null while unknown (no actor state yet): the gauges keep their last value. */
  readonly lag: { readonly events: number; readonly seconds: number } | null
  /** Messages queued in the actor's mailbox; undefined while it has no actor. */
  readonly mailboxDepth: number | undefined
}

/** What the cluster gauges count, per topic: a part of `GET /v1/cluster`'s answer (ClusterView). */
export interface OwnershipView {
  /** One row per partition of each served topic. */
  readonly partitions: readonly { readonly topic: string }[]
  readonly unowned: readonly { readonly topic: string }[]
  readonly claimedTwice: readonly { readonly topic: string }[]
}

/** The node's metrics: the partition observer, the node hooks, and the registry `/metrics` serves. */
export interface Metrics extends PartitionObserver, NodeMetrics {
  /** This node's own registry, never prom-client's global one, so tests and nodes in one process don't mix. */
  readonly registry: Registry
  /** The Prometheus text exposition, for `GET /metrics`. */
  render(): Promise<{ contentType: string; body: string }>
  /**
   * Where `baton_consumer_lag_events`, `baton_consumer_lag_seconds` and `baton_mailbox_depth` come from:
   * read at every scrape, so an idle or stuck actor shows its lag and its queue as they are then, and a
   * node owning thousands of partitions spends nothing on them between scrapes. Call once.
   */
  watchPartitions(read: () => Iterable<PartitionReading>): void
  /**
   * Adds `baton_fetch_buffer_bytes` and `baton_fetch_buffer_limit_bytes`, read from `read` at each scrape
   * (cluster mode: the Kafka source's fetch budget). Call once.
   */
  watchFetchBuffer(read: () => { readonly heldBytes: number; readonly limitBytes: number }): void
}

// Bounds in the metric's unit. Batches are capped at BATON_BATCH_MAX_EVENTS (default 1000, at most 100k).
const BATCH_SIZE_BUCKETS = [1, 10, 50, 100, 250, 500, 1000, 2500, 10_000, 100_000]
// A commit is one sink transaction: about a millisecond on SQLite, seconds on an overloaded PostgreSQL.
const COMMIT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
// Event time to commit: at least the batch wait (100 ms by default), up to minutes when lagging. Fine
// between 50 and 500 ms, where the latency targets lie (p99 150 ms, p999 300 ms: README, Tail latency).
const LATENCY_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 10, 30, 60,
]
// Batches sharing one sink transaction: 1 under light load, up to commit-group.ts's 32.
const TRANSACTION_BATCHES_BUCKETS = [1, 2, 4, 8, 16, 32]
// One Redis SET (or SQLite upsert): sub-millisecond when healthy.
const CHECKPOINT_BUCKETS = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]

// prom-client's defaults name three gauges `*_total`, which promtool rejects (that suffix means counter);
// under Bun they always read 0 anyway. The three heap-space gauges call v8.getHeapSpaceStatistics(), which
// Bun answers by walking the whole heap: a scrape held the event loop 32 ms (p50, 51 max) during an
// 8-partition drain and 275 ms (441 max) at 4,096 partitions, every scrape. Bun has no V8 heap spaces to
// tell apart; nodejs_heap_size_{used,total}_bytes (process.memoryUsage) stay, at a few microseconds.
const DROPPED_DEFAULTS = [
  'active_handles_total',
  'active_requests_total',
  'active_resources_total',
  'heap_space_size_total_bytes',
  'heap_space_size_used_bytes',
  'heap_space_size_available_bytes',
]

type Labels<T extends string> = Partial<Record<T, string | number>>

/**
 * Creates the node's metrics on a fresh registry, with prom-client's process metrics (prefixed `baton_`)
 * and `baton_build_info`. Pass the result as the partition actors' observer and to the coordinator.
 *
 * @example
 * const metrics = createMetrics({ nodeId: config.nodeId, version: pkg.version })
 * app.get('/metrics', async (c) => { const m = await metrics.render(); return c.body(m.body, 200, { 'content-type': m.contentType }) })
 */
export function createMetrics(options: {
  nodeId: string
  version: string
  /** The memory limit the node runs under (`memoryLimitBytes()`); null: none, and no series. */
  memoryLimitBytes?: number | null
}): Metrics {
  return new PromMetrics(options.nodeId, options.version, options.memoryLimitBytes ?? null)
}

class PromMetrics implements Metrics {
  readonly registry = new Registry()
  readonly #consumed: Counter<'topic'>
  readonly #corruptBatches: Counter<'topic'>
  readonly #rebalances: Counter
  readonly #transactionBatches: Histogram
  readonly #batchSize: Histogram<'topic'>
  readonly #commitDuration: Histogram<'topic'>
  readonly #latency: Histogram<'topic'>
  readonly #checkpointDuration: Histogram<'topic'>
  readonly #owned: Gauge<'topic'>
  #sources: Parameters<NodeMetrics['watchNode']>[0] | null = null
  #readPartitions: (() => Iterable<PartitionReading>) | null = null
  /**
   * topic -> partition -> series; nested maps so the hot path builds no key string. A partition stays
   * after `forget` (its counts do; see NodeMetrics.forget).
   */
  readonly #series = new Map<string, Map<number, PartitionSeries>>()

  constructor(nodeId: string, version: string, memoryLimitBytes: number | null) {
    const registers = [this.registry]
    const topicCounter = (name: string, help: string) =>
      new Counter({ name, help, labelNames: ['topic'], registers })
    // Per topic: a histogram costs 15 series per label set.
    const histogram = (name: string, help: string, buckets: number[]) =>
      new Histogram({ name, help, labelNames: ['topic'], buckets, registers })

    this.#consumed = topicCounter(
      'baton_events_consumed_total',
      'Events delivered by the source to partition actors.',
    )
    const partitions = () => this.#allSeries()
    registerPartitionFamilies(this.registry, partitions, 'counters')
    this.#corruptBatches = topicCounter(
      'baton_corrupt_record_batches_total',
      'Fetched record batches whose CRC-32C did not match: not used, fetched again (BATON_CHECK_CRCS).',
    )
    this.#rebalances = new Counter({
      name: 'baton_rebalances_total',
      help: 'Partition assignment changes seen by this node.',
      registers,
    })
    this.#transactionBatches = new Histogram({
      name: 'baton_sink_transaction_batches',
      help: "Partitions' batches per sink transaction: how well commits group when many partitions commit.",
      buckets: TRANSACTION_BATCHES_BUCKETS,
      registers,
    })
    this.#batchSize = histogram('baton_batch_size_events', 'Events per committed batch.', BATCH_SIZE_BUCKETS)
    this.#commitDuration = histogram(
      'baton_batch_commit_duration_seconds',
      "Time to run the pipeline and commit one batch's transaction.",
      COMMIT_BUCKETS,
    )
    this.#latency = histogram(
      'baton_end_to_end_latency_seconds',
      "Per committed batch: from its oldest event's time (producer timestamp) to the return of the batch's COMMIT, so the batch's worst event.",
      LATENCY_BUCKETS,
    )
    this.#checkpointDuration = histogram(
      'baton_checkpoint_duration_seconds',
      'Time to write one checkpoint after a commit, from the ask to the reply: up to 5 ms of gathering with the other partitions (one pipeline per node), then the round trip.',
      CHECKPOINT_BUCKETS,
    )
    registerPartitionFamilies(this.registry, partitions, 'gauges')
    this.#owned = new Gauge({
      name: 'baton_owned_partitions',
      help: 'Partitions this node owns, per topic.',
      labelNames: ['topic'],
      registers,
    })
    new Gauge({
      name: 'baton_build_info',
      help: 'Always 1; labels say which baton, node and Bun this is.',
      labelNames: ['version', 'node', 'bun'],
      registers,
    }).set({ version, node: nodeId, bun: Bun.version }, 1)

    if (memoryLimitBytes !== null) {
      new Gauge({
        name: 'baton_memory_limit_bytes',
        help: "The memory limit of the node's cgroup (its container's limit in Kubernetes).",
        registers,
      }).set(memoryLimitBytes)
    }
    this.#nodeGauges(registers)

    collectDefaultMetrics({ register: this.registry, prefix: 'baton_' })
    for (const name of DROPPED_DEFAULTS) this.registry.removeSingleMetric(`baton_nodejs_${name}`)
  }

  watchNode(sources: Parameters<NodeMetrics['watchNode']>[0]): void {
    this.#sources = sources
  }

  watchPartitions(read: () => Iterable<PartitionReading>): void {
    this.#readPartitions = read
  }

  watchFetchBuffer(read: () => { readonly heldBytes: number; readonly limitBytes: number }): void {
    const registers = [this.registry]
    new Gauge({
      name: 'baton_fetch_buffer_bytes',
      help: 'Fetched bytes whose records are not committed yet (in mailboxes and batches), all partitions together.',
      registers,
      collect() {
        this.set(read().heldBytes)
      },
    })
    new Gauge({
      name: 'baton_fetch_buffer_limit_bytes',
      help: 'The budget of fetched, untaken bytes (BATON_FETCH_BUFFER_BYTES).',
      registers,
      collect() {
        this.set(read().limitBytes)
      },
    })
  }

  /** `baton_ready` and the cluster gauges, computed at scrape time from what watchNode gave. */
  #nodeGauges(registers: Registry[]): void {
    const metrics = this
    new Gauge({
      name: 'baton_ready',
      help: '1 while GET /readyz answers 200, else 0.',
      registers,
      collect() {
        this.set(metrics.#sources?.ready() ? 1 : 0)
      },
    })
    // The three gauges are collected concurrently at a scrape; they share one registry read.
    let reading: Promise<OwnershipView | null> | null = null
    const view = () => {
      reading ??= (async () => {
        try {
          return (await metrics.#sources?.cluster()) ?? null
        } catch {
          return null
        }
      })().finally(() => {
        reading = null
      })
      return reading
    }
    const perTopic = (name: string, help: string, rows: (v: OwnershipView) => readonly { topic: string }[]) =>
      new Gauge({
        name,
        help,
        labelNames: ['topic'],
        registers,
        async collect() {
          const v = await view()
          this.reset()
          if (v === null) return
          // Every served topic gets a series, 0 included, so an alert sees "none" rather than "unknown".
          for (const { topic } of v.partitions) this.inc({ topic }, 0)
          for (const { topic } of rows(v)) this.inc({ topic })
        },
      })
    perTopic(
      'baton_cluster_partitions',
      'Partitions of each served topic, as this node sees them (the rows of GET /v1/cluster).',
      (v) => v.partitions,
    )
    perTopic(
      'baton_cluster_unowned_partitions',
      "Partitions no live node claims, in this node's view of the membership registry.",
      (v) => v.unowned,
    )
    perTopic(
      'baton_cluster_claimed_twice_partitions',
      "Partitions two or more live nodes claim, in this node's view of the membership registry.",
      (v) => v.claimedTwice,
    )
  }

  async render(): Promise<{ contentType: string; body: string }> {
    // Read once per scrape, before the registry: a partition first seen here (an idle one) gets its
    // series, its counters at 0 among them, in this very scrape. An unknown value keeps the last one.
    for (const { tp, lag, mailboxDepth } of this.#readPartitions?.() ?? []) {
      const s = this.#of(tp)
      if (lag !== null) {
        s.lagEvents = finite(lag.events, s.lagEvents)
        s.lagSeconds = finite(lag.seconds, s.lagSeconds)
      }
      if (mailboxDepth !== undefined) s.mailboxDepth = finite(mailboxDepth, s.mailboxDepth)
    }
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }

  consumed(key: TopicPartition, events: number): void {
    add(this.#consumed, this.#of(key).topicLabels, events)
  }

  committed(
    key: TopicPartition,
    c: { events: number; deadLetters: number; commitSeconds: number; oldestEventSeconds: number },
  ): void {
    const s = this.#of(key)
    if (countable(c.events)) s.stored += c.events
    if (countable(c.deadLetters)) s.deadLettered += c.deadLetters
    observe(this.#batchSize, s.topicLabels, c.events + c.deadLetters)
    observe(this.#commitDuration, s.topicLabels, c.commitSeconds)
    observe(this.#latency, s.topicLabels, c.oldestEventSeconds)
  }

  checkpointed(key: TopicPartition, seconds: number): void {
    observe(this.#checkpointDuration, this.#of(key).topicLabels, seconds)
  }

  fenced(key: TopicPartition): void {
    this.#of(key).fenced++
  }

  corruptBatch(key: TopicPartition): void {
    this.#corruptBatches.inc(this.#of(key).topicLabels)
  }

  quarantined(key: TopicPartition, keys: number, events: number): void {
    const s = this.#of(key)
    s.quarantinedKeys = finite(keys, s.quarantinedKeys)
    s.quarantinedEvents = finite(events, s.quarantinedEvents)
  }

  rebalance(): void {
    this.#rebalances.inc()
  }

  sinkTransaction(batches: number): void {
    this.#transactionBatches.observe(batches)
  }

  restart(key: TopicPartition): void {
    this.#of(key).restarts++
  }

  ownedPartitions(topic: string, count: number): void {
    this.#owned.set({ topic }, count)
  }

  forget(key: TopicPartition): void {
    this.#series.get(key.topic)?.get(key.partition)?.forgetGauges()
  }

  *#allSeries(): Iterable<PartitionSeries> {
    for (const partitions of this.#series.values()) yield* partitions.values()
  }

  #of(key: TopicPartition): PartitionSeries {
    let partitions = this.#series.get(key.topic)
    if (partitions === undefined) {
      partitions = new Map()
      this.#series.set(key.topic, partitions)
      // Counters start at 0 as soon as the topic is known, so rate() and increase() count the first
      // events too (a series that appears with value n hides those n).
      this.#consumed.inc({ topic: key.topic }, 0)
      this.#corruptBatches.inc({ topic: key.topic }, 0)
    }
    let s = partitions.get(key.partition)
    if (s === undefined) {
      // The topic's label set is shared: any partition's series has it.
      const topic = partitions.values().next().value?.topicLabels ?? { topic: key.topic }
      s = new PartitionSeries(key.topic, key.partition, topic)
      partitions.set(key.partition, s)
    }
    return s
  }
}

// prom-client throws on negative, NaN or infinite values; an observer must not throw, so such values are
// dropped here (and from the per-partition counts, which would otherwise render them). Adding 0 is
// skipped too: it changes nothing.
const countable = (n: number) => n > 0 && n < Number.POSITIVE_INFINITY

function add<T extends string>(counter: Counter<T>, labels: Labels<T>, n: number): void {
  if (countable(n)) counter.inc(labels, n)
}

/** `n` when it is a finite number (a gauge's value), else `last`. */
const finite = (n: number, last: number | undefined) => (Number.isFinite(n) ? n : last)

function observe(histogram: Histogram<'topic'>, labels: Labels<'topic'>, value: number): void {
  if (value >= 0 && value < Number.POSITIVE_INFINITY) histogram.observe(labels, value)
}
