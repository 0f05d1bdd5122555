import { type Clock, realClock } from '../actors/core/clock.ts'
import { type TopicPartition, tpString } from '../actors/ports.ts'
import { type ClusterView, clusterView } from './cluster-view.ts'
import type { OwnedPartition } from './coordinator.ts'
import { type ForwardOptions, forwardToClaimants } from './forward.ts'
import type { Member, MembershipRegistry, PartitionClaim } from './membership.ts'
import type { OwnerAnswer, OwnerRequest } from './messages.ts'

export interface PeersOptions {
  readonly nodeId: string
  /** When this node started (ms since the epoch). */
  readonly startedAt: number
  /** The group's registry; null in embedded mode, where this node is alone and answers for itself. */
  readonly registry: MembershipRegistry | null
  /** The coordinator's map of the partitions this node runs (read, never written). */
  readonly owned: ReadonlyMap<string, OwnedPartition>
  /** Partitions of a served topic (undefined for others): the rows `GET /v1/cluster` checks for an owner. */
  readonly partitionCount: (topic: string) => number | undefined
  readonly topics: readonly string[]
  readonly forward?: Omit<ForwardOptions, 'self'>
  /** Default realClock. */
  readonly clock?: Clock
}

/** This node among the others: what it publishes, what it knows of the rest, and where requests go. */
export interface Peers {
  /** Publishes this node, reachable at `httpUrl`; call once, when the HTTP server listens. */
  join(httpUrl: string): void
  /** The coordinator's owned set changed: publish it now. */
  ownedChanged(): void
  /** `GET /v1/cluster`. Throws REGISTRY_UNAVAILABLE when the registry does not answer. */
  cluster(): Promise<ClusterView>
  /** NodeApi.forward: null to answer here, else the owner's answer (see there for the errors). */
  forward(tp: TopicPartition, request: OwnerRequest): Promise<OwnerAnswer | null>
  /** Why other nodes may not see this node as it is (its registry writes fail); empty when fine. */
  problems(): string[]
  /** Removes this node from the registry; call after its partitions were revoked. */
  leave(): Promise<void>
}

/**
 * The node's view of the cluster over the membership registry. The partitions it claims are the
 * coordinator's owned set with each actor's epoch (0 until the actor took one; the registry republishes
 * as soon as the epoch changes). Without a registry (embedded mode) it is a cluster of one.
 */
export function createPeers(options: PeersOptions): Peers {
  const { registry, nodeId, owned } = options
  const clock = options.clock ?? realClock
  const startedAt = new Date(options.startedAt).toISOString()
  let httpUrl = ''
  const claims = (): PartitionClaim[] =>
    [...owned.values()].map((o) => ({ topic: o.tp.topic, partition: o.tp.partition, epoch: o.stats.epoch }))
  const counts = () =>
    new Map(options.topics.map((topic) => [topic, options.partitionCount(topic) ?? 0] as const))

  return {
    join(url) {
      httpUrl = url.replace(/\/+$/, '')
      registry?.join({ id: nodeId, httpUrl, startedAt }, claims)
    },

    ownedChanged() {
      registry?.changed()
    },

    async cluster() {
      const members: Member[] = registry
        ? await registry.members()
        : [
            {
              id: nodeId,
              httpUrl,
              startedAt,
              updatedAt: new Date(clock.now()).toISOString(),
              partitions: claims(),
            },
          ]
      return clusterView(nodeId, members, counts())
    },

    async forward(tp, request) {
      if (!registry || request.forwardedBy !== undefined || owned.has(tpString(tp))) return null
      const claimants = ownersFirst(await registry.members(), tp, nodeId)
      return forwardToClaimants(tp, claimants, request, { ...options.forward, self: nodeId })
    },

    problems() {
      const problem = registry?.problem()
      return problem ? [problem] : []
    },

    async leave() {
      await registry?.leave()
    },
  }
}

/**
 * The other members that claim `tp`, the likeliest owner first: the highest epoch (the one the watermark
 * lets commit), then the most recent record. Two claimants exist only for moments: a node that died and
 * whose record has not expired yet, or a member that lost its session and has not heard so.
 */
export function ownersFirst(members: readonly Member[], tp: TopicPartition, self: string): Member[] {
  const epochOf = (m: Member) =>
    m.partitions.find((c) => c.topic === tp.topic && c.partition === tp.partition)?.epoch
  return members
    .filter((m) => m.id !== self && epochOf(m) !== undefined)
    .sort((a, b) => (epochOf(b) ?? 0) - (epochOf(a) ?? 0) || b.updatedAt.localeCompare(a.updatedAt))
}
