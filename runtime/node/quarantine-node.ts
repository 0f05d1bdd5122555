import { BatonError } from '../../actors/core/errors.ts'
import type { ActorRef } from '../../actors/core/index.ts'
import type { PartitionMsg, ReleaseReply } from '../../actors/partition/partition-actor.ts'
import type { TopicPartition } from '../../actors/ports.ts'
import { noOwner } from '../../cluster/coordinator.ts'
import type { Backend } from '../backends/backend.ts'
import type { NodeApi } from '../node-api.ts'

export interface QuarantineNodeDeps {
  readonly backend: Pick<Backend, 'listQuarantine' | 'letterHold'>
  /** NOT_FOUND for a topic or partition this node does not serve. */
  readonly checkPartition: (topic: string, partition: number) => TopicPartition
  readonly partitionRef: (tp: TopicPartition) => ActorRef<PartitionMsg> | undefined
}

/**
 * The node's side of GET /v1/quarantine and POST /v1/dlq/:id/{retry,skip}: the letter is looked up in the
 * sink, and its retry or skip is handed to the partition actor that owns the letter's partition on this
 * node (the HTTP layer forwarded it here first), which runs the release between its batches.
 */
export function quarantineNode(
  deps: QuarantineNodeDeps,
): Pick<NodeApi, 'quarantine' | 'letterPartition' | 'decide'> {
  return {
    quarantine: (query) => deps.backend.listQuarantine(query),
    async letterPartition(id) {
      const { hold } = await deps.backend.letterHold(id)
      return { topic: hold.topic, partition: hold.partition }
    },
    async decide(id, outcome) {
      const { letter, hold } = await deps.backend.letterHold(id)
      const tp = deps.checkPartition(hold.topic, hold.partition)
      const ref = deps.partitionRef(tp)
      if (!ref) throw noOwner(tp)
      const reply = await ref.ask<ReleaseReply>(
        (r) => ({
          type: 'release',
          letterId: id,
          recordKey: hold.key,
          outcome,
          letter: letter.record,
          reply: r,
        }),
        { timeoutMs: 25_000 },
      )
      switch (reply.status) {
        case 'done':
        case 'held':
        case 'releasing':
          return {
            status: reply.status === 'releasing' ? 202 : 200,
            body: {
              deadLetterId: id,
              outcome,
              released: reply.released,
              ...(reply.newHeadLetterId !== undefined && { heldBy: reply.newHeadLetterId }),
            },
          }
        case 'failed':
          throw new BatonError(
            'RETRY_FAILED',
            `The retried event of dead letter ${id} failed again: ${reply.error}. Nothing was changed; its key stays quarantined. Deploy a fix and retry, or skip it.`,
          )
        case 'conflict':
          throw new BatonError('QUARANTINE_CONFLICT', reply.error)
        case 'moved':
          throw new BatonError(
            'NO_OWNER',
            `Partition ${tp.partition} of topic "${tp.topic}" changed hands while dead letter ${id} was being decided; nothing was changed. Retry in a few seconds: the new owner takes it.`,
          )
        case 'unavailable':
          throw new BatonError('SINK_UNAVAILABLE', `${reply.error} Nothing was changed; retry.`)
      }
    },
  }
}
