import { describe, expect, test } from 'bun:test'
import { createMetrics, type Metrics, type PartitionReading } from './metrics.ts'

const orders0 = { group: 'baton', topic: 'orders', partition: 0 }
const orders1 = { group: 'baton', topic: 'orders', partition: 1 }

function observeSome(metrics: Metrics): void {
  metrics.rebalance()
  metrics.ownedPartitions('orders', 2)
  metrics.watchPartitions(() =>
    [orders0, orders1].map((tp) => ({ tp, lag: { events: 40, seconds: 1.5 }, mailboxDepth: 3 })),
  )
  for (const key of [orders0, orders1]) {
    metrics.consumed(key, 120)
    metrics.committed(key, { events: 118, deadLetters: 2, commitSeconds: 0.004, oldestEventSeconds: 0.3 })
    metrics.checkpointed(key, 0.0007)
  }
  metrics.fenced(orders1)
  metrics.restart(orders1)
  metrics.sinkTransaction(1)
  metrics.sinkTransaction(12)
}

/** The value of one sample line, e.g. `baton_rebalances_total` or `name{labels}`; undefined when absent. */
function sample(body: string, series: string): number | undefined {
  const line = body.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

describe('createMetrics', () => {
  test('the exposition passes promtool check metrics', async () => {
    const promtool = Bun.which('promtool')
    if (promtool === null) {
      throw new Error(
        'promtool not found: install the Debian package "prometheus" (apt-get install -y prometheus)',
      )
    }
    const metrics = createMetrics({ nodeId: 'baton-0', version: '0.1.0' })
    observeSome(metrics)
    const { body, contentType } = await metrics.render()
    expect(contentType).toStartWith('text/plain; version=0.0.4')
    const check = Bun.spawnSync([promtool, 'check', 'metrics'], { stdin: Buffer.from(body) })
    const output = `${check.stdout.toString()}${check.stderr.toString()}`
    expect(output).toBe('')
    expect(check.exitCode).toBe(0)
  })

  test("leaves out the process defaults that cost a heap walk per scrape under Bun, keeps the heap's size", async () => {
    const { body } = await createMetrics({ nodeId: 'baton-0', version: '0.1.0' }).render()
    expect(body).not.toContain('baton_nodejs_heap_space_size_')
    expect(sample(body, 'baton_nodejs_heap_size_used_bytes')).toBeGreaterThan(0)
  })

  test('reports every metric of the contract with its labels', async () => {
    const metrics = createMetrics({ nodeId: 'baton-0', version: '0.1.0' })
    observeSome(metrics)
    const { body } = await metrics.render()
    const p1 = 'topic="orders",partition="1"'
    // Per topic: both partitions' observations together.
    const orders = 'topic="orders"'
    expect(sample(body, `baton_events_consumed_total{${orders}}`)).toBe(240)
    expect(sample(body, `baton_events_processed_total{${p1},outcome="stored"}`)).toBe(118)
    expect(sample(body, `baton_events_processed_total{${p1},outcome="dead_lettered"}`)).toBe(2)
    expect(sample(body, `baton_events_dead_lettered_total{${p1}}`)).toBe(2)
    expect(sample(body, `baton_batch_size_events_bucket{le="100",${orders}}`)).toBe(0)
    expect(sample(body, `baton_batch_size_events_bucket{le="250",${orders}}`)).toBe(2)
    expect(sample(body, `baton_batch_commit_duration_seconds_bucket{le="0.005",${orders}}`)).toBe(2)
    expect(sample(body, `baton_end_to_end_latency_seconds_sum{${orders}}`)).toBe(0.6)
    expect(sample(body, `baton_checkpoint_duration_seconds_count{${orders}}`)).toBe(2)
    expect(sample(body, `baton_consumer_lag_events{${p1}}`)).toBe(40)
    expect(sample(body, `baton_consumer_lag_seconds{${p1}}`)).toBe(1.5)
    expect(sample(body, `baton_mailbox_depth{${p1}}`)).toBe(3)
    expect(sample(body, `baton_fenced_commits_total{${p1}}`)).toBe(1)
    expect(sample(body, `baton_actor_restarts_total{${p1}}`)).toBe(1)
    expect(sample(body, 'baton_rebalances_total')).toBe(1)
    expect(sample(body, 'baton_sink_transaction_batches_bucket{le="8"}')).toBe(1)
    expect(sample(body, 'baton_sink_transaction_batches_sum')).toBe(13)
    expect(sample(body, 'baton_owned_partitions{topic="orders"}')).toBe(2)
    expect(sample(body, `baton_build_info{version="0.1.0",node="baton-0",bun="${Bun.version}"}`)).toBe(1)
    expect(sample(body, 'baton_process_cpu_seconds_total')).toBeGreaterThanOrEqual(0)
    expect(sample(body, 'baton_process_resident_memory_bytes')).toBeGreaterThan(0)
  })

  test('counters of a partition start at 0 when the partition is first seen', async () => {
    const metrics = createMetrics({ nodeId: 'baton-0', version: '0.1.0' })
    metrics.watchPartitions(() => [{ tp: orders0, lag: null, mailboxDepth: 0 }])
    const { body } = await metrics.render()
    const p0 = 'topic="orders",partition="0"'
    expect(sample(body, 'baton_events_consumed_total{topic="orders"}')).toBe(0)
    expect(sample(body, `baton_events_processed_total{${p0},outcome="dead_lettered"}`)).toBe(0)
    expect(sample(body, `baton_fenced_commits_total{${p0}}`)).toBe(0)
  })

  test('observations accumulate on the cached children', async () => {
    const metrics = createMetrics({ nodeId: 'baton-0', version: '0.1.0' })
    metrics.consumed(orders0, 5)
    metrics.consumed({ ...orders0 }, 7)
    const { body } = await metrics.render()
    expect(sample(body, 'baton_events_consumed_total{topic="orders"}')).toBe(12)
  })

  test('forget drops the gauges of a revoked partition and keeps its counts, fenced commits among them', async () => {
    const metrics = createMetrics({ nodeId: 'baton-0', version: '0.1.0' })
    let owned = [orders0, orders1]
    observeSome(metrics)
    metrics.watchPartitions(() =>
      owned.map((tp) => ({ tp, lag: { events: 40, seconds: 1.5 }, mailboxDepth: 0 })),
    )
    await metrics.render()
    owned = [orders0]
    metrics.forget(orders1)
    const { body } = await metrics.render()
    expect(body).not.toContain('baton_consumer_lag_events{topic="orders",partition="1"}')
    expect(body).not.toContain('baton_mailbox_depth{topic="orders",partition="1"}')
    expect(sample(body, 'baton_fenced_commits_total{topic="orders",partition="1"}')).toBe(1)
    expect(sample(body, `baton_events_dead_lettered_total{topic="orders",partition="1"}`)).toBe(2)

    // Assigned again, the partition's counters go on from where they were.
    metrics.fenced(orders1)
    const again = await metrics.render()
    expect(sample(again.body, 'baton_fenced_commits_total{topic="orders",partition="1"}')).toBe(2)
  })

  test('values prom-client would throw on are dropped, never thrown', async () => {
    const metrics = createMetrics({ nodeId: 'baton-0', version: '0.1.0' })
    expect(() => {
      metrics.consumed(orders0, -1)
      metrics.consumed(orders0, Number.NaN)
      metrics.consumed(orders0, Number.POSITIVE_INFINITY)
      metrics.committed(orders0, {
        events: -2,
        deadLetters: Number.NaN,
        commitSeconds: -1,
        oldestEventSeconds: Number.NaN,
      })
      metrics.checkpointed(orders0, Number.POSITIVE_INFINITY)
    }).not.toThrow()
    metrics.quarantined?.(orders0, Number.NaN, 3)
    const { body } = await metrics.render()
    const p0 = 'topic="orders",partition="0"'
    expect(sample(body, 'baton_events_consumed_total{topic="orders"}')).toBe(0)
    expect(sample(body, `baton_events_processed_total{${p0},outcome="stored"}`)).toBe(0)
    expect(sample(body, `baton_events_processed_total{${p0},outcome="dead_lettered"}`)).toBe(0)
    expect(sample(body, 'baton_batch_commit_duration_seconds_count{topic="orders"}')).toBe(undefined)
    expect(body).not.toContain(`baton_quarantined_keys{${p0}}`)
    expect(sample(body, `baton_quarantined_events{${p0}}`)).toBe(3)
  })

  test('quarantine gauges say the last count per partition until the partition is forgotten', async () => {
    const metrics = createMetrics({ nodeId: 'baton-0', version: '0.1.0' })
    const p0 = 'topic="orders",partition="0"'
    metrics.quarantined?.(orders0, 2, 9)
    metrics.quarantined?.(orders0, 1, 4)
    const before = (await metrics.render()).body
    expect(sample(before, `baton_quarantined_keys{${p0}}`)).toBe(1)
    expect(sample(before, `baton_quarantined_events{${p0}}`)).toBe(4)
    metrics.forget(orders0)
    const after = (await metrics.render()).body
    expect(after).not.toContain(`baton_quarantined_keys{${p0}}`)
    expect(after).not.toContain(`baton_quarantined_events{${p0}}`)
    expect(sample(after, `baton_events_processed_total{${p0},outcome="stored"}`)).toBe(0)
  })

  test('a partition costs only the series the dashboard and the alerts ask per partition', async () => {
    const metrics = createMetrics({ nodeId: 'baton-0', version: '0.1.0' })
    const seriesOf = async (partition: number) =>
      (await metrics.render()).body.split('\n').filter((line) => line.includes(`partition="${partition}"`))
        .length
    for (let partition = 0; partition < 100; partition++) {
      const key = { group: 'baton', topic: 'orders', partition }
      metrics.consumed(key, 10)
      metrics.committed(key, { events: 10, deadLetters: 0, commitSeconds: 0.004, oldestEventSeconds: 0.2 })
      metrics.checkpointed(key, 0.001)
    }
    metrics.watchPartitions(() =>
      Array.from({ length: 100 }, (_, partition) => ({
        tp: { topic: 'orders', partition },
        lag: { events: 0, seconds: 0 },
        mailboxDepth: 0,
      })),
    )
    // processed (stored, dead_lettered), dead-lettered, restarts, fenced, lag events and seconds, mailbox.
    expect(await seriesOf(42)).toBe(8)
  })

  test('lag and mailbox depth are read once at each scrape; an unknown lag keeps its last value', async () => {
    const metrics = createMetrics({ nodeId: 'baton-0', version: '0.1.0' })
    let reading: PartitionReading = { tp: orders0, lag: { events: 7, seconds: 2.5 }, mailboxDepth: 4 }
    let reads = 0
    metrics.watchPartitions(() => {
      reads++
      return [reading]
    })
    const p0 = 'topic="orders",partition="0"'
    const first = (await metrics.render()).body
    expect(sample(first, `baton_consumer_lag_events{${p0}}`)).toBe(7)
    expect(sample(first, `baton_consumer_lag_seconds{${p0}}`)).toBe(2.5)
    expect(sample(first, `baton_mailbox_depth{${p0}}`)).toBe(4)
    // One reading per scrape, shared by the three gauges.
    expect(reads).toBe(1)

    reading = { tp: orders0, lag: null, mailboxDepth: 0 }
    const second = (await metrics.render()).body
    expect(sample(second, `baton_consumer_lag_events{${p0}}`)).toBe(7)
    expect(sample(second, `baton_mailbox_depth{${p0}}`)).toBe(0)

    reading = { tp: orders0, lag: { events: 0, seconds: 0 }, mailboxDepth: 0 }
    expect(sample((await metrics.render()).body, `baton_consumer_lag_events{${p0}}`)).toBe(0)
  })

  test('the fetch buffer gauges read the source at each scrape', async () => {
    const metrics = createMetrics({ nodeId: 'baton-0', version: '0.1.0' })
    let heldBytes = 1_000
    metrics.watchFetchBuffer(() => ({ heldBytes, limitBytes: 65_536 }))
    expect(sample((await metrics.render()).body, 'baton_fetch_buffer_bytes')).toBe(1_000)
    heldBytes = 0
    const { body } = await metrics.render()
    expect(sample(body, 'baton_fetch_buffer_bytes')).toBe(0)
    expect(sample(body, 'baton_fetch_buffer_limit_bytes')).toBe(65_536)
  })

  test('two nodes in one process keep separate registries', async () => {
    const a = createMetrics({ nodeId: 'a', version: '0.1.0' })
    const b = createMetrics({ nodeId: 'b', version: '0.1.0' })
    a.rebalance()
    expect(sample((await a.render()).body, 'baton_rebalances_total')).toBe(1)
    expect(sample((await b.render()).body, 'baton_rebalances_total')).toBe(0)
  })

  test('baton_ready and the cluster gauges say what the sources say at each scrape; one registry read per scrape', async () => {
    const metrics = createMetrics({ nodeId: 'baton-0', version: '0.1.0', memoryLimitBytes: 1 << 30 })
    let ready = false
    let reads = 0
    let registryUp = true
    const rows = (topic: string, partitions: number[]) =>
      partitions.map((partition) => ({ topic, partition }))
    metrics.watchNode({
      ready: () => ready,
      cluster: async () => {
        reads++
        if (!registryUp) throw new Error('registry down')
        return {
          partitions: [...rows('orders', [0, 1, 2]), ...rows('clicks', [0, 1])],
          unowned: rows('orders', [1, 2]),
          claimedTwice: rows('clicks', [0]),
        }
      },
    })
    const first = (await metrics.render()).body
    expect(reads).toBe(1)
    expect(sample(first, 'baton_ready')).toBe(0)
    expect(sample(first, 'baton_memory_limit_bytes')).toBe(1 << 30)
    expect(sample(first, 'baton_cluster_partitions{topic="orders"}')).toBe(3)
    expect(sample(first, 'baton_cluster_unowned_partitions{topic="orders"}')).toBe(2)
    expect(sample(first, 'baton_cluster_unowned_partitions{topic="clicks"}')).toBe(0)
    expect(sample(first, 'baton_cluster_claimed_twice_partitions{topic="clicks"}')).toBe(1)
    expect(sample(first, 'baton_cluster_claimed_twice_partitions{topic="orders"}')).toBe(0)

    ready = true
    registryUp = false
    const second = (await metrics.render()).body
    expect(sample(second, 'baton_ready')).toBe(1)
    // Unknown is left out, never shown as the last counts.
    expect(second).not.toContain('baton_cluster_unowned_partitions{')
    expect(second).not.toContain('baton_cluster_partitions{')
  })

  test('no memory limit, no baton_memory_limit_bytes series', async () => {
    const { body } = await createMetrics({ nodeId: 'baton-0', version: '0.1.0' }).render()
    expect(sample(body, 'baton_memory_limit_bytes')).toBeUndefined()
  })
})
