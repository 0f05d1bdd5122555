import { backoff } from '../actors/core/backoff.ts'
import { BatonError, errorMessage, isBatonError } from '../actors/core/errors.ts'
import type { SupervisorSpec } from '../actors/core/supervision.ts'
import type { ActorContext, Behavior, Termination } from '../actors/core/types.ts'
import type { PartitionActorDeps, PartitionMsg } from '../actors/partition/partition-actor.ts'
import { partitionActor } from '../actors/partition/partition-actor.ts'
import { PartitionStats } from '../actors/partition/stats.ts'
import { type TopicPartition, tpString } from '../actors/ports.ts'

/** The closed protocol of the coordinator. Replies are how callers (the source, the HTTP API) wait. */
export type CoordinatorMsg =
  | {
      readonly type: 'assign'
      readonly partitions: readonly TopicPartition[]
      /** null once every partition has an actor; the error when a topic supervisor did not confirm. */
      readonly reply: (failure: Error | null) => void
    }
  | { readonly type: 'revoke'; readonly partitions: readonly TopicPartition[]; readonly reply: () => void }
  | { readonly type: 'restart'; readonly tp: TopicPartition; readonly reply: (ok: boolean) => void }

/** A partition this node was assigned, with the history that outlives its actor's restarts. */
export interface OwnedPartition {
  readonly tp: TopicPartition
  readonly stats: PartitionStats
  /** Why its actor is not running, when it ended for good: only a fenced actor does. */
  ended: { reason: string; error: string } | null
}

export interface CoordinatorOptions {
  /** Builds a partition actor's dependencies each time the partition's actor (re)starts on this node. */
  readonly partitionDeps: (tp: TopicPartition, stats: PartitionStats) => PartitionActorDeps<unknown>
  /** How long a revoked partition may take to commit its in-flight batch before it is stopped anyway. */
  readonly drainTimeoutMs: number
  readonly mailboxCapacity: number
  /** Called after every change of the set of partitions this node runs. */
  readonly onOwnedChanged?: (owned: ReadonlyMap<string, OwnedPartition>) => void
  /** Called when a partition's actor restarts (for metrics). */
  readonly onRestart?: (tp: TopicPartition) => void
  readonly log?: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void
}

/**
 * The supervision tree of a node, from the bottom up. Nothing in it gives up on a transient cause: a
 * partition actor whose sink, checkpoint store or source stays down is restarted for as long as the node
 * owns the partition, however long the outage, so that the node flows again by itself once the service is
 * back. Only a FENCED actor ends for good: a newer epoch owns the partition, and taking it back would only
 * fence that owner in turn.
 *
 * Partition actors (children of a topic supervisor): restarted with a new epoch after a capped, jittered
 * exponential backoff, which also spaces out the retries of thousands of partitions against a recovering
 * database; the backoff starts over once an actor ran for 30 s. No restart limit (`intensity: Infinity`):
 * the backoff bounds the rate instead, and a partition that keeps failing shows in
 * `baton_actor_restarts_total`, its `restarts` and `lastError` in GET /v1/actors/:topic/:partition, and
 * an `actor event` log line per restart.
 */
export const partitionSupervision: SupervisorSpec = {
  strategy: 'one-for-one',
  intensity: Number.POSITIVE_INFINITY,
  periodMs: 60_000,
  backoff: backoff({ minMs: 250, maxMs: 15_000 }).withResetAfter(30_000),
  decider: (error) => (isBatonError(error, 'FENCED') ? 'stop' : 'restart'),
}

/**
 * Topic supervisors (children of the coordinator). A topic supervisor only fails through a bug of its own
 * (its children's failures never reach it); more than 5 such failures within 5 minutes and the
 * coordinator gives up. Each restart comes after 5 to 60 s and starts every partition of the topic that
 * the node owns (from the coordinator's `owned` map, which outlives the restart).
 */
export const topicSupervision: SupervisorSpec = {
  strategy: 'one-for-one',
  intensity: 5,
  periodMs: 300_000,
  backoff: backoff({ minMs: 5_000, maxMs: 60_000 }),
}

/**
 * The coordinator (a child of the actor system's root). Restarted after 5 to 60 s, it starts a topic
 * supervisor for every topic it owns partitions of. More than 3 restarts within 10 minutes and the root
 * gives up: the node process exits non-zero, Kubernetes restarts it and the group hands its partitions to
 * the other nodes meanwhile. A node never lives on owning partitions it does not process.
 */
export const coordinatorSupervision: SupervisorSpec = {
  strategy: 'one-for-one',
  intensity: 3,
  periodMs: 600_000,
  backoff: backoff({ minMs: 5_000, maxMs: 60_000 }),
}

