/**
 * Helpers of the cluster-mode suites: private PostgreSQL and Redis to break, synthetic events produced
 * with a record of where each one landed, waiting until a node has caught up, and the exactly-once check
 * of what landed in PostgreSQL and the dead-letter topic against what was produced.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { deadLetterTopic, deleteTopics, ensureTopics } from '../../actors/kafka/admin.ts'
import { PartitionReader } from '../../actors/kafka/partition-reader.ts'
import { KafkaEventProducer } from '../../actors/kafka/producer.ts'
import { type ServiceEnv, type ServiceName, servicesDown, servicesUp } from '../../deploy/local/services.ts'
import {
  type SyntheticEvent,
  type SyntheticOptions,
  syntheticEvent,
} from '../../runtime/cli/synthetic-events.ts'
import type { PartitionView } from '../../runtime/node-api.ts'
import { kafkaBrokers, serviceEnv } from '../support/env.ts'

/** Services of this test file alone, in a temporary services folder, to stop and restart at will. */
export interface PrivateServices {
  readonly dir: string
  readonly env: ServiceEnv
  down(): Promise<void>
}

/**
 * Starts the services named in `only` (default: PostgreSQL and Redis) privately; the others are the shared
 * ones from the environment.
 */
export async function privateServices(
  only: readonly ServiceName[] = ['postgres', 'redis'],
): Promise<PrivateServices> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-faults-'))
  try {
    const { env } = await servicesUp({ dir, only: [...only], useEnv: false })
    return {
      dir,
      env: {
        KAFKA_BROKERS: env.KAFKA_BROKERS ?? kafkaBrokers().join(','),
        DATABASE_URL: env.DATABASE_URL ?? serviceEnv().DATABASE_URL,
        REDIS_URL: env.REDIS_URL ?? serviceEnv().REDIS_URL,
      },
      async down() {
        await servicesDown({ dir })
        rmSync(dir, { recursive: true, force: true })
      },
    }
  } catch (err) {
    await servicesDown({ dir }).catch(() => {})
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
}

/** Where one produced event landed. */
export interface Landed {
  readonly seq: number
  readonly partition: number
  readonly offset: number
  readonly poison: boolean
}

/**
 * Produces synthetic events (runtime/cli/synthetic-events.ts, as `baton produce` makes them) with seqs of
 * its own choosing, so that several rounds into one topic never repeat a seq, and remembers where every
 * acknowledged event landed. `brokers`: a Kafka of the test's own (default: the shared one).
 */
export class EventLedger {
  readonly topic: string
  readonly options: SyntheticOptions
  readonly brokers: readonly string[]
  readonly landed: Landed[] = []
  /** Seqs whose produce request failed (`tryProduce`): each is in the topic once or not at all; `reconcile` says which. */
  readonly uncertain = new Set<number>()
  readonly #producer: KafkaEventProducer
  #next = 0

  constructor(topic: string, options: SyntheticOptions, brokers: readonly string[] = kafkaBrokers()) {
    this.topic = topic
    this.options = options
    this.brokers = brokers
    this.#producer = new KafkaEventProducer({ brokers, clientId: `test-${topic}` })
  }

