import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { NodeProcess } from '../../deploy/local/node-process.ts'
import { freeLoopbackPort } from '../../deploy/local/ports.ts'
import { type LocalPrometheus, startPrometheus } from '../../deploy/local/prometheus.ts'
import { memoryLimitBytes } from '../../runtime/memory-limit.ts'
import { ClusterScenario } from '../cluster/harness.ts'
import { until } from '../support/until.ts'
import { alertRules, testOverlay } from './alert-rules.ts'
import { expressions } from './dashboard-queries.ts'
import { seriesNames, withGrafanaVariables } from './promql-names.ts'

/**
 * A real Prometheus scraping three real cluster nodes every second, with the shipped rules evaluated every
 * second and every `for:` shortened to 1 s (the overlay; deploy/ is not changed). What the rules and the
 * dashboard say is read from Prometheus' own HTTP API.
 */

/** The brokers' `group.consumer.session.timeout.ms` in the test services (deploy/local/kafka.ts). */
const SESSION_TIMEOUT_MS = 10_000
const IDS = ['baton-0', 'baton-1', 'baton-2'] as const

interface Alert {
  readonly labels: Record<string, string>
  readonly state: 'pending' | 'firing'
}

let dir: string
let prometheus: LocalPrometheus
let scenario: ClusterScenario
const ports: Record<string, number> = {}
const nodes: Record<string, NodeProcess> = {}
let loading: Promise<void> = Promise.resolve()

async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${prometheus.url}${path}`, { signal: AbortSignal.timeout(5_000) })
  const body = (await res.json()) as { status: string; data: T; error?: string }
  if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.error}`)
  return body.data
}

/** The series an instant query returns now. */
async function query(expr: string): Promise<{ metric: Record<string, string> }[]> {
  const data = await api<{ result: { metric: Record<string, string> }[] }>(
    `/api/v1/query?query=${encodeURIComponent(expr)}`,
  )
  return data.result
}

/** The alerts firing now whose labels include `labels`. */
async function firing(alertname: string, labels: Record<string, string> = {}): Promise<Alert[]> {
  const { alerts } = await api<{ alerts: Alert[] }>('/api/v1/alerts')
  return alerts.filter(
    (a) =>
      a.state === 'firing' &&
      a.labels.alertname === alertname &&
      Object.entries(labels).every(([k, v]) => a.labels[k] === v),
  )
}

const fires =
  (alertname: string, labels: Record<string, string> = {}) =>
  async () =>
    (await firing(alertname, labels)).length > 0 ? true : undefined
const quiet =
  (alertname: string, labels: Record<string, string> = {}) =>
  async () =>
    (await firing(alertname, labels)).length === 0 ? true : undefined

async function startNode(id: string): Promise<void> {
  // A fixed port per node id: a node that comes back is the same Prometheus target.
  nodes[id] = await scenario.startNode(id, { BATON_HTTP_PORT: String(ports[id]) })
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'baton-prometheus-'))
  scenario = new ClusterScenario()
  for (const id of IDS) ports[id] = await freeLoopbackPort()
  const [prom] = await Promise.all([
    startPrometheus({
      dir,
      jobs: [{ name: 'baton', targets: IDS.map((id) => `127.0.0.1:${ports[id]}`) }],
      rules: testOverlay({ interval: '1s', forDuration: '1s' }),
      interval: '1s',
    }),
    scenario.createTopics(),
  ])
  prometheus = prom
  await Promise.all(IDS.map((id) => startNode(id)))
  // Load for the whole file: events keep arriving while the panels and alerts are read.
  loading = scenario.produce(30_000)
}, 120_000)