/**
 * Turns the partitions this node was assigned into partition actors at `<coordinator>/<topic>/<partition>`
 * (e.g. `/node/coordinator/orders/3`), one supervisor per topic between them.
 *
 * `assign` starts the partitions' actors (each takes a new epoch and claims its watermark as it starts).
 * `revoke` drains each revoked partition first: its actor stops fetching and commits what it holds,
 * within `drainTimeoutMs`; one that does not finish in time is stopped anyway and its in-flight batch
 * is abandoned, uncommitted: the next owner fetches it again from the watermark, so nothing is lost, and
 * its epoch fences any commit that would still arrive. `reply` is called once every revoked partition's
 * actor has ended, which is when the source may let the group hand them to another node.
 */
export function coordinator(options: CoordinatorOptions, owned: Map<string, OwnedPartition>) {
  return (): Behavior<CoordinatorMsg> => ({
    // A restarted coordinator comes back without children: every topic it owns partitions of gets its
    // supervisor again, which starts those partitions.
    onStart(ctx) {
      for (const topic of new Set([...owned.values()].map((o) => o.tp.topic))) topicRefOrSpawn(ctx, topic)
    },
    async receive(msg, ctx) {
      switch (msg.type) {
        case 'assign': {
          const confirmed = start(msg.partitions, ctx)
          options.onOwnedChanged?.(owned)
          msg.reply(await confirmed)
          return
        }
        case 'revoke':
          await drain(msg.partitions, ctx)
          options.onOwnedChanged?.(owned)
          msg.reply()
          return
        case 'restart': {
          const entry = owned.get(tpString(msg.tp))
          if (!entry) return msg.reply(false)
          await topicRef(ctx, msg.tp.topic)?.ask<void>((reply) => ({
            type: 'stop',
            partition: msg.tp.partition,
            reply,
          }))
          entry.ended = null
          await topicRef(ctx, msg.tp.topic)?.ask<void>((reply) => ({
            type: 'start',
            partitions: [msg.tp.partition],
            reply,
          }))
          msg.reply(true)
          return
        }
      }
    },
  })

  /**
   * One message per topic, however many partitions: an assignment of thousands of partitions never meets
   * a mailbox's capacity. Resolves with null once each topic supervisor confirmed that every partition of
   * its topic has an actor, or with the error of one that did not (the caller retries the assignment:
   * starting an owned partition again is a no-op).
   */
  async function start(
    partitions: readonly TopicPartition[],
    ctx: ActorContext<CoordinatorMsg>,
  ): Promise<Error | null> {
    const byTopic = new Map<string, number[]>()
    for (const tp of partitions) {
      const key = tpString(tp)
      const existing = owned.get(key)
      if (!existing || existing.ended !== null) {
        owned.set(key, { tp, stats: existing?.stats ?? new PartitionStats(), ended: null })
      }
      const list = byTopic.get(tp.topic)
      if (list) list.push(tp.partition)
      else byTopic.set(tp.topic, [tp.partition])
    }
    // A topic supervisor may be in the middle of a drain or a partition's restart, each bounded by the
    // drain deadline; it starts the partitions once that is done.
    const confirmations = [...byTopic].map(([topic, list]) =>
      topicRefOrSpawn(ctx, topic).ask<void>((reply) => ({ type: 'start', partitions: list, reply }), {
        timeoutMs: options.drainTimeoutMs + 10_000,
      }),
    )
    const failed = (await Promise.allSettled(confirmations)).find((r) => r.status === 'rejected')
    return failed ? (failed.reason as Error) : null
  }

  /** A new topic supervisor starts the topic's owned partitions itself (its onStart). */
  function topicRefOrSpawn(ctx: ActorContext<CoordinatorMsg>, topic: string) {
    return (
      topicRef(ctx, topic) ??
      ctx.spawn<TopicMsg>(topic, topicSupervisor(topic, options, owned), {
        supervision: partitionSupervision,
        shutdownMs: options.drainTimeoutMs + 5_000,
      })
    )
  }

  /** One message per topic, whose supervisor drains all its revoked partitions side by side. */
  async function drain(partitions: readonly TopicPartition[], ctx: ActorContext<CoordinatorMsg>) {
    const byTopic = new Map<string, number[]>()
    for (const tp of partitions) {
      owned.delete(tpString(tp))
      const list = byTopic.get(tp.topic)
      if (list) list.push(tp.partition)
      else byTopic.set(tp.topic, [tp.partition])
    }
    await Promise.all(
      [...byTopic].map(([topic, list]) =>
        topicRef(ctx, topic)?.ask<void>((reply) => ({ type: 'drain', partitions: list, reply }), {
          timeoutMs: options.drainTimeoutMs + 10_000,
        }),
      ),
    )
  }
}

