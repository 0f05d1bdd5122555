import { deleteTopics, ensureTopics } from '../../actors/kafka/admin.ts'
import { KafkaEventProducer } from '../../actors/kafka/producer.ts'
import { Partitioner } from '../../actors/partitioner.ts'
import { Progress } from '../../runtime/cli/progress.ts'
import { type SyntheticOptions, syntheticEvent } from '../../runtime/cli/synthetic-events.ts'

/** What every consumer of one e2e run reads: the same events, in the same topic. */
export interface Dataset {
  readonly topic: string
  readonly partitions: number
  readonly events: number
  readonly synthetic: SyntheticOptions
  /**
   * Event `seq` of the dataset when the pipeline under test wants another shape than the synthetic events:
   * the pipeline module's `sampleEvent` export (see examples/account-balances.ts).
   */
  readonly sample?: SampleEvent
  /**
   * The partition of event `seq` when not its key's (Kafka's default partitioner): the scale benchmark
   * fills thousands of partitions evenly, more than the dataset has keys.
   */
  readonly partitionOf?: (seq: number) => number
}

/** What a pipeline module may export for benchmarks: its event number `seq`, as key and value text. */
export type SampleEvent = (seq: number) => { key: string | null; value: string }

/** Event `seq` of the dataset: the pipeline's own sample when it has one, else the synthetic event. */
export function datasetEvent(dataset: Dataset, seq: number): { key: string | null; value: string } {
  return dataset.sample?.(seq) ?? syntheticEvent(seq, dataset.synthetic)
}

/** 100-byte JSON values over 1,000 keys, as `baton produce` makes them by default. */
export const datasetEvents: SyntheticOptions = { keys: 1000, valueBytes: 100, poison: 0 }

/** Events per produce call; a few calls in flight keep the broker busy without holding much memory. */
const CHUNK = 5_000
const IN_FLIGHT = 4

/**
 * Creates `dataset.topic` (and its dead-letter topic, which a baton node would otherwise create inside
 * the timed run) and produces the events to it, keyed, with a progress line. `readyTimeoutMs` bounds the
 * wait for the new partitions' leaders (ensureTopics' default, 15 s, is short for thousands on one broker).
 */
export async function produceDataset(
  brokers: readonly string[],
  dataset: Dataset,
  readyTimeoutMs?: number,
): Promise<void> {
  await ensureTopics({
    brokers,
    topics: [dataset.topic],
    partitions: dataset.partitions,
    dlq: true,
    readyTimeoutMs,
  })
  const producer = new KafkaEventProducer({ brokers, clientId: 'baton-bench' })
  const progress = new Progress(`produce ${dataset.topic}`, dataset.events)
  let next = 0
  let sent = 0
  const sender = async () => {
    while (next < dataset.events) {
      const from = next
      const to = Math.min(dataset.events, from + CHUNK)
      next = to
      const events = []
      for (let seq = from; seq < to; seq++) {
        const e = datasetEvent(dataset, seq)
        events.push({ key: e.key, value: e.value, partition: dataset.partitionOf?.(seq) })
      }
      await producer.produce(dataset.topic, events)
      sent += to - from
      progress.update(sent)
    }
  }
  try {
    await Promise.all(Array.from({ length: IN_FLIGHT }, sender))
  } finally {
    progress.done(sent)
    await producer.close()
  }
}

/**
 * The dataset as the rows of `baton_events` in COPY's text format, one buffer per partition (the
 * partition Kafka's default partitioner gives each key). Event time is one fixed instant: COPY measures
 * the database's ingest, not the producer's clock.
 */
export function datasetCopyRows(dataset: Dataset): Buffer[] {
  const partitioner = new Partitioner(dataset.partitions)
  const lines: string[][] = Array.from({ length: dataset.partitions }, () => [])
  const time = new Date().toISOString()
  for (let seq = 0; seq < dataset.events; seq++) {
    const e = syntheticEvent(seq, dataset.synthetic)
    const partition = partitioner.partition(e.key === null ? null : Buffer.from(e.key))
    const rows = lines[partition] as string[]
    // The synthetic values hold no tab, newline or backslash, so they need no escaping in COPY text.
    rows.push(`${dataset.topic}\t${partition}\t${rows.length}\t${e.key ?? '\\N'}\t${e.value}\t{}\t${time}\n`)
  }
  return lines.map((rows) => Buffer.from(rows.join('')))
}

/** Deletes the topic and its dead-letter topic. */
export function deleteDataset(brokers: readonly string[], dataset: Dataset): Promise<void> {
  return deleteTopics(brokers, [dataset.topic, `${dataset.topic}.dlq`])
}