  /**
   * Produces the next `count` events in one request. When it fails (Kafka down, a cut connection) their
   * seqs are not sent again: they count as uncertain until `reconcile` finds out which of them landed.
   * Resolves false on a failure.
   */
  async tryProduce(count: number): Promise<boolean> {
    const from = this.#next
    try {
      await this.produce(count, count)
      return true
    } catch {
      for (let seq = Math.max(from, this.#next); seq < from + count; seq++) this.uncertain.add(seq)
      this.#next = from + count
      return false
    }
  }

  /**
   * Reads the whole topic back and records where each uncertain seq landed (those not found were never
   * written). Throws when an acknowledged event is not where its acknowledgement said, or when one seq is
   * in the topic twice (a doubled produce: the source itself would hold a duplicate).
   */
  async reconcile(partitions: number): Promise<{ found: number; missing: number }> {
    if (this.uncertain.size === 0) return { found: 0, missing: 0 }
    const reader = new PartitionReader(this.brokers, `test-reconcile-${this.topic}`)
    const at = new Map<string, number>()
    const seen = new Set<number>()
    let found = 0
    try {
      for (let p = 0; p < partitions; p++) {
        const { earliest, end } = await reader.offsets(this.topic, p)
        for (let from = earliest; from < end; ) {
          const records = await reader.read(this.topic, p, from, Math.min(end, from + 20_000))
          if (records.length === 0) break
          for (const r of records) {
            const seq = Number(/"seq":(\d+)/.exec(r.value?.toString() ?? '')?.[1])
            if (seen.has(seq))
              throw new Error(`seq ${seq} is in ${this.topic} twice (at ${p}/${r.offset} again)`)
            seen.add(seq)
            at.set(`${p}/${r.offset}`, seq)
            if (this.uncertain.has(seq)) {
              this.landed.push({
                seq,
                partition: p,
                offset: r.offset,
                poison: syntheticEvent(seq, this.options).poison,
              })
              found++
            }
          }
          from = (records.at(-1)?.offset ?? from) + 1
        }
      }
    } finally {
      await reader.close()
    }
    for (const l of this.landed) {
      if (at.get(`${l.partition}/${l.offset}`) !== l.seq)
        throw new Error(`acknowledged seq ${l.seq} is not at ${l.partition}/${l.offset} in ${this.topic}`)
    }
    this.landed.sort((a, b) => a.seq - b.seq)
    const missing = this.uncertain.size - found
    this.uncertain.clear()
    return { found, missing }
  }

  /** Produces `count` more events, `chunk` per request, one request at a time; resolves once all are acknowledged. */
  async produce(count: number, chunk = 2_000): Promise<void> {
    const end = this.#next + count
    while (this.#next < end) {
      const from = this.#next
      const to = Math.min(end, from + chunk)
      const events: SyntheticEvent[] = []
      for (let seq = from; seq < to; seq++) events.push(syntheticEvent(seq, this.options))
      const where = await this.#producer.produce(
        this.topic,
        events.map((e) => ({ key: e.key, value: e.value })),
      )
      for (let i = 0; i < where.length; i++) {
        const w = where[i] as (typeof where)[number]
        this.landed.push({
          seq: from + i,
          partition: w.partition,
          offset: w.offset,
          poison: (events[i] as SyntheticEvent).poison,
        })
      }
      this.#next = to
    }
  }

  /** Events known to be in the topic: acknowledged, or found there by `reconcile`. */
  get produced(): number {
    return this.landed.length
  }

  get poisoned(): number {
    return this.landed.filter((l) => l.poison).length
  }

  /** The offset after the last produced event of each partition (the end offsets a caught-up node reaches). */
  endOffsets(): Map<number, number> {
    const ends = new Map<number, number>()
    for (const l of this.landed) ends.set(l.partition, Math.max(ends.get(l.partition) ?? 0, l.offset + 1))
    return ends
  }

  close(): Promise<void> {
    return this.#producer.close()
  }
}

/** Creates `topic` and `<topic>.dlq` with `partitions` partitions. */
export async function createTopic(
  topic: string,
  partitions: number,
  brokers: readonly string[] = kafkaBrokers(),
): Promise<void> {
  await ensureTopics({ brokers: [...brokers], topics: [topic], partitions, dlq: true, log: () => {} })
}

export async function deleteTopic(topic: string, brokers: readonly string[] = kafkaBrokers()): Promise<void> {
  await deleteTopics([...brokers], [topic, deadLetterTopic(topic)])
}

/** GET /v1/actors/:topic/:partition (with `token` as bearer token when given); the status code and the body. */
export async function partitionView(
  url: string,
  topic: string,
  partition: number,
  token?: string,
  timeoutMs = 10_000,
): Promise<{ status: number; body: PartitionView & { error?: unknown } }> {
  const res = await fetch(`${url}/v1/actors/${topic}/${partition}`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    signal: AbortSignal.timeout(timeoutMs),
  })
  return { status: res.status, body: (await res.json()) as PartitionView & { error?: unknown } }
}

/**
 * Polls every partition's view (sending `token` when given) until each has committed up to the produced end offset with lag 0 and
 * nothing in flight. Throws, with the last views, when that does not happen within `timeoutMs`.
 */
export async function waitCaughtUp(
  url: string,
  ledger: EventLedger,
  partitions: number,
  timeoutMs: number,
  token?: string,
): Promise<PartitionView[]> {
  const ends = ledger.endOffsets()
  const deadline = Date.now() + timeoutMs
  let last: unknown[] = []
  while (Date.now() < deadline) {
    const views = await Promise.all(
      Array.from({ length: partitions }, (_, p) =>
        partitionView(url, ledger.topic, p, token).catch((err: unknown) => ({
          status: 0,
          body: String(err),
        })),
      ),
    )
    last = views.map((v) => v.body)
    const done = views.every((v, p) => {
      if (v.status !== 200 || typeof v.body === 'string') return false
      const b = v.body
      return b.lag === 0 && b.inFlight === 0 && (b.committedOffset ?? 0) >= (ends.get(p) ?? 0)
    })
    if (done) return views.map((v) => v.body as PartitionView)
    await Bun.sleep(250)
  }
  const brief = last.map((b) =>
    typeof b === 'string'
      ? b
      : JSON.stringify(b, [
          'partition',
          'status',
          'committedOffset',
          'highWatermark',
          'lag',
          'inFlight',
          'restarts',
          'lastError',
        ]),
  )
  throw new Error(
    `the node did not catch up within ${timeoutMs} ms; expected end offsets ${JSON.stringify([...ends])}; last views:\n${brief.join('\n')}`,
  )
}

