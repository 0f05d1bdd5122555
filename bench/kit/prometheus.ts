/** One sample of a Prometheus text exposition: `name{labels} value`. */
export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

/** A histogram summed over its series: cumulative counts at each upper bound (`le`), ascending, +Inf last. */
export interface Buckets {
  readonly bounds: readonly number[]
  readonly counts: readonly number[]
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

/**
 * The samples of a Prometheus text exposition (format 0.0.4, what `GET /metrics` serves). Comments and
 * blank lines are skipped; a line that is not a sample throws, naming it, so a changed format is noticed
 * rather than read as zeros.
 */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = []
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const m = SAMPLE.exec(line)
    if (m === null) throw new Error(`not a Prometheus sample line: '${line}'`)
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(LABEL))
      labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))
    samples.push({ name: m[1] as string, labels, value: promNumber(m[3] as string) })
  }
  return samples
}

function promNumber(text: string): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY
  if (text === '-Inf') return Number.NEGATIVE_INFINITY
  return Number(text)
}

/** The sum of every series of `name` whose labels include `match`. */
export function sumOf(samples: readonly Sample[], name: string, match: Record<string, string> = {}): number {
  let sum = 0
  for (const s of samples) if (s.name === name && matches(s, match)) sum += s.value
  return sum
}

/** Histogram `name` (its `_bucket` series) summed over every label set but `le`. */
export function bucketsOf(samples: readonly Sample[], name: string): Buckets {
  const byBound = new Map<number, number>()
  for (const s of samples) {
    if (s.name !== `${name}_bucket`) continue
    const bound = promNumber(s.labels.le ?? 'NaN')
    byBound.set(bound, (byBound.get(bound) ?? 0) + s.value)
  }
  const bounds = [...byBound.keys()].sort((a, b) => a - b)
  return { bounds, counts: bounds.map((b) => byBound.get(b) as number) }
}

/**
 * What a histogram counted between two readings: `later - earlier` per bound. A series that appeared
 * in between counts from 0; bounds must match (the same histogram).
 */
export function bucketDelta(later: Buckets, earlier: Buckets): Buckets {
  const before = new Map(earlier.bounds.map((b, i) => [b, earlier.counts[i] as number]))
  return {
    bounds: later.bounds,
    counts: later.counts.map((c, i) => Math.max(0, c - (before.get(later.bounds[i] as number) ?? 0))),
  }
}

/** Observations in `b`: the +Inf bucket's cumulative count. */
export function bucketTotal(b: Buckets): number {
  return b.counts.at(-1) ?? 0
}

/**
 * The `q`-quantile (0..1) of cumulative buckets, as PromQL's histogram_quantile: linear within the bucket
 * it falls in, from 0 for the first; the largest finite bound when it falls in +Inf. NaN for no observations.
 */
export function bucketQuantile(b: Buckets, q: number): number {
  const total = bucketTotal(b)
  if (total === 0) return Number.NaN
  const rank = q * total
  for (let i = 0; i < b.bounds.length; i++) {
    const count = b.counts[i] as number
    if (count < rank) continue
    const upper = b.bounds[i] as number
    if (upper === Number.POSITIVE_INFINITY) return b.bounds[i - 1] ?? Number.NaN
    const lower = i === 0 ? 0 : (b.bounds[i - 1] as number)
    const below = i === 0 ? 0 : (b.counts[i - 1] as number)
    return count === below ? upper : lower + ((upper - lower) * (rank - below)) / (count - below)
  }
  return Number.NaN
}

/**
 * An upper bound of the largest observation: the bound of the highest bucket that holds one (+Inf when
 * it lies beyond the last finite bound). NaN for no observations.
 */
export function bucketMax(b: Buckets): number {
  for (let i = 0; i < b.bounds.length; i++)
    if ((b.counts[i] as number) === bucketTotal(b) && bucketTotal(b) > 0) return b.bounds[i] as number
  return Number.NaN
}

function matches(s: Sample, match: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(match)) if (s.labels[k] !== v) return false
  return true
}
