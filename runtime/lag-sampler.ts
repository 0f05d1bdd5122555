import { type Cancellable, type Clock, realClock } from '../actors/core/clock.ts'
import type { PartitionStatus } from '../actors/partition/stats.ts'
import type { TopicPartition } from '../actors/ports.ts'

/** The gauges the sampler sets; the node's Metrics are one. */
export interface SampledMetrics {
  lag(tp: TopicPartition, events: number, seconds: number): void
  mailboxDepth(tp: TopicPartition, depth: number): void
}

export interface LagSamplerOptions {
  /** The partitions whose actors run on this node now; read at the start of every round. */
  readonly partitions: () => Iterable<TopicPartition>
  /** The partition's current state (the node reads what its actor publishes); rejects when there is none. */
  readonly status: (tp: TopicPartition) => Promise<Pick<PartitionStatus, 'lag' | 'lagSeconds'>>
  /** Messages queued in the partition's mailbox now, read without asking the actor; undefined: no actor. */
  readonly mailboxDepth: (tp: TopicPartition) => number | undefined
  /**
   * Whether the node still owns the partition, checked after its state arrived: a partition revoked
   * meanwhile has had its series dropped (`forget`), and setting a gauge would bring them back.
   */
  readonly owns: (tp: TopicPartition) => boolean
  readonly metrics: SampledMetrics
  /** Default 5 s: a fraction of a Prometheus scrape interval (15-30 s), so every scrape sees fresh values. */
  readonly intervalMs?: number
  readonly clock?: Clock
}

export interface LagSampler {
  /** One round now: every owned partition's lag and mailbox depth. Rounds never overlap. */
  sample(): Promise<void>
  /** No more rounds; resolves when the one running (if any) is done. */
  stop(): Promise<void>
}

/**
 * Keeps `baton_consumer_lag_events`, `baton_consumer_lag_seconds` and `baton_mailbox_depth` current.
 * A partition's lag is only computed when its state is read (the source's end offset moves without the
 * actor), and the actor reports its mailbox depth only after handling records, so an idle or blocked
 * actor would leave both gauges at a stale value. Every `intervalMs` this reads each owned partition's
 * state, starting the next round only after the previous one finished, so a slow `status` delays
 * rounds instead of piling them up. A partition without a state keeps its last lag; its mailbox depth
 * is still set, which is what shows an actor that is stuck.
 *
 * @example
 * const sampler = startLagSampler({ partitions, status, mailboxDepth, owns, metrics })
 * await sampler.stop() // before draining, so no round races the partitions' shutdown
 */
export function startLagSampler(options: LagSamplerOptions): LagSampler {
  const clock = options.clock ?? realClock
  const intervalMs = options.intervalMs ?? 5_000
  let timer: Cancellable | null = null
  let running: Promise<void> | null = null
  let stopped = false

  async function round(): Promise<void> {
    await Promise.all(
      [...options.partitions()].map(async (tp) => {
        const depth = options.mailboxDepth(tp)
        if (depth !== undefined) options.metrics.mailboxDepth(tp, depth)
        let status: Pick<PartitionStatus, 'lag' | 'lagSeconds'>
        try {
          status = await options.status(tp)
        } catch {
          return
        }
        if (status.lag === null || !options.owns(tp)) return
        options.metrics.lag(tp, status.lag, status.lagSeconds ?? 0)
      }),
    )
  }

  function sample(): Promise<void> {
    running ??= round().finally(() => {
      running = null
    })
    return running
  }

  function schedule(): void {
    if (stopped) return
    timer = clock.schedule(intervalMs, () => {
      void sample().then(schedule)
    })
  }

  schedule()
  return {
    sample,
    async stop() {
      stopped = true
      timer?.cancel()
      await running
    },
  }
}
