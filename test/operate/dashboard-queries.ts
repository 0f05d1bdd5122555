import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/** deploy/grafana/baton.json read once, and what its panels and variables query. */
export const grafana = join(import.meta.dir, '..', '..', 'deploy', 'grafana')

export interface Target {
  readonly expr: string
  readonly datasource: { readonly uid: string }
}
export interface Panel {
  readonly type: string
  readonly title: string
  readonly datasource?: { readonly uid: string }
  readonly targets?: readonly Target[]
}
export interface Variable {
  readonly name: string
  readonly type: string
  readonly query: string | { readonly query: string }
  readonly datasource?: { readonly uid: string }
}

const dashboard = JSON.parse(readFileSync(join(grafana, 'baton.json'), 'utf8')) as {
  uid: string
  panels: Panel[]
  templating: { list: Variable[] }
}
export const panels = dashboard.panels.filter((p) => p.type !== 'row')
export const variables = dashboard.templating.list

/** Every PromQL expression the dashboard runs: panel queries, and the selectors inside `label_values(…)`. */
export function expressions(): { where: string; expr: string }[] {
  const found = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: p.title, expr: t.expr })))
  for (const v of variables.filter((v) => v.type === 'query')) {
    const query = typeof v.query === 'string' ? v.query : v.query.query
    const selector = /^label_values\((.+),\s*\w+\)$/.exec(query)?.[1]
    if (!selector) throw new Error(`variable ${v.name}: only label_values(<selector>, <label>) is checked`)
    found.push({ where: `variable ${v.name}`, expr: selector })
  }
  return found
}
