import { Admin } from '@platformatic/kafka'
import { type Clock, realClock, sleep } from '../core/clock.ts'
import { BatonError } from '../core/errors.ts'
import { clientOptions, type KafkaLog, stderrLog, unreachable } from './kafka-client.ts'
import { describeKafkaError, errorResponse, isUnreachable, kafkaErrorIds } from './kafka-errors.ts'
import type { KafkaSecurity } from './kafka-security.ts'

/** The dead-letter topic of `topic`: same partition numbers, `<topic>.dlq`. */
export function deadLetterTopic(topic: string): string {
  return `${topic}.dlq`
}

export interface EnsureTopicsOptions {
  readonly brokers: readonly string[]
  /** SASL and TLS of every connection to the brokers (KAFKA_SASL_*, KAFKA_TLS*); default: plaintext. */
  readonly security?: KafkaSecurity
  readonly topics: readonly string[]
  /** Partitions of each topic created here (existing topics keep theirs). */
  readonly partitions: number
  /** Also ensure `<topic>.dlq` for each topic, with as many partitions as the topic has. */
  readonly dlq: boolean
  /** Replicas of each topic created here; the brokers' default (`default.replication.factor`) when unset. */
  readonly replicationFactor?: number
  /**
   * False (BATON_CREATE_TOPICS=false): create nothing, only check that every topic exists, each `.dlq`
   * with at least its topic's partitions; throws PREREQUISITE_MISSING naming what is missing. Default true.
   */
  readonly create?: boolean
  /** How long to wait for the new topics' partitions to have leaders (default 15 s). */
  readonly readyTimeoutMs?: number
  readonly log?: KafkaLog
}

export interface EnsuredTopics {
  /** Topics this call created. */
  readonly created: string[]
  /** Partition count of every topic asked for (including dead-letter topics), as it is now. */
  readonly partitions: Readonly<Record<string, number>>
}

/**
 * Creates the topics (and their dead-letter topics) that do not exist yet, and waits until every
 * partition of the new ones has a leader. Idempotent, and safe when several nodes start at once: a topic
 * another node created in between counts as existing. A dead-letter topic with fewer partitions than its
 * topic gets the missing ones, since a dead letter goes to the partition number it came from.
 *
 * Throws SERVICE_UNREACHABLE (naming the brokers) when Kafka cannot be reached, PREREQUISITE_MISSING when
 * Kafka refuses to create a topic (say, no permission: create it yourself, or turn creation off).
 */
export async function ensureTopics(options: EnsureTopicsOptions): Promise<EnsuredTopics> {
  const { brokers, topics, partitions, dlq, replicationFactor = -1 } = options
  const log = options.log ?? stderrLog
  if (!Number.isInteger(partitions) || partitions < 1) {
    throw new BatonError(
      'CONFIG_INVALID',
      `BATON_PARTITIONS must be a whole number of at least 1; got ${partitions}.`,
    )
  }
  const admin = new Admin(clientOptions('baton-admin', brokers, options.security))
  try {
    const counts = await partitionCounts(admin, brokers, [...topics, ...topics.map(deadLetterTopic)])
    if (options.create === false) return checkedTopics(brokers, topics, dlq, counts)
    const created: string[] = []
    const create = async (wanted: { topic: string; partitions: number }[]) => {
      const missing = wanted.filter(({ topic }) => !counts.has(topic))
      if (missing.length === 0) return
      const fresh = await createTopics(admin, brokers, missing, replicationFactor)
      for (const { topic, partitions } of missing) {
        counts.set(topic, partitions)
        if (fresh.has(topic)) created.push(topic)
      }
    }
    await create(topics.map((topic) => ({ topic, partitions })))
    if (dlq) {
      const sources = topics.map((topic) => ({
        topic: deadLetterTopic(topic),
        partitions: counts.get(topic) ?? partitions,
      }))
      await create(sources)
      const short = sources.filter(({ topic, partitions }) => (counts.get(topic) ?? partitions) < partitions)
      if (short.length > 0) {
        await admin.createPartitions({
          topics: short.map(({ topic, partitions }) => ({ name: topic, count: partitions })),
        })
        for (const { topic, partitions } of short) counts.set(topic, partitions)
        log('info', `added partitions to ${short.map((s) => s.topic).join(', ')} to match their topics`)
      }
    }
    if (created.length > 0) {
      await waitForLeaders(admin, created, options.readyTimeoutMs ?? 15_000)
      log('info', `created topics ${created.join(', ')}`, { partitions })
    }
    const wanted = [...topics, ...(dlq ? topics.map(deadLetterTopic) : [])]
    return { created, partitions: Object.fromEntries(wanted.map((topic) => [topic, counts.get(topic) ?? 0])) }
  } catch (err) {
    if (err instanceof BatonError) throw err
    if (isUnreachable(err)) throw unreachable(brokers, 'creating topics', err)
    throw new BatonError(
      'PREREQUISITE_MISSING',
      `Kafka at ${brokers.join(',')} refused to create topics ${topics.join(', ')}: ${describeKafkaError(err)}. ` +
        'Create them yourself (with their .dlq topics) or give baton the right to.',
      { cause: err },
    )
  } finally {
    await admin.close().catch(() => {})
  }
}

