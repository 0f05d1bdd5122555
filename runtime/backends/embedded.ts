import type { Pipeline } from '../../actors/pipeline.ts'
import type { TopicPartition } from '../../actors/ports.ts'
import { openEmbedded } from '../../actors/sqlite/index.ts'
import type { Config } from '../config.ts'
import type { AssignmentHandlers, Backend } from './backend.ts'
import { deadLetterApi } from './dead-letters.ts'
import { quarantineApi } from './quarantine-api.ts'

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
  const quarantine = quarantineApi(sink.deadLetters, sink.quarantine)

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
    quarantine: sink.quarantine,
    ...quarantine,
    ...deadLetterApi(
      sink.deadLetters,
      config.topics,
      async (topic, events) => log.append(topic, events),
      quarantine.heldLetterIds,
    ),
    problems: () => [],
    close: () => embedded.close(),
  }
}
