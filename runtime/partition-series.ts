import type { Registry } from 'prom-client'

/**
 * One partition's counts and gauge values, as plain numbers. The per-partition families below read them
 * only while a scrape renders: prom-client keeps, for each labelled series, a label object, a hash string
 * and a value object for as long as the process runs, and hashes the labels on every count; ten series per
 * partition made the live heap of a node owning 4,096 partitions larger, and every full collection longer.
 * Alternate runs of `bench scale` (8 and 4,096 partitions, 3 rounds each, three times): at 4,096 partitions
 * 3.54-3.84 → 3.02-3.33 CPU s per million events and 168-172 → 154-160 MB of RSS after the drain; at 8
 * partitions no change (2.53-2.68 and 2.48-2.68 s).
 */
export class PartitionSeries {
  stored = 0
  deadLettered = 0
  restarts = 0
  fenced = 0
  /** Gauges: undefined while unknown or after the partition was forgotten, and then not rendered. */
  lagEvents: number | undefined
  lagSeconds: number | undefined
  mailboxDepth: number | undefined
  quarantinedKeys: number | undefined
  quarantinedEvents: number | undefined

  constructor(
    readonly topic: string,
    readonly partition: number,
    /** `{ topic }` for the per-topic metrics, shared by the topic's partitions. */
    readonly topicLabels: { readonly topic: string },
  ) {}

  /** Revoked: its gauges go; its counts stay, so that `rate()` sees no reset if it comes back. */
  forgetGauges(): void {
    this.lagEvents = undefined
    this.lagSeconds = undefined
    this.mailboxDepth = undefined
    this.quarantinedKeys = undefined
    this.quarantinedEvents = undefined
  }
}

/** A sample as prom-client's registry renders it. */
interface Sample {
  readonly labels: Record<string, string>
  readonly value: number
}

/** The families of the metrics contract that have a series per partition, in the order they are listed. */
const FAMILIES: readonly {
  readonly name: string
  readonly help: string
  readonly type: 'counter' | 'gauge'
  /** The series' values; one per `outcome` for a family with that label. */
  readonly value: (s: PartitionSeries) => number | undefined | { readonly [outcome: string]: number }
}[] = [
  {
    name: 'baton_events_processed_total',
    help: 'Events committed to the sink, by outcome: stored (the pipeline handled it) or dead_lettered.',
    type: 'counter',
    value: (s) => ({ stored: s.stored, dead_lettered: s.deadLettered }),
  },
  {
    name: 'baton_events_dead_lettered_total',
    help: 'Events that failed processing for good.',
    type: 'counter',
    value: (s) => s.deadLettered,
  },
  {
    name: 'baton_actor_restarts_total',
    help: 'Restarts of partition actors by their supervisor.',
    type: 'counter',
    value: (s) => s.restarts,
  },
  {
    name: 'baton_fenced_commits_total',
    help: 'Commits refused because a newer epoch owns the partition (this actor was a zombie).',
    type: 'counter',
    value: (s) => s.fenced,
  },
  {
    name: 'baton_consumer_lag_events',
    help: 'Events between the committed watermark and the end.',
    type: 'gauge',
    value: (s) => s.lagEvents,
  },
  {
    name: 'baton_consumer_lag_seconds',
    help: 'Age of the last committed event while the partition lags; 0 when caught up.',
    type: 'gauge',
    value: (s) => s.lagSeconds,
  },
  {
    name: 'baton_mailbox_depth',
    help: "Messages waiting in the partition actor's mailbox.",
    type: 'gauge',
    value: (s) => s.mailboxDepth,
  },
  {
    name: 'baton_quarantined_keys',
    help: 'Keys held back by a dead letter in the partition (onPoison quarantine-key).',
    type: 'gauge',
    value: (s) => s.quarantinedKeys,
  },
  {
    name: 'baton_quarantined_events',
    help: 'Events held back behind quarantined keys: not lag, but waiting for a retry or skip.',
    type: 'gauge',
    value: (s) => s.quarantinedEvents,
  },
]

/**
 * Registers the per-partition counters, or gauges, on `registry`, reading `all` at each scrape. The node
 * registers each kind where the prom-client metrics they replaced were, so the exposition keeps its order.
 */
export function registerPartitionFamilies(
  registry: Registry,
  all: () => Iterable<PartitionSeries>,
  only: 'counters' | 'gauges',
): void {
  const type = only === 'counters' ? 'counter' : 'gauge'
  for (const family of FAMILIES) {
    if (family.type !== type) continue
    registry.registerMetric({
      name: family.name,
      help: family.help,
      type: family.type,
      aggregator: 'sum',
      get: () => ({
        name: family.name,
        help: family.help,
        type: family.type,
        aggregator: 'sum',
        values: samples(family.value, all()),
      }),
      // Registry.resetMetrics() calls it: the counts are the partitions', not the registry's to reset.
      reset() {},
    } as unknown as Parameters<Registry['registerMetric']>[0])
  }
}

function samples(value: (typeof FAMILIES)[number]['value'], all: Iterable<PartitionSeries>): Sample[] {
  const out: Sample[] = []
  for (const s of all) {
    const v = value(s)
    if (v === undefined) continue
    const partition = String(s.partition)
    if (typeof v === 'number') {
      out.push({ labels: { topic: s.topic, partition }, value: v })
      continue
    }
    for (const [outcome, n] of Object.entries(v))
      out.push({ labels: { topic: s.topic, partition, outcome }, value: n })
  }
  return out
}
