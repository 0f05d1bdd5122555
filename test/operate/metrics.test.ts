import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import pkg from '../../package.json'
import { ClusterScenario } from '../cluster/harness.ts'
import { type BusyNode, PARTITIONS, startBusyNode } from './busy-node.ts'
import { type Exposition, parseExposition, promtoolCheckMetrics, total } from './exposition.ts'

/** Every metric issue 7 asks for, with its type and the labels each of its series carries. */
const CONTRACT: readonly { name: string; type: string; labels: readonly string[] }[] = [
  { name: 'baton_events_consumed_total', type: 'counter', labels: ['topic'] },
  { name: 'baton_events_processed_total', type: 'counter', labels: ['topic', 'partition', 'outcome'] },
  { name: 'baton_events_dead_lettered_total', type: 'counter', labels: ['topic', 'partition'] },
  { name: 'baton_batch_size_events', type: 'histogram', labels: ['topic'] },
  { name: 'baton_batch_commit_duration_seconds', type: 'histogram', labels: ['topic'] },
  { name: 'baton_end_to_end_latency_seconds', type: 'histogram', labels: ['topic'] },
  { name: 'baton_consumer_lag_events', type: 'gauge', labels: ['topic', 'partition'] },
  { name: 'baton_consumer_lag_seconds', type: 'gauge', labels: ['topic', 'partition'] },
  { name: 'baton_actor_restarts_total', type: 'counter', labels: ['topic', 'partition'] },
  { name: 'baton_fenced_commits_total', type: 'counter', labels: ['topic', 'partition'] },
  { name: 'baton_mailbox_depth', type: 'gauge', labels: ['topic', 'partition'] },
  { name: 'baton_checkpoint_duration_seconds', type: 'histogram', labels: ['topic'] },
  { name: 'baton_rebalances_total', type: 'counter', labels: [] },
  { name: 'baton_owned_partitions', type: 'gauge', labels: ['topic'] },
  { name: 'baton_build_info', type: 'gauge', labels: ['version', 'node', 'bun'] },
  // Issue 18, for the alerts (baton_memory_limit_bytes only exists under a cgroup memory limit).
  { name: 'baton_ready', type: 'gauge', labels: [] },
  { name: 'baton_cluster_partitions', type: 'gauge', labels: ['topic'] },
  { name: 'baton_cluster_unowned_partitions', type: 'gauge', labels: ['topic'] },
  { name: 'baton_cluster_claimed_twice_partitions', type: 'gauge', labels: ['topic'] },
  // prom-client's default process metrics, prefixed baton_ like the rest.
  { name: 'baton_process_cpu_seconds_total', type: 'counter', labels: [] },
  { name: 'baton_process_resident_memory_bytes', type: 'gauge', labels: [] },
  { name: 'baton_process_start_time_seconds', type: 'gauge', labels: [] },
  { name: 'baton_process_open_fds', type: 'gauge', labels: [] },
  { name: 'baton_nodejs_heap_size_used_bytes', type: 'gauge', labels: [] },
  { name: 'baton_nodejs_eventloop_lag_seconds', type: 'gauge', labels: [] },
]

/** The series of one family (for a histogram, its `_count` series: one per label set). */
function series(e: Exposition, name: string) {
  const sampleName = e.types.get(name) === 'histogram' ? `${name}_count` : name
  return e.samples.filter((s) => s.name === sampleName)
}

const byPartition = (e: Exposition, name: string) =>
  Object.fromEntries(series(e, name).map((s) => [Number(s.labels.partition), s.value]))

function expectContract(e: Exposition): void {
  for (const { name, type, labels } of CONTRACT) {
    expect({ name, type: e.types.get(name) }).toEqual({ name, type })
    const found = series(e, name)
    expect({ name, series: found.length > 0 }).toEqual({ name, series: true })
    for (const s of found)
      expect({ name, labels: Object.keys(s.labels).sort() }).toEqual({ name, labels: [...labels].sort() })
  }
}

