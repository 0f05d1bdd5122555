import { BatonError } from '../../actors/core/errors.ts'
import { ActorSystem, type Clock, realClock, sleep, withDeadline } from '../../actors/core/index.ts'
import type { PartitionMsg } from '../../actors/partition/partition-actor.ts'
import type { Pipeline } from '../../actors/pipeline.ts'
import { type TopicPartition, tpString } from '../../actors/ports.ts'
import { advertiseUrl } from '../../cluster/advertise-url.ts'
import {
  type CoordinatorMsg,
  coordinator,
  coordinatorSupervision,
  noOwner,
  type OwnedPartition,
  topicSupervision,
} from '../../cluster/coordinator.ts'
import { createPeers } from '../../cluster/peers.ts'
import type { Backend } from '../backends/backend.ts'
import type { Config } from '../config.ts'
import { createApi, type Listener } from '../http/index.ts'
import { contextLogFunction, type Logger, logFunction, withContext } from '../log.ts'
import type { Metrics } from '../metrics.ts'
import type { NodeApi, PartitionView } from '../node-api.ts'
import { quarantineNode } from './quarantine-node.ts'

export interface NodeDeps {
  readonly config: Config
  readonly backend: Backend
  readonly pipeline: Pipeline
  readonly metrics: Metrics
  readonly logger: Logger
  /** The HTTP port, bound before the backend was opened; the node attaches its API to it. */
  readonly listener: Listener
  /** TEST ONLY (runtime/test-hooks.ts): given to every partition actor. */
  readonly testAfterCommit?: () => void
  /** The actor system's clock, and the node's (default: the process clock). */
  readonly clock?: Clock
}

export interface RunningNode {
  readonly url: string
  readonly api: NodeApi
  /**
   * Resolves with the failure when the actor system ended on its own (its top-level supervisor gave up),
   * or, once the node left its consumer group, when it could not carry out an assignment (ASSIGNMENT_FAILED).
   */
  readonly failed: Promise<unknown>
  /** Graceful stop: stop fetching, drain and commit every partition, leave the group, close. */
  stop(): Promise<{ clean: boolean }>
}

/**
 * Starts a node: the actor system with its coordinator, the backend's assignments feeding it, and the
 * HTTP API on the already bound `listener`. Embedded and cluster mode differ only in the backend.
 */
