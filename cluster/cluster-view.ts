import type { TopicPartition } from '../actors/ports.ts'
import type { Member } from './membership.ts'

/** One partition and the live node that owns it. */
export interface PartitionOwnership {
  readonly topic: string
  readonly partition: number
  /** The claimant with the highest epoch (the one the watermark lets commit); null when nobody claims it. */
  readonly owner: string | null
  readonly epoch: number | null
}

/** A partition that two or more live nodes claim at once, with each claim. */
export interface DoubleClaim extends TopicPartition {
  readonly claimedBy: readonly { readonly node: string; readonly epoch: number }[]
}

/** `GET /v1/cluster`: every live node, who owns which partition, and what is wrong with that. */
export interface ClusterView {
  /** The node that answered. */
  readonly answeredBy: string
  readonly nodes: readonly Member[]
  readonly partitions: readonly PartitionOwnership[]
  /** Partitions of the served topics that no live node claims. */
  readonly unowned: readonly TopicPartition[]
  /** Partitions that more than one live node claims. */
  readonly claimedTwice: readonly DoubleClaim[]
}

/**
 * Who owns what, from the members' records and the served topics' partition counts: one row per
 * partition of each served topic (plus any other partition someone claims), sorted by topic and partition.
 *
 * @example clusterView('baton-0', members, new Map([['orders', 8]])).unowned // [{ topic: 'orders', partition: 5 }]
 */
export function clusterView(
  answeredBy: string,
  members: readonly Member[],
  partitionCounts: ReadonlyMap<string, number>,
): ClusterView {
  const claims = new Map<string, { tp: TopicPartition; by: { node: string; epoch: number }[] }>()
  const entry = (topic: string, partition: number) => {
    const key = `${topic}\u0000${partition}`
    let found = claims.get(key)
    if (!found) {
      found = { tp: { topic, partition }, by: [] }
      claims.set(key, found)
    }
    return found
  }
  for (const [topic, count] of partitionCounts) {
    for (let partition = 0; partition < count; partition++) entry(topic, partition)
  }
  for (const member of members) {
    for (const { topic, partition, epoch } of member.partitions) {
      entry(topic, partition).by.push({ node: member.id, epoch })
    }
  }
  const rows = [...claims.values()].sort(
    (a, b) => a.tp.topic.localeCompare(b.tp.topic) || a.tp.partition - b.tp.partition,
  )
  return {
    answeredBy,
    nodes: [...members].sort((a, b) => a.id.localeCompare(b.id)),
    partitions: rows.map(({ tp, by }) => {
      const owner = newest(by)
      return { ...tp, owner: owner?.node ?? null, epoch: owner?.epoch ?? null }
    }),
    unowned: rows.filter((r) => r.by.length === 0).map((r) => r.tp),
    claimedTwice: rows
      .filter((r) => r.by.length > 1)
      .map((r) => ({ ...r.tp, claimedBy: [...r.by].sort((a, b) => b.epoch - a.epoch) })),
  }
}

function newest<T extends { epoch: number }>(claims: readonly T[]): T | undefined {
  return claims.reduce<T | undefined>(
    (best, c) => (best === undefined || c.epoch > best.epoch ? c : best),
    undefined,
  )
}
