import { readFileSync } from 'node:fs'
import { ensureTopics } from '../../actors/kafka/admin.ts'
import { KafkaDeadLetterPublisher } from '../../actors/kafka/dead-letter-publisher.ts'
import { KafkaGroupSource } from '../../actors/kafka/group-source.ts'
import { kafkaSecurity } from '../../actors/kafka/kafka-security.ts'
import { KafkaEventProducer } from '../../actors/kafka/producer.ts'
import type { Pipeline } from '../../actors/pipeline.ts'
import type { DeadLetterPublisher, PartitionKey } from '../../actors/ports.ts'
import { createPostgresSink } from '../../actors/postgres/index.ts'
import { createRedisCheckpoints } from '../../actors/redis/checkpoints.ts'
import { createMembershipRegistry } from '../../cluster/membership.ts'
import type { Config } from '../config.ts'
import type { NodeMetrics } from '../metrics.ts'
import type { AssignmentHandlers, Backend } from './backend.ts'
import { deadLetterApi } from './dead-letters.ts'
import { quarantineApi } from './quarantine-api.ts'
import { serviceProbe } from './service-probe.ts'

/**
 * Cluster mode: Kafka topics as the source (one member of BATON_GROUP_ID per node), PostgreSQL as the
 * sink and dead-letter outbox, Redis for epochs and checkpoints, `<topic>.dlq` topics for dead letters.
 * Every service is checked at start, so a node that cannot reach one stops with a message naming it
 * instead of starting half-way.
 */
export async function clusterBackend(
  config: Config,
  pipeline: Pipeline,
  metrics?: Pick<NodeMetrics, 'sinkTransaction'>,
): Promise<Backend> {
  const brokers = config.kafkaBrokers
  // SASL and TLS of every Kafka client; CA files are read once, here.
  const security = kafkaSecurity(config.kafkaSasl, config.kafkaTls)
  const redisTlsCa = config.redisTlsCa ? readFileSync(config.redisTlsCa, 'utf8') : undefined
  const closers: (() => Promise<unknown>)[] = []
  const closeAll = async () => {
    for (const close of closers.reverse()) await close().catch(() => {})
  }
  try {
    // Cheapest checks first, writes last: Redis only answers a PING, PostgreSQL then runs its (idempotent)
    // migrations, and only then are Kafka topics created, so a node that cannot reach a service has
    // created nothing in the services it reached before.
    const checkpoints = await createRedisCheckpoints({ url: config.redisUrl as string, tlsCa: redisTlsCa })
    closers.push(() => checkpoints.close())
    const membership = await createMembershipRegistry({
      url: config.redisUrl as string,
      tlsCa: redisTlsCa,
      group: config.groupId,
    })
    closers.push(() => membership.close())
    const sink = await createPostgresSink({
      url: config.databaseUrl as string,
      migrationUrl: config.databaseMigrationUrl,
      pipeline,
      group: config.groupId,
      grouping: { onTransaction: (batches) => metrics?.sinkTransaction(batches) },
    })
    closers.push(() => sink.close())
    // Readiness asks no service itself: it reads what this probe last found.
    const postgresProbe = serviceProbe('PostgreSQL', () =>
      sink.read(async (tx) => {
        if (tx.kind === 'postgres') await tx.sql`select 1`
      }),
    )
    closers.push(async () => postgresProbe.stop())
    const counts = new Map<string, number>()
    // Also without creating: a missing topic or a refused login is told now, not after the join timeout.
    const ensured = await ensureTopics({
      brokers,
      topics: config.topics,
      partitions: config.partitions,
      dlq: true,
      security,
      create: config.createTopics,
    })
    for (const topic of config.topics) counts.set(topic, ensured.partitions[topic] ?? config.partitions)
    const producer = new KafkaEventProducer({ brokers, clientId: `baton-${config.nodeId}-ingest`, security })
    closers.push(() => producer.close())
    const kafkaDeadLetters = new KafkaDeadLetterPublisher({ brokers, nodeId: config.nodeId, security })
    closers.push(() => kafkaDeadLetters.close())

    // The sink's dead-letter table is the outbox: publish what it holds for the partition, then mark it.
    const deadLetters: DeadLetterPublisher = {
      async publish(key: PartitionKey, _letters, epoch) {
        for (;;) {
          const pending = await sink.deadLetters.unpublished(key, 500)
          if (pending.length === 0) return
          // Only the partition's owner publishes. A zombie (a paused process whose partition moved) that
          // wakes up here stops; one paused past this check is fenced by Kafka (see KafkaDeadLetterPublisher).
          if (epoch !== undefined && (await sink.storedEpoch(key)) !== epoch) return
          await kafkaDeadLetters.publish(key, pending)
          await sink.deadLetters.markPublished(pending.map((l) => l.id))
          if (pending.length < 500) return
        }
      },
      release: (key) => kafkaDeadLetters.release(key),
      close: async () => {},
    }

    let handlers: AssignmentHandlers | null = null
    const source = new KafkaGroupSource({
      brokers,
      security,
      groupId: config.groupId,
      topics: config.topics,
      nodeId: config.nodeId,
      rebalanceTimeoutMs: config.drainTimeoutMs + 15_000,
      fetch: { checkCrcs: config.checkCrcs },
      fetchBufferBytes: config.fetchBufferBytes,
      onAssigned: async (partitions) => {
        for (const tp of partitions)
          counts.set(tp.topic, Math.max(counts.get(tp.topic) ?? 0, tp.partition + 1))
        await handlers?.assign(partitions)
      },
      onRevoked: async (partitions) => {
        await handlers?.revoke(partitions)
      },
      onAssignmentFailed: (error) => handlers?.failed(error),
    })
    closers.push(() => source.close())

    const quarantine = quarantineApi(sink.deadLetters, sink.quarantine)
    return {
      sinkKind: 'postgres',
      sink,
      checkpoints,
      deadLetters,
      membership,
      openFeed: (tp) => source.feed(tp),
      fetchBuffer: () => source.fetchBuffer(),
      partitionCount: (topic) =>
        config.topics.includes(topic) ? (counts.get(topic) ?? config.partitions) : undefined,
      async startAssignments(h) {
        handlers = h
        await source.start()
      },
      async stopAssignments() {
        await source.close()
      },
      async ingest(topic, events) {
        return producer.produce(
          topic,
          events.map((e) => ({ key: e.key ?? null, value: e.value, headers: e.headers, time: e.time })),
        )
      },
      async offsetForTime(tp, time) {
        return source.offsetForTime(tp, time)
      },
      quarantine: sink.quarantine,
      ...quarantine,
      ...deadLetterApi(
        sink.deadLetters,
        config.topics,
        (topic, events) => producer.produce(topic, events),
        quarantine.heldLetterIds,
      ),
      problems() {
        const status = source.status()
        const problems = status.error ? [`Kafka: ${status.error.message}`] : []
        const postgres = postgresProbe.problem()
        return postgres ? [...problems, postgres] : problems
      },
      close: closeAll,
    }
  } catch (err) {
    await closeAll()
    throw err
  }
}