/** Resident memory of a process in bytes (Linux /proc), or null once it is gone. */
export function residentBytes(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1]
    return kb === undefined ? null : Number(kb) * 1024
  } catch {
    return null
  }
}

/** Samples a process's RSS every `everyMs` until stopped; keeps the peak. */
export function sampleRss(pid: number, everyMs = 100): { peak(): number; samples(): number; stop(): void } {
  let peak = 0
  let samples = 0
  const timer = setInterval(() => {
    const rss = residentBytes(pid)
    if (rss === null) return
    samples++
    if (rss > peak) peak = rss
  }, everyMs)
  return {
    peak: () => peak,
    samples: () => samples,
    stop: () => clearInterval(timer),
  }
}

export const mb = (bytes: number) => Math.round(bytes / 1024 / 1024)

/** What the exactly-once check found; `problems` is empty when everything is as produced. */
export interface ExactlyOnceReport {
  readonly produced: number
  readonly stored: number
  readonly deadLettered: number
  readonly dlqRecords: number
  /** Events processed more than once: stored twice, stored and dead-lettered, or dead-lettered (table or topic) twice. */
  readonly duplicates: number
  /** Produced events neither stored nor dead-lettered (a poison event missing from the DLQ table or topic counts). */
  readonly lost: number
  readonly problems: string[]
}

/**
 * Compares what PostgreSQL and `<topic>.dlq` hold with what was produced:
 * - every non-poison event is in `baton_events` exactly once, at the partition and offset it landed at,
 *   with its own seq; no other rows;
 * - every poison event is in `baton_dead_letters` of `group` exactly once, at its offset, and nothing else is;
 * - per partition, stored and dead-lettered offsets together are exactly 0..end-1 (contiguous);
 * - every dead letter is in the `<topic>.dlq` topic exactly once (waits up to `dlqTimeoutMs` for the
 *   outbox to publish them), with its original partition and offset in the headers.
 */
