import type { IngestEvent, NodeApi, PartitionView } from '../node-api.ts'

/** A call that a TestNode received. */
export interface RecordedCall {
  readonly method: string
  readonly args: readonly unknown[]
}

/** A NodeApi of plain objects for HTTP tests: it records every call and answers with canned data. */
export type TestNode = NodeApi & { readonly calls: RecordedCall[] }

/**
 * A node serving topics `events` (8 partitions) and `orders` (2 partitions) whose methods record their
 * calls; `overrides` replace any method, e.g. one that throws NO_OWNER.
 *
 * @example const node = testNode({ partition: async () => { throw new BatonError('NO_OWNER', 'x') } })
 */
export function testNode(overrides: Partial<NodeApi> = {}): TestNode {
  const calls: RecordedCall[] = []
  const counts: Record<string, number> = { events: 8, orders: 2 }
  const view = (
    topic: string,
    partition: number,
    status: PartitionView['status'] = 'running',
  ): PartitionView => ({
    topic,
    partition,
    node: 'baton-0',
    answeredBy: 'baton-0',
    status,
    epoch: 3,
    committedOffset: 41,
    highWatermark: 42,
    lag: 1,
    lagSeconds: 0.1,
    inFlight: 0,
    quarantinedKeys: 0,
    quarantinedEvents: 0,
    eventsPerSec: 0,
    events: 42,
    deadLetters: 0,
    batches: 5,
    restarts: 0,
    fencedCommits: 0,
    lastError: null,
    latencyMs: {
      fetchWait: { p50: null, p99: null },
      handle: { p50: null, p99: null },
      commit: { p50: null, p99: null },
      checkpoint: { p50: null, p99: null },
    },
  })
  const base: NodeApi = {
    nodeId: 'baton-0',
    mode: 'embedded',
    topics: ['events', 'orders'],
    partitionCount: (topic) => counts[topic],
    health: () => ({ ok: true, uptimeSeconds: 12 }),
    readiness: () => ({ ready: true, reasons: [] }),
    actors: () => ({ name: 'root', children: [] }),
    partition: async (topic, partition) => view(topic, partition),
    forward: async () => null,
    cluster: async () => ({ nodes: [{ id: 'baton-0' }] }),
    ingest: async (_topic, events: readonly IngestEvent[]) =>
      events.map((_, i) => ({ partition: i % 8, offset: i })),
    pause: async (topic, partition) => view(topic, partition, 'paused'),
    resume: async (topic, partition) => view(topic, partition),
    seek: async (topic, partition) => view(topic, partition),
    restart: async (topic, partition) => view(topic, partition, 'starting'),
    deadLetters: async () => ({ entries: [], next: null }),
    replay: async () => ({ replayed: 2 }),
    quarantine: async () => ({ entries: [], next: null }),
    letterPartition: async () => ({ topic: 'orders', partition: 1 }),
    decide: async (id, outcome) => ({ status: 200, body: { deadLetterId: id, outcome, released: 3 } }),
    metrics: async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', body: 'baton_up 1\n' }),
  }
  const node = { ...base, ...overrides }
  const recorded = { calls } as TestNode & Record<string, unknown>
  for (const [name, member] of Object.entries(node)) {
    recorded[name] =
      typeof member === 'function'
        ? (...args: unknown[]) => {
            calls.push({ method: name, args })
            return (member as (...a: unknown[]) => unknown)(...args)
          }
        : member
  }
  return recorded
}

/** The JSON body of a response, with its fields open to inspection in tests. */
export async function jsonOf(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>
}