afterAll(async () => {
  await loading.catch(() => {})
  await scenario?.cleanup()
  await prometheus?.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('a real Prometheus scraping three cluster nodes, with the shipped rules', () => {
  test('under load, every query of every panel and variable of deploy/grafana/baton.json returns a series', async () => {
    const queries = expressions().map(({ where, expr }) => ({ where, expr: withGrafanaVariables(expr) }))
    expect(queries.length).toBeGreaterThan(20)
    let empty: string[] = []
    await until(
      'every dashboard query answered with a series',
      60_000,
      async () => {
        const results = await Promise.all(
          queries.map(async (q) => ({ ...q, n: (await query(q.expr)).length })),
        )
        empty = results.filter((r) => r.n === 0).map((r) => `${r.where}: ${r.expr}`)
        return empty.length === 0 ? true : undefined
      },
      1_000,
    ).catch((err) => {
      throw new Error(`${err.message}; still empty:\n${empty.join('\n')}`)
    })
    expect(empty).toEqual([])
  }, 90_000)

  test('every series the alert rules select is scraped from the nodes; all three report baton_ready 1', async () => {
    // Without a cgroup memory limit (as on most development machines) nodes have no baton_memory_limit_bytes.
    const unlimited = memoryLimitBytes() === null
    const names = [...new Set(alertRules().flatMap((r) => seriesNames(r.expr)))].filter(
      (name) => !(unlimited && name === 'baton_memory_limit_bytes'),
    )
    expect(names).toContain('baton_cluster_unowned_partitions')
    let missing: string[] = []
    await until(
      'every series the rules select',
      30_000,
      async () => {
        const counts = await Promise.all(names.map(async (name) => ({ name, n: (await query(name)).length })))
        missing = counts.filter((c) => c.n === 0).map((c) => c.name)
        return missing.length === 0 ? true : undefined
      },
      1_000,
    ).catch((err) => {
      throw new Error(`${err.message}; none of: ${missing.join(', ')}`)
    })
    await until('baton_ready 1 on all three nodes', 30_000, async () => {
      const ready = await query('baton_ready == 1')
      return ready.length === IDS.length ? true : undefined
    })
    const clusterView = await query(`baton_cluster_partitions{topic="${scenario.topic}"}`)
    expect(clusterView.length).toBe(IDS.length)
  }, 90_000)

  test('poison events make BatonDeadLetters fire for their topic and partition', async () => {
    // increase() needs a sample before the dead letters: send them to a partition whose counter was
    // scraped at 0.
    const zero = `baton_events_dead_lettered_total{topic="${scenario.topic}"} == 0`
    const partition = await until(`a dead-letter counter scraped at 0 (${zero})`, 30_000, async () => {
      const [series] = await query(zero)
      return series?.metric.partition
    })
    expect(await firing('BatonDeadLetters', { topic: scenario.topic })).toEqual([])
    await scenario.produceEvents(
      Array.from({ length: 5 }, (_, i) => ({
        key: `poison-${i}`,
        value: '{"not json',
        partition: Number(partition),
      })),
    )
    await until(
      'BatonDeadLetters firing',
      60_000,
      fires('BatonDeadLetters', { topic: scenario.topic, partition }),
      500,
    )
  }, 90_000)

  test('SIGKILL of a node: target-down and ownership alerts fire, then resolve as partitions move and it comes back', async () => {
    const killed = `127.0.0.1:${ports['baton-1']}`
    const topic = { topic: scenario.topic }
    // Before: all three scraped, every partition owned (a rebalance at start-up may have just ended).
    await until('the start-up rebalance resolved', 30_000, quiet('BatonPartitionsWithoutOwner', topic), 500)
    expect(await firing('BatonTargetDown')).toEqual([])

    await nodes['baton-1']?.kill()
    const killedAt = performance.now()
    await until('BatonTargetDown firing', 20_000, fires('BatonTargetDown', { instance: killed }), 250)
    await until(
      'BatonPartitionsWithoutOwner firing',
      20_000,
      fires('BatonPartitionsWithoutOwner', topic),
      250,
    )
    const firedAfterMs = performance.now() - killedAt

    await until(
      'BatonPartitionsWithoutOwner resolved (partitions moved)',
      SESSION_TIMEOUT_MS * 4,
      quiet('BatonPartitionsWithoutOwner', topic),
      250,
    )
    const movedAfterMs = performance.now() - killedAt
    // For the record: how many partitions the registry view alone showed unowned meanwhile (a crashed
    // node's record outlives it by up to its 10 s TTL, so this may be 0; the alert also counts owners).
    const [registryView] = await api<{ result: { value: [number, string] }[] }>(
      `/api/v1/query?query=${encodeURIComponent(`max_over_time(max(baton_cluster_unowned_partitions{topic="${scenario.topic}"})[60s:1s])`)}`,
    ).then((d) => d.result)
    const owned = await query(`sum(baton_owned_partitions{topic="${scenario.topic}"})`)
    expect(owned.length).toBe(1)
    expect(await firing('BatonTargetDown', { instance: killed })).not.toEqual([])

    // Back on the same address: its target is up again and the alert resolves.
    await startNode('baton-1')
    await until('BatonTargetDown resolved', 30_000, quiet('BatonTargetDown', { instance: killed }), 250)
    console.info(
      `prometheus.test: ownership alert firing ${(firedAfterMs / 1000).toFixed(1)} s after the SIGKILL, resolved ${(movedAfterMs / 1000).toFixed(1)} s after it; at most ${registryView?.value[1] ?? 'no'} partitions unowned in the registry view meanwhile`,
    )
  }, 120_000)
})