export async function startNode(deps: NodeDeps): Promise<RunningNode> {
  const { config, backend, pipeline, metrics, logger } = deps
  const clock = deps.clock ?? realClock
  const started = clock.now()
  const system = new ActorSystem({
    name: 'node',
    clock,
    // The tree and its specs are described in cluster/coordinator.ts; if this root gives up, `failed`
    // resolves and the process exits non-zero.
    supervision: coordinatorSupervision,
    onEvent: (event) => logger.warn({ actorEvent: event }, 'actor event'),
  })
  const owned = new Map<string, OwnedPartition>()
  let draining = false
  let assignmentFailed: Promise<unknown> | null = null
  let assignmentFailedResolve: (failure: Promise<unknown>) => void = () => {}
  const leftAfterAssignmentFailed = new Promise<unknown>((resolve) => {
    assignmentFailedResolve = resolve
  })
  /**
   * Set once the backend's assignments started: the group accepted this node (cluster) or every partition
   * runs (embedded). Not "owns a partition": with more nodes than partitions a node may own none, and a
   * StatefulSet rollout waits for every pod to be ready.
   */
  let joined = false
  const peers = createPeers({
    nodeId: config.nodeId,
    startedAt: started,
    registry: backend.membership ?? null,
    owned,
    topics: config.topics,
    partitionCount: (topic) => backend.partitionCount(topic),
    clock,
  })

  const coordinatorRef = system.spawn<CoordinatorMsg>(
    'coordinator',
    coordinator(
      {
        drainTimeoutMs: config.drainTimeoutMs,
        mailboxCapacity: config.mailboxCapacity,
        onRestart: (tp) => metrics.restart(tp),
        onOwnedChanged: (map) => {
          for (const topic of config.topics) {
            metrics.ownedPartitions(topic, [...map.values()].filter((o) => o.tp.topic === topic).length)
          }
          peers.ownedChanged()
        },
        log: logFunction(withContext(logger, { actor: '/node/coordinator' })),
        partitionDeps: (tp, stats) => ({
          key: { group: config.groupId, ...tp },
          pipeline,
          sink: backend.sink,
          checkpoints: backend.checkpoints,
          openFeed: () => backend.openFeed(tp),
          deadLetters: backend.deadLetters,
          limits: {
            maxEvents: config.batchMaxEvents,
            maxBytes: config.batchMaxBytes,
            maxWaitMs: config.batchMaxWaitMs,
          },
          maxRetries: config.maxRetries,
          quarantine: { store: backend.quarantine, maxKeys: config.quarantineMaxKeys },
          testAfterCommit: deps.testAfterCommit,
          stats,
          observer: metrics,
          log: contextLogFunction(logger, () => ({
            actor: `/node/coordinator/${tp.topic}/${tp.partition}`,
            ...tp,
          })),
        }),
      },
      owned,
    ),
    { supervision: topicSupervision, shutdownMs: config.drainTimeoutMs + 5_000 },
  )

  const partitionRef = (tp: TopicPartition) =>
    system.lookup<PartitionMsg>(`/node/coordinator/${tp.topic}/${tp.partition}`)

  function checkPartition(topic: string, partition: number): TopicPartition {
    const count = backend.partitionCount(topic)
    if (count === undefined) throw new BatonError('NOT_FOUND', `This node does not serve topic '${topic}'.`)
    if (!Number.isInteger(partition) || partition < 0 || partition >= count) {
      throw new BatonError(
        'NOT_FOUND',
        `Topic '${topic}' has partitions 0 to ${count - 1}; there is no partition ${partition}.`,
      )
    }
    return { topic, partition }
  }

  async function view(tp: TopicPartition): Promise<PartitionView> {
    const entry = owned.get(tpString(tp))
    if (!entry) throw noOwner(tp)
    const snapshot = partitionRef(tp)?.snapshot()
    // Read from the stats, not by asking the actor: an actor retrying an unreachable sink holds its turn,
    // and its state must show exactly then.
    const status = entry.ended === null ? (entry.stats.current?.() ?? null) : null
    const s = entry.stats
    return {
      ...tp,
      node: config.nodeId,
      answeredBy: config.nodeId,
      status:
        snapshot?.status === 'restarting'
          ? 'restarting'
          : (status?.state ?? (entry.ended ? 'failed' : 'stopped')),
      epoch: status?.epoch ?? s.epoch,
      committedOffset: status?.committedOffset ?? s.committedOffset,
      highWatermark: status?.endOffset ?? null,
      lag: status?.lag ?? null,
      lagSeconds: status?.lagSeconds ?? null,
      inFlight: status?.inFlight ?? 0,
      quarantinedKeys: status?.quarantinedKeys ?? 0,
      quarantinedEvents: status?.quarantinedEvents ?? 0,
      eventsPerSec: Math.round(s.eventsPerSec * 10) / 10,
      events: s.events,
      deadLetters: s.deadLetters,
      batches: s.batches,
      restarts: snapshot?.restarts ?? 0,
      fencedCommits: s.fencedCommits,
      lastError: entry.ended ? { message: entry.ended.error, code: entry.ended.reason, at: '' } : s.lastError,
      latencyMs: {
        fetchWait: s.batchWaitMs.percentiles(),
        handle: s.handleMs.percentiles(),
        commit: s.commitMs.percentiles(),
        checkpoint: s.checkpointMs.percentiles(),
      },
    }
  }

  async function control(topic: string, partition: number, msg: PartitionMsg): Promise<PartitionView> {
    const tp = checkPartition(topic, partition)
    const ref = partitionRef(tp)
    if (!ref) throw noOwner(tp)
    ref.tell(msg)
    // The answer shows the state after the action: wait for the actor's turn that handled it (the view
    // itself reads the state without waiting for a turn).
    await ref.ask((reply) => ({ type: 'status', reply }), { timeoutMs: 30_000 })
    return view(tp)
  }

  const api: NodeApi = {
    nodeId: config.nodeId,
    mode: config.mode,
    topics: config.topics,
    partitionCount: (topic) => backend.partitionCount(topic),
    health: () => ({ ok: true, uptimeSeconds: Math.round((clock.now() - started) / 1000) }),
    readiness() {
      const reasons = [...backend.problems(), ...peers.problems()]
      if (draining) reasons.push('draining: the node is stopping')
      if (!joined)
        reasons.push('not yet joined the consumer group (or, embedded, not yet started its partitions)')
      for (const entry of owned.values()) {
        const state = entry.ended ? null : entry.stats.current?.().state
        if (entry.ended) reasons.push(`partition ${tpString(entry.tp)} stopped: ${entry.ended.error}`)
        else if (state === 'sink-down') {
          reasons.push(
            `partition ${tpString(entry.tp)} cannot reach its sink: ${entry.stats.lastError?.message ?? ''}`,
          )
        } else if (state === 'quarantine-full') {
          reasons.push(
            `partition ${tpString(entry.tp)} holds BATON_QUARANTINE_MAX_KEYS quarantined keys and is paused: retry or skip their letters (GET /v1/quarantine)`,
          )
        } else if (state === 'corrupt') {
          reasons.push(
            `partition ${tpString(entry.tp)} is held at a corrupt record batch: ${entry.stats.lastError?.message ?? ''}`,
          )
        }
      }
      return { ready: reasons.length === 0, reasons }
    },
    actors: () => system.tree(),
    partition: (topic, partition) => view(checkPartition(topic, partition)),
    forward: (topic, partition, request) => peers.forward({ topic, partition }, request),
    cluster: () => peers.cluster(),
    ingest: (topic, events) => {
      if (backend.partitionCount(topic) === undefined) {
        throw new BatonError(
          'NOT_FOUND',
          `This node does not serve topic '${topic}'. It serves: ${config.topics.join(', ')}.`,
        )
      }
      return backend.ingest(topic, events)
    },
    pause: (topic, partition) => control(topic, partition, { type: 'pause' }),
    resume: (topic, partition) => control(topic, partition, { type: 'resume' }),
    async seek(topic, partition, to) {
      const tp = checkPartition(topic, partition)
      const offset = 'offset' in to ? to.offset : await backend.offsetForTime(tp, to.timestamp)
      const ref = partitionRef(tp)
      if (!ref) throw noOwner(tp)
      await ref.ask((reply) => ({ type: 'seek', offset, reply }), { timeoutMs: 30_000 })
      return view(tp)
    },
    async restart(topic, partition) {
      const tp = checkPartition(topic, partition)
      const ok = await coordinatorRef.ask<boolean>((reply) => ({ type: 'restart', tp, reply }), {
        timeoutMs: 60_000,
      })
      if (!ok) throw noOwner(tp)
      // Answer with the new epoch when the new actor takes the partition promptly; when it cannot (its
      // services are down), answer anyway after a few seconds with the state it is in.
      const deadline = clock.now() + 5_000
      while (clock.now() < deadline) {
        const state = owned.get(tpString(tp))?.stats.current?.().state
        if (state !== undefined && state !== 'starting') break
        await sleep(clock, 25)
      }
      return view(tp)
    },
    deadLetters: (query) => backend.listDeadLetters(query),
    async replay(selection) {
      return { replayed: await backend.replayDeadLetters(selection) }
    },
    metrics: () => metrics.render(),
    ...quarantineNode({ backend, checkPartition, partitionRef }),
  }

  metrics.watchNode({ ready: () => api.readiness().ready, cluster: () => peers.cluster() })
  if (backend.fetchBuffer) metrics.watchFetchBuffer(backend.fetchBuffer)

  const http = createApi(api, {
    apiToken: config.apiToken,
    ingestToken: config.ingestToken,
    readToken: config.readToken,
    openWithoutToken: config.openWithoutToken,
    metricsAuth: config.metricsAuth,
    ingestRate: config.ingestRate,
    requestTimeoutMs: config.requestTimeoutMs,
    // Through the logger, so that what an unexpected error carries is redacted like every other line.
    onInternalError: (err, request) => logger.error({ err, ...request }, 'HTTP request failed'),
  })
  const server = deps.listener
  server.attach(http)

  // Published before the first assignment, so other nodes can forward to this one as soon as it owns something.
  peers.join(advertiseUrl(config.advertiseUrl, server.url))

  await backend.startAssignments({
    assign: async (partitions) => {
      metrics.rebalance()
      const failure = await coordinatorRef.ask<Error | null>(
        (reply) => ({ type: 'assign', partitions, reply }),
        { timeoutMs: config.drainTimeoutMs + 30_000 },
      )
      if (failure) throw failure
    },
    revoke: async (partitions) => {
      metrics.rebalance()
      await coordinatorRef.ask<void>((reply) => ({ type: 'revoke', partitions, reply }), {
        timeoutMs: config.drainTimeoutMs + 30_000,
      })
      for (const tp of partitions) metrics.forget(tp)
    },
    failed(error) {
      if (assignmentFailed) return
      logger.error({ err: error }, 'leaving the consumer group: this node could not start its partitions')
      // Leaving revokes what the node owns (the partitions that run drain and commit), then `failed`
      // resolves and the process exits non-zero. Readiness names the cause meanwhile (the backend's problems).
      assignmentFailed = withDeadline(backend.stopAssignments(), clock, config.drainTimeoutMs + 10_000).then(
        () => error,
      )
      assignmentFailedResolve(assignmentFailed)
    },
  })
  joined = true

  // Lag and mailbox depth are computed when read: at each scrape. A partition being revoked (its actor
  // ended) has had its gauges dropped (`forget`); reading it would bring them back.
  metrics.watchPartitions(function* () {
    for (const o of owned.values()) {
      if (o.ended !== null) continue
      const status = o.stats.current?.()
      yield {
        tp: o.tp,
        lag: status?.lag == null ? null : { events: status.lag, seconds: status.lagSeconds ?? 0 },
        mailboxDepth: partitionRef(o.tp)?.mailboxDepth,
      }
    }
  })

  return {
    url: server.url,
    api,
    failed: Promise.race([system.whenTerminated.then((t) => t.failure), leftAfterAssignmentFailed]),
    async stop() {
      draining = true
      let clean = true
      try {
        await backend.stopAssignments()
      } catch (err) {
        clean = false
        logger.error({ err }, 'draining the partitions failed')
      }
      await peers.leave()
      const { notStopped } = await system.shutdown(config.drainTimeoutMs)
      if (notStopped.length > 0) {
        clean = false
        logger.error({ notStopped }, 'actors did not stop in time')
      }
      await server.stop(2_000)
      await backend.close()
      return { clean }
    },
  }
}
