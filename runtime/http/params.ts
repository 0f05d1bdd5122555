import { BatonError } from '../../actors/core/errors.ts'
import type { NodeApi } from '../node-api.ts'

/** Kafka's rule for topic names. */
export const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/

const TOPIC_RULE = 'a topic name is 1 to 249 of the characters a-z A-Z 0-9 . _ -'

/**
 * The topic of a route, if it is a valid name (else BAD_REQUEST) and the node serves it (else NOT_FOUND).
 */
export function servedTopic(node: NodeApi, raw: string): string {
  if (!TOPIC_NAME.test(raw)) {
    throw new BatonError('BAD_REQUEST', `${quote(raw)} is not a valid topic name: ${TOPIC_RULE}`)
  }
  if (!node.topics.includes(raw)) {
    throw new BatonError(
      'NOT_FOUND',
      `topic ${quote(raw)} is not served by this node; it serves ${node.topics.map(quote).join(', ') || 'no topics'}`,
    )
  }
  return raw
}

/**
 * The partition number of a route: a non-negative whole number (else BAD_REQUEST) below the topic's
 * partition count when the node knows it (else NOT_FOUND). An unknown count is left to the node to judge.
 */
export function partitionOf(node: NodeApi, topic: string, raw: string): number {
  if (!/^\d{1,10}$/.test(raw)) {
    throw new BatonError(
      'BAD_REQUEST',
      `partition ${quote(raw)} is not a partition number: use a whole number from 0`,
    )
  }
  const partition = Number(raw)
  const count = node.partitionCount(topic)
  if (count !== undefined && partition >= count) {
    throw new BatonError(
      'NOT_FOUND',
      `topic ${quote(topic)} has no partition ${partition}; ${count === 0 ? 'it has none yet' : `its partitions are 0 to ${count - 1}`}`,
    )
  }
  return partition
}

/** User input echoed in a message: quoted, escaped, and short. */
function quote(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text)
}