export async function checkExactlyOnce(
  databaseUrl: string,
  group: string,
  ledger: EventLedger,
  dlqTimeoutMs = 15_000,
): Promise<ExactlyOnceReport> {
  const { topic } = ledger
  const problems: string[] = []
  let duplicates = 0
  let lost = 0
  const note = (problem: string) => {
    if (problems.length < 40) problems.push(problem)
    else if (problems.length === 40) problems.push('… (more problems left out)')
  }
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} })
  let rows: { partition: number; offset: string; seq: string | null }[]
  let letters: { partition: number; offset: string; error_code: string; published: boolean }[]
  try {
    rows = await sql`
      select partition, "offset", value->>'seq' as seq from baton_events where topic = ${topic}`
    letters = await sql`
      select partition, "offset", error_code, published_at is not null as published
      from baton_dead_letters where group_id = ${group} and topic = ${topic}`
  } finally {
    await sql.end({ timeout: 5 })
  }

  const at = (partition: number, offset: number | string) => `${partition}/${offset}`
  const expected = new Map(ledger.landed.map((l) => [at(l.partition, l.offset), l]))

  // Stored events: each at a produced, non-poison place, holding that place's seq, once.
  const stored = new Map<string, number>()
  for (const r of rows) {
    const place = at(r.partition, r.offset)
    const want = expected.get(place)
    if (stored.has(place)) {
      duplicates++
      note(`baton_events holds ${place} twice`)
    }
    stored.set(place, (stored.get(place) ?? 0) + 1)
    if (!want) note(`baton_events holds ${place} (seq ${r.seq}), which was never produced`)
    else if (want.poison) note(`baton_events holds poison event ${place} (seq ${want.seq})`)
    else if (Number(r.seq) !== want.seq)
      note(`baton_events holds seq ${r.seq} at ${place}, produced seq ${want.seq}`)
  }
  const seqs = new Map<string, number>()
  for (const r of rows) seqs.set(String(r.seq), (seqs.get(String(r.seq)) ?? 0) + 1)
  for (const [seq, n] of seqs) {
    if (n <= 1) continue
    duplicates += n - 1
    note(`seq ${seq} stored ${n} times`)
  }

  // Dead letters in the outbox table: exactly the poison events, once each.
  const dead = new Map<string, number>()
  for (const l of letters) {
    const place = at(l.partition, l.offset)
    dead.set(place, (dead.get(place) ?? 0) + 1)
    const want = expected.get(place)
    if (!want) note(`baton_dead_letters holds ${place}, which was never produced`)
    else if (!want.poison) {
      if (stored.has(place)) duplicates++
      note(`baton_dead_letters holds ${place} (seq ${want.seq}, valid JSON) with code ${l.error_code}`)
    }
  }
  for (const [place, n] of dead) {
    if (n <= 1) continue
    duplicates += n - 1
    note(`baton_dead_letters holds ${place} ${n} times`)
  }

  // Nothing missing, and every place is either stored or dead-lettered: offsets contiguous per partition.
  for (const l of ledger.landed) {
    const place = at(l.partition, l.offset)
    if (l.poison) {
      if (!dead.has(place)) {
        lost++
        note(`poison event ${place} (seq ${l.seq}) is not in baton_dead_letters`)
      }
    } else if (!stored.has(place) && !dead.has(place)) {
      lost++
      note(`event ${place} (seq ${l.seq}) is missing from baton_events`)
    } else if (!stored.has(place)) note(`event ${place} (seq ${l.seq}) is missing from baton_events`)
  }
  for (const [partition, end] of ledger.endOffsets()) {
    for (let offset = 0; offset < end; offset++) {
      const place = at(partition, offset)
      if (!stored.has(place) && !dead.has(place))
        note(`gap: offset ${place} neither stored nor dead-lettered`)
    }
  }

  // The dead-letter topic: every letter once, with its original place. The outbox may publish a moment later.
  const reader = new PartitionReader(ledger.brokers, `test-reader-${topic}`)
  let dlqRecords = 0
  try {
    const partitions = [...ledger.endOffsets().keys()]
    const wanted = ledger.poisoned
    const deadline = Date.now() + dlqTimeoutMs
    let published = new Map<string, number>()
    for (;;) {
      published = new Map()
      for (const p of partitions) {
        const { earliest, end } = await reader.offsets(deadLetterTopic(topic), p)
        for (const r of await reader.read(deadLetterTopic(topic), p, earliest, end)) {
          if (r.headers['baton-group'] !== group) continue
          const place = at(
            Number(r.headers['baton-original-partition']),
            r.headers['baton-original-offset'] ?? '?',
          )
          if (
            r.headers['baton-original-topic'] !== topic ||
            Number(r.headers['baton-original-partition']) !== p
          )
            note(
              `${deadLetterTopic(topic)}/${p}@${r.offset} names the wrong origin ${r.headers['baton-original-topic']}/${place}`,
            )
          published.set(place, (published.get(place) ?? 0) + 1)
        }
      }
      dlqRecords = [...published.values()].reduce((a, b) => a + b, 0)
      if (dlqRecords >= wanted || Date.now() > deadline) break
      await Bun.sleep(500)
    }
    for (const [place, n] of published) {
      if (n > 1) {
        duplicates += n - 1
        note(`${deadLetterTopic(topic)} holds the dead letter of ${place} ${n} times`)
      }
      if (!expected.get(place)?.poison)
        note(`${deadLetterTopic(topic)} holds ${place}, which is not a poison event`)
    }
    for (const l of ledger.landed) {
      const place = at(l.partition, l.offset)
      if (l.poison && !published.has(place)) {
        if (dead.has(place)) lost++
        note(
          `poison event ${place} (seq ${l.seq}) is not in ${deadLetterTopic(topic)} after ${dlqTimeoutMs} ms` +
            ` (baton_dead_letters.published_at ${letters.find((d) => at(d.partition, d.offset) === place)?.published ? 'is' : 'is not'} set)`,
        )
      }
    }
  } finally {
    await reader.close()
  }

  return {
    produced: ledger.produced,
    stored: rows.length,
    deadLettered: letters.length,
    dlqRecords,
    duplicates,
    lost,
    problems,
  }
}

/** Deletes what a test wrote to its (private) PostgreSQL for `topic` and `group`. */
export async function dropRows(databaseUrl: string, group: string, topic: string): Promise<void> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {}, connect_timeout: 5 })
  try {
    await sql`delete from baton_events where topic = ${topic}`
    await sql`delete from baton_dead_letters where group_id = ${group} and topic = ${topic}`
    await sql`delete from baton_watermarks where group_id = ${group} and topic = ${topic}`
  } finally {
    await sql.end({ timeout: 5 })
  }
}
