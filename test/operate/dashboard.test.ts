import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse, stringify } from 'yaml'
import { type BusyNode, startBusyNode } from './busy-node.ts'
import { expressions, grafana, panels, variables } from './dashboard-queries.ts'
import { type Exposition, familyOf, parseExposition, promtool } from './exposition.ts'
import { seriesNames, withGrafanaVariables } from './promql-names.ts'

// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, meant literally
const DATASOURCE = '${datasource}'

describe('deploy/grafana/baton.json', () => {
  test('asks for its Prometheus data source: a datasource variable that every panel and query uses', () => {
    expect(variables.find((v) => v.name === 'datasource')).toMatchObject({
      type: 'datasource',
      query: 'prometheus',
    })
    for (const p of panels) {
      expect({ panel: p.title, uid: p.datasource?.uid }).toEqual({ panel: p.title, uid: DATASOURCE })
      for (const t of p.targets ?? [])
        expect({ panel: p.title, uid: t.datasource.uid }).toEqual({ panel: p.title, uid: DATASOURCE })
    }
    for (const v of variables.filter((v) => v.type === 'query')) expect(v.datasource?.uid).toBe(DATASOURCE)
  })

  test('has the panels an operator needs: throughput, lag, latency p50/p99, batch sizes, restarts, DLQ, ownership per node', () => {
    const queries = (title: RegExp) =>
      panels.filter((p) => title.test(p.title)).flatMap((p) => (p.targets ?? []).map((t) => t.expr))
    expect(queries(/throughput/i).join()).toContain('baton_events_processed_total')
    expect(queries(/lag \(events\)/i).join()).toContain('baton_consumer_lag_events')
    expect(queries(/lag \(seconds\)/i).join()).toContain('baton_consumer_lag_seconds')
    const latency = queries(/end-to-end latency/i).join()
    expect(latency).toContain(
      'histogram_quantile(0.5, sum by (le) (rate(baton_end_to_end_latency_seconds_bucket',
    )
    expect(latency).toContain(
      'histogram_quantile(0.99, sum by (le) (rate(baton_end_to_end_latency_seconds_bucket',
    )
    expect(queries(/batch size/i).join()).toContain('baton_batch_size_events_bucket')
    expect(queries(/restarts/i).join()).toContain('baton_actor_restarts_total')
    expect(queries(/dead-lettered/i).join()).toContain('baton_events_dead_lettered_total')
    const quarantine = queries(/quarantined keys/i).join()
    expect(quarantine).toContain('baton_quarantined_keys')
    expect(quarantine).toContain('baton_quarantined_events')
    expect(queries(/per node/i).join()).toMatch(
      /baton_owned_partitions.*group_left \(node\) baton_build_info/,
    )
  })

  test('every expression is valid PromQL (promtool check rules, one recording rule each)', () => {
    const rules = expressions().map(({ expr }, i) => ({
      record: `dashboard:expression_${i}`,
      expr: withGrafanaVariables(expr),
    }))
    const dir = mkdtempSync(join(tmpdir(), 'baton-dashboard-'))
    try {
      const file = join(dir, 'rules.yaml')
      writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }))
      const check = Bun.spawnSync([promtool(), 'check', 'rules', file])
      const output = `${check.stdout.toString()}${check.stderr.toString()}`
      expect({ exitCode: check.exitCode, output }).toEqual({
        exitCode: 0,
        output: expect.stringContaining(`SUCCESS: ${rules.length} rules found`),
      })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  describe('against a real node', () => {
    let busy: BusyNode
    let exposition: Exposition
    beforeAll(async () => {
      busy = await startBusyNode()
      // The lag gauges exist once the partitions have a state; everything else once events were committed.
      exposition = parseExposition(
        await busy.scrapeUntil((e) => e.samples.some((s) => s.name === 'baton_consumer_lag_seconds')),
      )
    }, 90_000)
    afterAll(() => busy?.close())

    test('every series a panel or variable queries is in its /metrics (`_bucket`, `_sum`, `_count` of a histogram by its family)', () => {
      const missing: string[] = []
      for (const { where, expr } of expressions()) {
        const names = seriesNames(expr)
        expect({ where, selects: names.length > 0 }).toEqual({ where, selects: true })
        for (const name of names) {
          const family = familyOf(exposition, name)
          if (family === undefined || !exposition.samples.some((s) => s.name === name))
            missing.push(`${where}: ${name}`)
        }
      }
      expect(missing).toEqual([])
    })
  })
})

describe('deploy/grafana/provisioning/dashboards/baton.yaml', () => {
  test('a file provider for the folder the dashboard JSON goes to', () => {
    const provisioning = parse(
      readFileSync(join(grafana, 'provisioning', 'dashboards', 'baton.yaml'), 'utf8'),
    )
    expect(provisioning).toMatchObject({
      apiVersion: 1,
      providers: [{ name: 'baton', type: 'file', options: { path: expect.any(String) } }],
    })
  })
})

describe('seriesNames and familyOf, the helpers above', () => {
  test('names, not functions, labels, strings, ranges or grouping lists', () => {
    expect(
      seriesNames(
        'histogram_quantile(0.99, sum by (le) (rate(baton_x_bucket{topic=~"a|b", le!="1"}[5m]))) * on (job, instance) group_left (node) baton_build_info',
      ),
    ).toEqual(['baton_x_bucket', 'baton_build_info'])
    expect(seriesNames('sum(rate(baton_y_total[$__rate_interval])) / count(up)')).toEqual([
      'baton_y_total',
      'up',
    ])
  })

  test('a suffix is stripped only where the family’s type produces it', () => {
    const e = parseExposition(
      [
        '# TYPE baton_h histogram',
        'baton_h_bucket{le="+Inf"} 1',
        'baton_h_sum 1',
        'baton_h_count 1',
        '# TYPE baton_c_total counter',
        'baton_c_total 1',
        '# TYPE baton_g gauge',
        'baton_g 1',
      ].join('\n'),
    )
    expect(
      ['baton_h_bucket', 'baton_h_sum', 'baton_h_count', 'baton_c_total'].map((n) => familyOf(e, n)),
    ).toEqual(['baton_h', 'baton_h', 'baton_h', 'baton_c_total'])
    expect(
      ['baton_g_sum', 'baton_g_count', 'baton_c_total_bucket', 'baton_h'].map((n) => familyOf(e, n)),
    ).toEqual([undefined, undefined, undefined, 'baton_h'])
  })
})
