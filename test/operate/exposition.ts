import { requirePromtool } from '../../deploy/local/prerequisites.ts'

/** One sample line of the Prometheus text format: `name{labels} value`. */
export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

/** A scrape, parsed: each family's type (from `# TYPE`) and every sample. */
export interface Exposition {
  readonly types: ReadonlyMap<string, string>
  readonly samples: readonly Sample[]
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

/**
 * Parses the text exposition format, enough for assertions on baton's own output (promtool checks the
 * format itself). Label values keep their escapes.
 */
export function parseExposition(body: string): Exposition {
  const types = new Map<string, string>()
  const samples: Sample[] = []
  for (const line of body.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ')
      if (name && type) types.set(name, type)
      continue
    }
    const m = SAMPLE.exec(line)
    if (!m || line.startsWith('#')) continue
    const labels: Record<string, string> = {}
    for (const [, key, value] of (m[2] ?? '').matchAll(LABEL)) labels[key as string] = value as string
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) })
  }
  return { types, samples }
}

/** The sum of a family's samples whose labels include `match`. */
export function total(exposition: Exposition, name: string, match: Record<string, string> = {}): number {
  return exposition.samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0)
}

const HISTOGRAM_PARTS = ['_bucket', '_sum', '_count'] as const

/**
 * The family a queried series name belongs to: itself when the exposition has a family of that name,
 * else, for `_bucket` of a histogram and `_sum`/`_count` of a histogram or summary, the base family.
 * Undefined when no family produces that name (a counter has no `_bucket`, a gauge no `_sum`).
 */
export function familyOf(exposition: Exposition, series: string): string | undefined {
  if (exposition.types.has(series)) return series
  for (const part of HISTOGRAM_PARTS) {
    if (!series.endsWith(part)) continue
    const base = series.slice(0, -part.length)
    const type = exposition.types.get(base)
    if (type === 'histogram' || (type === 'summary' && part !== '_bucket')) return base
  }
  return undefined
}

/** Runs `promtool check metrics` on an exposition: its exit code and output ('' when it found nothing). */
export function promtoolCheckMetrics(body: string): { exitCode: number; output: string } {
  const check = Bun.spawnSync([promtool(), 'check', 'metrics'], { stdin: Buffer.from(body) })
  return { exitCode: check.exitCode, output: `${check.stdout.toString()}${check.stderr.toString()}` }
}

/** promtool's path; throws PREREQUISITE_MISSING with the install line when it is missing. */
export const promtool = requirePromtool