/** What `ensureTopics` answers when it may not create: the counts, or PREREQUISITE_MISSING. */
function checkedTopics(
  brokers: readonly string[],
  topics: readonly string[],
  dlq: boolean,
  counts: ReadonlyMap<string, number>,
): EnsuredTopics {
  const wanted = [...topics, ...(dlq ? topics.map(deadLetterTopic) : [])]
  const missing = wanted.filter((topic) => !counts.has(topic))
  const fix = 'Create them, or set BATON_CREATE_TOPICS=true to let baton create them.'
  if (missing.length > 0)
    throw new BatonError(
      'PREREQUISITE_MISSING',
      `Kafka at ${brokers.join(',')} has no topic ${missing.join(', ')}, and BATON_CREATE_TOPICS=false. ${fix} ` +
        'A .dlq topic needs as many partitions as its topic.',
    )
  const short = dlq
    ? topics.filter((topic) => (counts.get(deadLetterTopic(topic)) ?? 0) < (counts.get(topic) ?? 0))
    : []
  if (short.length > 0)
    throw new BatonError(
      'PREREQUISITE_MISSING',
      `${short.map((t) => `${deadLetterTopic(t)} has ${counts.get(deadLetterTopic(t))} partitions, ${t} ${counts.get(t)}`).join('; ')}: ` +
        'a dead letter goes to the partition number it came from. Add partitions to the .dlq topic ' +
        '(kafka-topics --alter --partitions), or set BATON_CREATE_TOPICS=true to let baton add them.',
    )
  return {
    created: [],
    partitions: Object.fromEntries(wanted.map((topic) => [topic, counts.get(topic) ?? 0])),
  }
}

/** Partition counts of those of `wanted` that exist. */
async function partitionCounts(
  admin: Admin,
  brokers: readonly string[],
  wanted: readonly string[],
): Promise<Map<string, number>> {
  let existing: Set<string>
  try {
    existing = new Set(await admin.listTopics())
  } catch (err) {
    throw unreachable(brokers, 'listing topics', err)
  }
  const names = wanted.filter((topic) => existing.has(topic))
  const counts = new Map<string, number>()
  if (names.length === 0) return counts
  const metadata = await admin.metadata({ topics: names, forceUpdate: true })
  for (const [name, topic] of metadata.topics) if (topic) counts.set(name, topic.partitionsCount)
  return counts
}

/** Creates the topics; returns those this request created (not those someone else created meanwhile). */
async function createTopics(
  admin: Admin,
  brokers: readonly string[],
  wanted: { topic: string; partitions: number }[],
  replicas: number,
): Promise<Set<string>> {
  try {
    await admin.createTopics({
      topics: wanted.map(({ topic, partitions }) => ({ topic, partitions, replicas })),
    })
    return new Set(wanted.map(({ topic }) => topic))
  } catch (err) {
    // Another node created some of them between our listing and this request: that is what we wanted.
    const ids = kafkaErrorIds(err)
    if (ids.size > 0 && [...ids].every((id) => id === 'TOPIC_ALREADY_EXISTS')) {
      const response = errorResponse<{ topics?: { name: string; errorCode: number }[] }>(err)
      return new Set((response?.topics ?? []).filter((t) => t.errorCode === 0).map((t) => t.name))
    }
    if (isUnreachable(err)) throw unreachable(brokers, 'creating topics', err)
    throw err
  }
}

async function waitForLeaders(
  admin: Admin,
  topics: readonly string[],
  timeoutMs: number,
  clock: Clock = realClock,
): Promise<void> {
  const deadline = clock.now() + timeoutMs
  for (;;) {
    try {
      const metadata = await admin.metadata({ topics: [...topics], forceUpdate: true })
      const ready = topics.every((name) => {
        const topic = metadata.topics.get(name)
        return (
          topic &&
          topic.partitions.length === topic.partitionsCount &&
          topic.partitions.every((p) => p && p.leader >= 0)
        )
      })
      if (ready) return
    } catch {
      // Not known everywhere yet: ask again.
    }
    if (clock.now() > deadline) {
      throw new BatonError(
        'SERVICE_UNREACHABLE',
        `Topics ${topics.join(', ')} were created but their partitions have no leader after ${timeoutMs} ms; check the brokers' logs.`,
      )
    }
    await sleep(clock, 100)
  }
}

/** Deletes topics (tests and `baton` tooling); topics that do not exist are ignored. */
export async function deleteTopics(
  brokers: readonly string[],
  topics: readonly string[],
  security?: KafkaSecurity,
): Promise<void> {
  const admin = new Admin(clientOptions('baton-admin', brokers, security))
  try {
    const existing = new Set(await admin.listTopics())
    const doomed = topics.filter((topic) => existing.has(topic))
    if (doomed.length > 0) await admin.deleteTopics({ topics: doomed })
  } finally {
    await admin.close().catch(() => {})
  }
}
