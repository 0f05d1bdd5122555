import type { BatonError } from '../../actors/core/errors.ts'
import type {
  Checkpoints,
  DeadLetterPublisher,
  PartitionFeed,
  Sink,
  SinkKind,
  TopicPartition,
} from '../../actors/ports.ts'
import type { QuarantineStore } from '../../actors/quarantine.ts'
import type { MembershipRegistry } from '../../cluster/membership.ts'
import type { DeadLetterPage, IngestEvent } from '../node-api.ts'
import type { QuarantineApi } from './quarantine-api.ts'

/**
 * What differs between embedded and cluster mode, behind one interface: the node (runtime/node/node.ts) runs
 * the same coordinator, partition actors, HTTP API and metrics over either.
 */
export interface Backend {
  readonly sinkKind: SinkKind
  readonly sink: Sink
  readonly checkpoints: Checkpoints
  /** null when the sink's dead-letter table is the dead-letter queue (embedded mode). */
  readonly deadLetters: DeadLetterPublisher | null
  /** The group's membership registry; absent in embedded mode, where the node is alone. */
  readonly membership?: MembershipRegistry
  /** A new feed for a partition this node was assigned. */
  openFeed(tp: TopicPartition): PartitionFeed
  /** The source's fetch budget: bytes held and the limit (cluster mode; absent when there is none). */
  readonly fetchBuffer?: () => { readonly heldBytes: number; readonly limitBytes: number }
  /** Partitions of a served topic, undefined for a topic this node does not serve. */
  partitionCount(topic: string): number | undefined
  /**
   * Starts delivering assignments: `assign` and `revoke` are awaited before the backend goes on (a
   * revoked partition is released only once its actor has drained).
   */
  startAssignments(handlers: AssignmentHandlers): Promise<void>
  /** Revokes everything (through `revoke`) and leaves the group; part of a graceful stop. */
  stopAssignments(): Promise<void>
  ingest(
    topic: string,
    events: readonly IngestEvent[],
  ): Promise<readonly { partition: number; offset: number }[]>
  /** The first offset at or after `time` (ms) in a partition, for a seek by timestamp. */
  offsetForTime(tp: TopicPartition, time: number): Promise<number>
  listDeadLetters(query: {
    topic?: string
    partition?: number
    limit: number
    after?: number
  }): Promise<DeadLetterPage>
  replayDeadLetters(
    selection: { ids: readonly number[] } | { topic: string; partition?: number },
  ): Promise<number>
  /** The sink's quarantine tables (issue 20), which partition actors write and release through. */
  readonly quarantine: QuarantineStore
  listQuarantine: QuarantineApi['listQuarantine']
  letterHold: QuarantineApi['letterHold']
  /** Why the backend is not ready (a service unreachable), empty when it is. */
  problems(): string[]
  close(): Promise<void>
}

export interface AssignmentHandlers {
  /** Throws when a partition could not be started; the backend retries, so it must be safe to repeat. */
  assign(partitions: readonly TopicPartition[]): Promise<void>
  revoke(partitions: readonly TopicPartition[]): Promise<void>
  /**
   * `assign` kept failing (ASSIGNMENT_FAILED): the node must leave the group (`stopAssignments`, not from
   * inside this call) and exit non-zero. Never called in embedded mode, where a failed `assign` fails the start.
   */
  failed(error: BatonError): void
}
