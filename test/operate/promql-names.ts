/** PromQL words that are not series names: keywords and the operators written as words. */
const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'bool',
  'and',
  'or',
  'unless',
  'atan2',
  'inf',
  'nan',
])

/**
 * The series names an expression selects, e.g. `['baton_x_bucket', 'baton_build_info']` for
 * `histogram_quantile(0.99, sum by (le) (rate(baton_x_bucket{topic="a"}[5m]))) * on (job) group_left (node) baton_build_info`.
 * Strings, label matchers, ranges, grouping label lists and function names are not names. Enough for
 * the dashboard's expressions; promtool judges whether they are valid PromQL.
 */
export function seriesNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
  const names = new Set<string>()
  for (const m of bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0]
    const next = bare.slice((m.index ?? 0) + word.length).trimStart()
    if (next.startsWith('(') || KEYWORDS.has(word.toLowerCase())) continue
    names.add(word)
  }
  return [...names]
}

/**
 * Replaces Grafana's variables with values PromQL accepts: interval variables (`$__rate_interval`,
 * `$__range`, …) with `5m`, any other (`$topic`, `${topic}`) with `.+`, which is what a multi-value
 * variable's "All" (allValue `.+`) sends inside `=~"…"`.
 */
export function withGrafanaVariables(expr: string): string {
  return expr.replace(/\$\{?__\w+\}?/g, '5m').replace(/\$\{?\w+\}?/g, '.+')
}
