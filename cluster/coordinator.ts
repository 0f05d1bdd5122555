import type { PartitionActorDeps, PartitionMsg } from '../actors/partition/partition-actor.ts'
import { partitionActor } from '../actors/partition/partition-actor.ts'
import { PartitionStats } from '../actors/partition/stats.ts'
import { type TopicPartition, tpString } from '../actors/ports.ts'
import { backoff } from '../runtime/actor/backoff.ts'
import type { SupervisorSpec } from '../runtime/actor/supervision.ts'
import type { ActorContext, Behavior, Termination } from '../runtime/actor/types.ts'
import { BatonError, errorMessage, isBatonError } from '../runtime/errors.ts'

/** The closed protocol of the coordinator. Replies are how callers (the source, the HTTP API) wait. */
export type CoordinatorMsg =
  | { readonly type: 'assign'; readonly partitions: readonly TopicPartition[]; readonly reply: () => void }
  | { readonly type: 'revoke'; readonly partitions: readonly TopicPartition[]; readonly reply: () => void }
  | { readonly type: 'restart'; readonly tp: TopicPartition; readonly reply: (ok: boolean) => void }

/** A partition this node was assigned, with the history that outlives its actor's restarts. */
export interface OwnedPartition {
  readonly tp: TopicPartition
  readonly stats: PartitionStats
  /** Why its actor is not running, when it ended for good (fenced, or its supervisor gave up). */
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
 * How partition actors are supervised. A FENCED actor is stopped, never restarted: another actor owns
 * the partition and restarting would only take it back for a moment. Anything else (the sink stayed
 * down past the actor's patience, a bug) restarts it with a new epoch after an exponential, jittered
 * backoff, which also spaces out retries against a recovering database. More than 20 restarts of one
 * topic's partitions within a minute means something is wrong beyond one partition: the topic's
 * supervisor gives up and the coordinator restarts it (and with it, its partitions) after a longer pause.
 */
export const partitionSupervision: SupervisorSpec = {
  strategy: 'one-for-one',
  intensity: 20,
  periodMs: 60_000,
  backoff: backoff({ minMs: 250, maxMs: 15_000 }).withResetAfter(30_000),
  decider: (error) => (isBatonError(error, 'FENCED') ? 'stop' : 'restart'),
}

const topicSupervision: SupervisorSpec = {
  strategy: 'one-for-one',
  intensity: 5,
  periodMs: 300_000,
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
    async receive(msg, ctx) {
      switch (msg.type) {
        case 'assign':
          for (const tp of msg.partitions) start(tp, ctx)
          options.onOwnedChanged?.(owned)
          msg.reply()
          return
        case 'revoke':
          await Promise.all(msg.partitions.map((tp) => drain(tp, ctx)))
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
            partition: msg.tp.partition,
            reply,
          }))
          msg.reply(true)
          return
        }
      }
    },
  })

  function start(tp: TopicPartition, ctx: ActorContext<CoordinatorMsg>): void {
    const key = tpString(tp)
    const existing = owned.get(key)
    if (existing && existing.ended === null) return
    owned.set(key, { tp, stats: existing?.stats ?? new PartitionStats(), ended: null })
    const ref =
      topicRef(ctx, tp.topic) ??
      ctx.spawn<TopicMsg>(tp.topic, topicSupervisor(tp.topic, options, owned), {
        supervision: partitionSupervision,
        shutdownMs: options.drainTimeoutMs + 5_000,
      })
    ref.tell({ type: 'start', partition: tp.partition })
  }

  async function drain(tp: TopicPartition, ctx: ActorContext<CoordinatorMsg>): Promise<void> {
    const ref = topicRef(ctx, tp.topic)
    owned.delete(tpString(tp))
    if (!ref) return
    await ref.ask<void>((reply) => ({ type: 'drain', partition: tp.partition, reply }), {
      timeoutMs: options.drainTimeoutMs + 10_000,
    })
  }
}

export const coordinatorSupervision = topicSupervision

type TopicMsg =
  | { readonly type: 'start'; readonly partition: number; readonly reply?: (v: undefined) => void }
  | { readonly type: 'stop'; readonly partition: number; readonly reply: (v: undefined) => void }
  | { readonly type: 'drain'; readonly partition: number; readonly reply: (v: undefined) => void }
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
          if (!ctx.child(String(msg.partition))) spawn(msg.partition, ctx)
          msg.reply?.(undefined)
          return
        case 'stop':
          await stopPartition(msg.partition, ctx)
          msg.reply(undefined)
          return
        case 'drain': {
          const ref = ctx.child<PartitionMsg>(String(msg.partition))
          if (ref) {
            try {
              await ref.ask((reply) => ({ type: 'drain', reply }), { timeoutMs: options.drainTimeoutMs })
            } catch (err) {
              options.log?.('warn', 'partition did not drain in time; its in-flight batch is abandoned', {
                topic,
                partition: msg.partition,
                error: errorMessage(err),
              })
            }
          }
          await stopPartition(msg.partition, ctx)
          msg.reply(undefined)
          return
        }
        case 'ended': {
          const entry = owned.get(tpString({ topic, partition: msg.partition }))
          if (!entry || msg.termination.reason === 'stopped') return
          entry.ended = { reason: msg.termination.reason, error: errorMessage(msg.termination.error) }
          options.log?.('error', 'partition actor ended and is not restarted', {
            topic,
            partition: msg.partition,
            reason: msg.termination.reason,
            error: errorMessage(msg.termination.error),
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