describe('a real embedded node’s /metrics', () => {
  let busy: BusyNode
  beforeAll(async () => {
    busy = await startBusyNode()
  }, 90_000)
  afterAll(() => busy?.close())

  test('passes promtool check metrics and has every metric of the contract, with its type and labels', async () => {
    const body = await busy.scrape()
    expect(promtoolCheckMetrics(body)).toEqual({ exitCode: 0, output: '' })
    expectContract(parseExposition(body))
  })

  test('counts what happened: events consumed, stored, dead-lettered, batches, commits, checkpoints', async () => {
    const e = parseExposition(await busy.scrape())
    const committed = busy.stored + busy.deadLettered
    expect(total(e, 'baton_events_consumed_total')).toBe(committed)
    expect(total(e, 'baton_events_processed_total', { outcome: 'stored' })).toBe(busy.stored)
    expect(total(e, 'baton_events_processed_total', { outcome: 'dead_lettered' })).toBe(busy.deadLettered)
    expect(total(e, 'baton_events_dead_lettered_total')).toBe(busy.deadLettered)
    expect(total(e, 'baton_batch_size_events_sum')).toBe(committed)
    for (const histogram of [
      'baton_batch_size_events',
      'baton_batch_commit_duration_seconds',
      'baton_end_to_end_latency_seconds',
      'baton_checkpoint_duration_seconds',
    ]) {
      expect({ histogram, observed: total(e, `${histogram}_count`) > 0 }).toEqual({
        histogram,
        observed: true,
      })
    }
  })

  test('node-level metrics: owned partitions, rebalances, build info, process metrics', async () => {
    const e = parseExposition(await busy.scrape())
    expect(total(e, 'baton_owned_partitions', { topic: 'events' })).toBe(PARTITIONS)
    expect(total(e, 'baton_rebalances_total')).toBeGreaterThanOrEqual(1)
    expect(series(e, 'baton_build_info').map((s) => [s.labels.node, s.labels.version, s.value])).toEqual([
      ['baton-0', pkg.version, 1],
    ])
    expect(total(e, 'baton_process_resident_memory_bytes')).toBeGreaterThan(0)
    expect(total(e, 'baton_process_start_time_seconds')).toBeGreaterThan(0)
  })

  test('every owned partition has its restart, fenced-commit and mailbox series from the start, at 0 while nothing happened', async () => {
    const e = parseExposition(await busy.scrape())
    const zeros = Object.fromEntries(Array.from({ length: PARTITIONS }, (_, p) => [p, 0]))
    expect(byPartition(e, 'baton_actor_restarts_total')).toEqual(zeros)
    expect(byPartition(e, 'baton_fenced_commits_total')).toEqual(zeros)
    expect(Object.keys(byPartition(e, 'baton_mailbox_depth'))).toHaveLength(PARTITIONS)
  })

  test('a scrape reports the paused partition’s lag in events and seconds, unasked, and 0 again once it caught up', async () => {
    const { partition, waiting } = busy.paused
    expect(waiting).toBeGreaterThan(0)
    const lagging = parseExposition(
      await busy.scrapeUntil((e) => byPartition(e, 'baton_consumer_lag_events')[partition] === waiting),
    )
    expect(byPartition(lagging, 'baton_consumer_lag_seconds')[partition]).toBeGreaterThan(0)
    for (let p = 0; p < PARTITIONS; p++) {
      if (p !== partition)
        expect({ p, lag: byPartition(lagging, 'baton_consumer_lag_events')[p] }).toEqual({ p, lag: 0 })
    }

    const resumed = await fetch(`${busy.node.url}/v1/actors/events/${partition}/resume`, {
      method: 'POST',
      headers: { authorization: 'Bearer operate-test-token' },
    })
    expect(resumed.status).toBe(200)
    // The events arrive after the resume answer: the gauge reaches 0 only if a scrape reads the lag then.
    const caughtUp = parseExposition(
      await busy.scrapeUntil(
        (e) =>
          total(e, 'baton_events_processed_total') === busy.stored + busy.deadLettered + waiting &&
          byPartition(e, 'baton_consumer_lag_events')[partition] === 0,
      ),
    )
    expect(byPartition(caughtUp, 'baton_consumer_lag_seconds')[partition]).toBe(0)
  }, 60_000)
})

describe('real cluster nodes’ /metrics (Kafka, PostgreSQL, Redis)', () => {
  let scenario: ClusterScenario | undefined
  afterEach(async () => {
    await scenario?.cleanup()
    scenario = undefined
  })

  test('two nodes: each passes promtool and the contract; ownership and lag series split the partitions between them after the rebalance', async () => {
    scenario = new ClusterScenario({ keys: 100, valueBytes: 50, poison: 0.01 })
    await scenario.createTopics()
    await scenario.produce(2_000)
    const first = await scenario.startNode('baton-0')
    await scenario.caughtUp(60_000)
    const second = await scenario.startNode('baton-1')

    const scrape = async (url: string) => parseExposition(await (await fetch(`${url}/metrics`)).text())
    const topic = scenario.topic
    const lagPartitions = (e: Exposition) =>
      series(e, 'baton_consumer_lag_events')
        .filter((s) => s.labels.topic === topic)
        .map((s) => Number(s.labels.partition))
    // Settled: each node owns some partitions, together all of them, and each node's scrape
    // reports exactly its own partitions (the revoked ones' series are gone from the first node).
    const deadline = Date.now() + 60_000
    let views: Exposition[] = []
    for (;;) {
      views = await Promise.all([first.url, second.url].map(scrape))
      const owned = views.map((e) => total(e, 'baton_owned_partitions', { topic }))
      const lagged = views.map(lagPartitions)
      const settled =
        owned.every((n) => n > 0) &&
        (owned[0] as number) + (owned[1] as number) === scenario.partitions &&
        lagged.every((l, i) => l.length === owned[i])
      if (settled) break
      if (Date.now() > deadline)
        throw new Error(
          `no settled ownership within 60 s: owned ${owned}, lag series ${JSON.stringify(lagged)}`,
        )
      await Bun.sleep(250)
    }
    const [a, b] = views.map(lagPartitions) as [number[], number[]]
    expect([...a, ...b].sort((x, y) => x - y)).toEqual(
      Array.from({ length: scenario.partitions }, (_, p) => p),
    )

    // Events for both nodes, so each has committed batches (histograms have series).
    await scenario.produce(1_000)
    await scenario.caughtUp(60_000)
    for (const [i, node] of [first, second].entries()) {
      const body = await (await fetch(`${node.url}/metrics`)).text()
      expect(promtoolCheckMetrics(body)).toEqual({ exitCode: 0, output: '' })
      const e = parseExposition(body)
      expectContract(e)
      expect(series(e, 'baton_build_info')[0]?.labels.node).toBe(`baton-${i}`)
      // Cluster mode only: the Kafka source's fetch budget (BATON_FETCH_BUFFER_BYTES, 8 MiB by default).
      expect(e.types.get('baton_fetch_buffer_bytes')).toBe('gauge')
      expect(total(e, 'baton_fetch_buffer_limit_bytes')).toBe(8 * 1024 * 1024)
    }
    // The first node was assigned everything, then gave some partitions up when the second joined.
    expect(total(views[0] as Exposition, 'baton_rebalances_total')).toBeGreaterThanOrEqual(2)
  }, 180_000)
})
