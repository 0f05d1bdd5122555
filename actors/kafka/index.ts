/**
 * baton's Kafka adapters (cluster mode): the group source that feeds partition actors, topic set-up, the
 * producer behind `POST /v1/topics/:topic/events` and `baton produce`, and the dead-letter publisher.
 */
export {
  deadLetterTopic,
  deleteTopics,
  type EnsuredTopics,
  type EnsureTopicsOptions,
  ensureTopics,
} from './admin.ts'
export {
  deadLetterHeaders,
  KafkaDeadLetterPublisher,
  type KafkaDeadLetterPublisherOptions,
} from './dead-letter-publisher.ts'
export { defaultFetchTuning, type FetchTuning } from './fetch-request.ts'
export {
  type AssignmentListener,
  KafkaGroupSource,
  type KafkaGroupSourceOptions,
  type SourceStatus,
} from './group-source.ts'
export type { KafkaLog } from './kafka-client.ts'
export { PartitionReader } from './partition-reader.ts'
export {
  type EventToProduce,
  KafkaEventProducer,
  type KafkaEventProducerOptions,
  type ProducedEvent,
} from './producer.ts'
