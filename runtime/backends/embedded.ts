import type { Pipeline } from '../../actors/pipeline.ts'
import type { StoredDeadLetter, TopicPartition } from '../../actors/ports.ts'
import { openEmbedded } from '../../actors/sqlite/index.ts'
import type { Config } from '../config.ts'
import { BatonError } from '../errors.ts'
import type { AssignmentHandlers, Backend } from './backend.ts'
import { toEntry } from './dead-letter-entry.ts'

/**
 * Embedded mode: the event log, sink, checkpoints and dead-letter table in bun:sqlite under
 * BATON_DATA_DIR. One node owns every partition of every topic in BATON_TOPICS.
 */
export async function embeddedBackend(config: Config, pipeline: Pipeline): Promise<Backend> {
  const embedded = await openEmbedded({
    dataDir: config.dataDir,
    topics: config.topics,
    partitions: config.partitions,
    group: config.groupId,
    pipeline,
    retention: { keepEvents: config.retainEvents, keepMs: config.retainMs },
  })
  const { log, sink, checkpoints } = embedded
  const all: TopicPartition[] = config.topics.flatMap((topic) =>
    Array.from({ length: log.topic(topic)?.partitions ?? config.partitions }, (_, partition) => ({
      topic,
      partition,
    })),
  )
  let handlers: AssignmentHandlers | null = null

  return {
    sinkKind: 'sqlite',
    sink,
    checkpoints,
    deadLetters: null,
    openFeed: (tp) => embedded.feed({ ...tp, group: config.groupId }),
    partitionCount: (topic) => (config.topics.includes(topic) ? log.topic(topic)?.partitions : undefined),
    async startAssignments(h) {
      handlers = h
      await h.assign(all)
    },
    async stopAssignments() {
      await handlers?.revoke(all)
      handlers = null
    },
    async ingest(topic, events) {
      return log.append(
        topic,
        events.map((e) => ({ key: e.key ?? null, value: e.value, headers: e.headers ?? null, time: e.time })),
      )
    },
    async offsetForTime(tp, time) {
      return log.offsetForTime(tp.topic, tp.partition, time)
    },
    async listDeadLetters(query) {
      const page = await sink.deadLetters.list(query)
      return { entries: page.letters.map(toEntry), next: page.next }
    },
    async replayDeadLetters(selection) {
      const letters =
        'ids' in selection
          ? await sink.deadLetters.get(selection.ids)
          : await selectAll(selection.topic, selection.partition)
      const byTopic = new Map<string, StoredDeadLetter[]>()
      for (const letter of letters) {
        if (!config.topics.includes(letter.record.topic)) {
          throw new BatonError(
            'BAD_REQUEST',
            `Dead letter ${letter.id} belongs to topic '${letter.record.topic}', which this node does not serve.`,
          )
        }
        byTopic.set(letter.record.topic, [...(byTopic.get(letter.record.topic) ?? []), letter])
      }
      for (const [topic, group] of byTopic) {
        log.append(
          topic,
          group.map((l) => ({
            key: l.record.key,
            value: l.record.value,
            headers: l.record.headers,
            time: l.record.timestamp,
          })),
        )
      }
      await sink.deadLetters.markReplayed(letters.map((l) => l.id))
      return letters.length
    },
    problems: () => [],
    close: () => embedded.close(),
  }

  async function selectAll(topic: string, partition: number | undefined): Promise<StoredDeadLetter[]> {
    const out: StoredDeadLetter[] = []
    let after: number | undefined
    for (;;) {
      const page = await sink.deadLetters.list({ topic, partition, after, limit: 1000 })
      out.push(...page.letters.filter((l) => l.replayedAt === null))
      if (page.next === null) return out
      after = page.next
    }
  }
}