type TopicMsg =
  | {
      readonly type: 'start'
      readonly partitions: readonly number[]
      readonly reply?: (v: undefined) => void
    }
  | { readonly type: 'stop'; readonly partition: number; readonly reply: (v: undefined) => void }
  | {
      readonly type: 'drain'
      readonly partitions: readonly number[]
      readonly reply: (v: undefined) => void
    }
  | { readonly type: 'ended'; readonly partition: number; readonly termination: Termination }

const topicRef = (ctx: ActorContext<CoordinatorMsg>, topic: string) => ctx.child<TopicMsg>(topic)

/**
 * One topic's partition actors. Which partitions it runs lives in the coordinator's `owned` map, not in
 * this actor, so a restarted topic supervisor starts them all again (as an OTP supervisor restarts its
 * children from their specs).
 */
function topicSupervisor(
  topic: string,
  options: CoordinatorOptions,
  owned: Map<string, OwnedPartition>,
): () => Behavior<TopicMsg> {
  return () => ({
    onStart(ctx) {
      for (const entry of owned.values()) {
        if (entry.tp.topic === topic && entry.ended === null) spawn(entry.tp.partition, ctx)
      }
    },
    async receive(msg, ctx) {
      switch (msg.type) {
        case 'start':
          for (const partition of msg.partitions) if (!ctx.child(String(partition))) spawn(partition, ctx)
          msg.reply?.(undefined)
          return
        case 'stop':
          await stopPartition(msg.partition, ctx)
          msg.reply(undefined)
          return
        case 'drain':
          // Side by side: a revoke costs one drain deadline, not one per partition.
          await Promise.all(msg.partitions.map((partition) => drainPartition(partition, ctx)))
          msg.reply(undefined)
          return
        case 'ended': {
          const entry = owned.get(tpString({ topic, partition: msg.partition }))
          if (!entry || msg.termination.reason === 'stopped') return
          const { error } = msg.termination
          if (!isBatonError(error, 'FENCED')) {
            // partitionSupervision restarts every other failure, so this is a bug; never leave the partition
            // without an actor: failing makes the coordinator restart this supervisor, which starts it again.
            throw new BatonError(
              'INTERNAL',
              `Partition actor ${topic}/${msg.partition} ended (${msg.termination.reason}: ${errorMessage(error)}) although only a fenced one may; its topic supervisor restarts to start it again.`,
              { cause: error },
            )
          }
          entry.ended = { reason: 'FENCED', error: errorMessage(error) }
          options.log?.('error', 'partition fenced: a newer epoch owns it, so its actor is not restarted', {
            topic,
            partition: msg.partition,
            error: errorMessage(error),
          })
          options.onOwnedChanged?.(owned)
          return
        }
      }
    },
  })

  function spawn(partition: number, ctx: ActorContext<TopicMsg>): void {
    const entry = owned.get(tpString({ topic, partition }))
    if (!entry) return
    const deps = options.partitionDeps(entry.tp, entry.stats)
    const ref = ctx.spawn<PartitionMsg>(
      String(partition),
      partitionActor(withRestartHook(deps, entry.tp, options)),
      {
        mailboxCapacity: options.mailboxCapacity,
        shutdownMs: options.drainTimeoutMs,
      },
    )
    ctx.watch(ref, (termination) => ({ type: 'ended', partition, termination }))
  }

  async function drainPartition(partition: number, ctx: ActorContext<TopicMsg>): Promise<void> {
    const ref = ctx.child<PartitionMsg>(String(partition))
    if (ref) {
      try {
        await ref.ask((reply) => ({ type: 'drain', reply }), { timeoutMs: options.drainTimeoutMs })
      } catch (err) {
        options.log?.('warn', 'partition did not drain in time; its in-flight batch is abandoned', {
          topic,
          partition,
          error: errorMessage(err),
        })
      }
    }
    await stopPartition(partition, ctx)
  }

  async function stopPartition(partition: number, ctx: ActorContext<TopicMsg>): Promise<void> {
    const ref = ctx.child(String(partition))
    if (ref) ctx.unwatch(ref)
    await ctx.stopChild(String(partition))
  }
}

/** Counts a partition actor's restarts (every start after the first) for metrics. */
function withRestartHook<E>(
  deps: PartitionActorDeps<E>,
  tp: TopicPartition,
  options: CoordinatorOptions,
): PartitionActorDeps<E> {
  let starts = 0
  return {
    ...deps,
    onStarting: () => {
      if (starts++ > 0) options.onRestart?.(tp)
    },
  }
}

export const noOwner = (tp: TopicPartition) =>
  new BatonError(
    'NO_OWNER',
    `Partition ${tp.topic}/${tp.partition} has no running actor on this node right now (starting, restarting or moving); retry in a moment.`,
  )
