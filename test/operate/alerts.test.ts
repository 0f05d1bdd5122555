import { describe, expect, test } from 'bun:test'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { createApi } from '../../runtime/http/index.ts'
import { testNode } from '../../runtime/http/test-node.ts'
import { createMetrics } from '../../runtime/metrics.ts'
import {
  alertRules,
  PROMETHEUS_RULE,
  RULES_FILE,
  RULES_TESTS,
  RUNBOOKS,
  readRules,
  testOverlay,
} from './alert-rules.ts'
import { familyOf, parseExposition, promtool } from './exposition.ts'

const alerts = alertRules()

describe('deploy/prometheus/baton-rules.yaml', () => {
  test('promtool check rules accepts it', () => {
    const check = Bun.spawnSync([promtool(), 'check', 'rules', RULES_FILE])
    expect({ exitCode: check.exitCode, output: check.stdout.toString() + check.stderr.toString() }).toEqual({
      exitCode: 0,
      output: expect.stringContaining(`SUCCESS: ${alerts.length} rules found`),
    })
  })

  test('promtool test rules: every alert fires when it must, after its `for:`, and not in the look-alike cases', () => {
    const run = Bun.spawnSync([promtool(), 'test', 'rules', RULES_TESTS])
    const output = run.stdout.toString() + run.stderr.toString()
    expect({ exitCode: run.exitCode, output }).toEqual({
      exitCode: 0,
      output: expect.stringContaining('SUCCESS'),
    })
  })

  test('the promtool tests cover every alert with a case where it fires and one where it does not', () => {
    const tests = parse(readFileSync(RULES_TESTS, 'utf8')) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[]
    }
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? [])
    for (const { alert } of alerts) {
      const mine = cases.filter((c) => c.alertname === alert)
      expect({ alert, fires: mine.some((c) => c.exp_alerts.length > 0) }).toEqual({ alert, fires: true })
      expect({ alert, quiet: mine.some((c) => c.exp_alerts.length === 0) }).toEqual({ alert, quiet: true })
    }
  })

  test('every alert has a severity, a summary naming what it is about, and a runbook that exists', () => {
    expect(alerts.length).toBeGreaterThanOrEqual(10)
    for (const { alert, labels, annotations } of alerts) {
      expect({ alert, severity: ['critical', 'warning'].includes(labels.severity ?? '') }).toEqual({
        alert,
        severity: true,
      })
      // The node, topic or partition it is about; only a missing target has nothing to name but its job.
      expect({
        alert,
        names: /\$labels\.(node|instance|topic|partition)|job="baton"/.test(annotations.summary ?? ''),
      }).toEqual({ alert, names: true })
      expect(annotations.runbook_url).toEndWith(`/docs/runbooks/${alert}.md`)
      expect({ alert, runbook: existsSync(join(RUNBOOKS, `${alert}.md`)) }).toEqual({ alert, runbook: true })
    }
  })

  test('the PrometheusRule carries exactly these rules', () => {
    const resource = parse(readFileSync(PROMETHEUS_RULE, 'utf8')) as { spec: unknown }
    expect(resource.spec).toEqual(readRules())
  })

  test('the test overlay shortens `for:` and the evaluation interval, and changes nothing else', () => {
    const overlay = testOverlay({ interval: '1s', forDuration: '1s' })
    const shipped = readRules()
    expect(overlay.groups.map((g) => g.interval)).toEqual(shipped.groups.map(() => '1s'))
    expect(alertRules(overlay).map(({ for: _, ...rest }) => rest)).toEqual(
      alertRules(shipped).map(({ for: _, ...rest }) => rest),
    )
  })
})

describe('docs/runbooks', () => {
  const pages = readdirSync(RUNBOOKS)
    .filter((f) => f.endsWith('.md'))
    .map((f) => ({ file: f, text: readFileSync(join(RUNBOOKS, f), 'utf8') }))

  test('one page per alert, and no page without an alert', () => {
    expect(
      pages
        .map((p) => p.file)
        .filter((f) => f !== 'README.md')
        .sort(),
    ).toEqual(alerts.map((a) => `${a.alert}.md`).sort())
  })

  test('every metric a runbook names is one a node exposes', async () => {
    const metrics = createMetrics({ nodeId: 'baton-0', version: '0.1.0', memoryLimitBytes: 1 << 30 })
    metrics.watchNode({
      ready: () => true,
      cluster: async () => ({ partitions: [{ topic: 'orders' }], unowned: [], claimedTwice: [] }),
    })
    const key = { group: 'baton', topic: 'orders', partition: 0 }
    metrics.committed(key, { events: 1, deadLetters: 1, commitSeconds: 0.01, oldestEventSeconds: 0.1 })
    metrics.watchPartitions(() => [{ tp: key, lag: { events: 1, seconds: 1 }, mailboxDepth: 0 }])
    metrics.ownedPartitions('orders', 1)
    metrics.watchFetchBuffer(() => ({ heldBytes: 0, limitBytes: 64 * 1024 * 1024 }))
    const exposition = parseExposition((await metrics.render()).body)
    // A sample's name, or a histogram's family name (`baton_end_to_end_latency_seconds`).
    const exposes = (name: string) => familyOf(exposition, name) !== undefined
    const unknown = pages.flatMap(({ file, text }) =>
      [...text.matchAll(/\bbaton_[a-z_]+\b/g)]
        .map((m) => m[0])
        .filter((name) => name !== 'baton_dead_letters' && !exposes(name)) // a table, not a metric
        .map((name) => `${file}: ${name}`),
    )
    expect(unknown).toEqual([])
  })

  test('every route a runbook names is one the API serves', () => {
    const routes = new Set(
      createApi(testNode())
        .routes.filter((r) => r.method !== 'ALL')
        .map((r) => `${r.method} ${r.path}`),
    )
    const named = pages.flatMap(({ file, text }) =>
      [...text.matchAll(/\b(GET|POST) (\/[a-z0-9/<>_-]+)/g)].map((m) => ({
        file,
        route: `${m[1]} ${(m[2] ?? '').replace(/<(\w+)>/g, ':$1').replace(/\/$/, '')}`,
      })),
    )
    expect(named.length).toBeGreaterThan(10)
    expect(named.filter((n) => !routes.has(n.route))).toEqual([])
  })
})
