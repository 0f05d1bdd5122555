/**
 * The fault-injection scenario runner (issue 9). A `ChaosScenario` is three baton nodes (processes, as
 * users run them) in one consumer group on a topic of its own, fed at a fixed rate with synthetic events
 * (a seq per key, ~1% poison); a test injects faults and heals them through it, and `finish()` proves the
 * invariants at the end:
 *
 * - every produced event is in `baton_events` exactly once, offsets contiguous per partition apart from
 *   dead-lettered ones, every poison event in `baton_dead_letters` and in `<topic>.dlq` exactly once
 *   (checkExactlyOnce in test/cluster/support.ts, against what Kafka acknowledged or holds);
 * - each partition is owned by exactly one live node: every node's `GET /v1/cluster` names one owner
 *   and no unowned or doubly claimed partition, and of all nodes asked directly (not forwarded), only
 *   that owner runs the partition's actor;
 * - every fault recovered: after each heal, all events produced before it are committed (the recovery
 *   time is how long that took);
 * - no node's resident memory went over the scenario's bound, and no node exited unless the test made it.
 *
 * Each scenario's numbers go to test/chaos/results.json and a printed table, failed or not. Every wait
 * has a deadline; every process started here is killed by `cleanup()` (or, should the test process
 * die, by the exit handler below).
 */
import { afterAll, afterEach, beforeAll } from 'bun:test'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import type { ClusterView } from '../../cluster/cluster-view.ts'
import { type NodeProcess, startNodeProcess } from '../../deploy/local/node-process.ts'
import type { SyntheticOptions } from '../../runtime/cli/synthetic-events.ts'
import type { PartitionView } from '../../runtime/node-api.ts'
import {
  checkExactlyOnce,
  createTopic,
  deleteTopic,
  dropRows,
  EventLedger,
  type ExactlyOnceReport,
  mb,
  type PrivateServices,
  privateServices,
  sampleRss,
} from '../cluster/support.ts'
import { kafkaBrokers, serviceEnv } from '../support/env.ts'
import { uniqueName } from '../support/names.ts'
import { until } from '../support/until.ts'
import { Netns } from './netns.ts'

/** The brokers' `group.consumer.session.timeout.ms` in the local services (deploy/local/kafka.ts). */
export const SESSION_TIMEOUT_MS = 10_000

/**
 * Where results go: `BATON_CHAOS_RESULTS` (test/chaos/run.ts sets it to test/chaos/results.json); unset,
 * as in `npm test`, the table is only printed, so a test run leaves the tree as it was.
 */
const resultsFile = process.env.BATON_CHAOS_RESULTS || null
const logsDir = join(tmpdir(), 'baton-chaos-logs')

export interface ScenarioOptions {
  /** Short id, e.g. `1a-sigkill-rounds`: the key in results.json and the prefix of topic and group. */
  readonly id: string
  /** What the scenario does, one line. */
  readonly title: string
  /** Private services to use (and break); default: the shared ones `npm test` brought up. */
  readonly services?: PrivateServices
  readonly partitions?: number
  /** Events per second the producer keeps up throughout (default 2,000). */
  readonly rate?: number
  readonly events?: SyntheticOptions
  /** Peak RSS any node may reach (MB). */
  readonly rssBoundMb?: number
  /** Environment every node gets on top of the scenario's. */
  readonly nodeEnv?: Readonly<Record<string, string>>
}

/** One fault injected and healed, and how long the nodes took to commit what was produced before the heal. */
export interface FaultRecord {
  readonly fault: string
  readonly heldMs: number
  recoveryMs: number | null
}

export interface ScenarioResult {
  readonly scenario: string
  readonly title: string
  readonly passed: boolean
  readonly produced: number
  readonly stored: number
  readonly duplicates: number
  readonly lost: number
  readonly deadLettered: number
  readonly dlqRecords: number
  readonly poison: number
  /** The slowest recovery after a heal (ms); null when one did not recover. */
  readonly recoveryMs: number | null
  readonly faults: readonly FaultRecord[]
  readonly peakRssMb: Readonly<Record<string, number>>
  readonly rssBoundMb: number
  readonly ratePerSec: number
  readonly durationSec: number
  readonly notes: readonly string[]
  readonly problems: readonly string[]
  readonly finishedAt: string
}

interface Member {
  readonly id: string
  node: NodeProcess
  /** Set when the test itself stops or kills it: its exit is then expected. */
  expectedExit: boolean
  readonly rss: ReturnType<typeof sampleRss>
  readonly wrap?: readonly string[]
  readonly port?: number
}

const live = new Set<number>()
const privateDirs = new Set<string>()
process.on('exit', () => {
  for (const pid of live) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {}
  }
  Netns.deleteAllSync()
  // Private services run in sessions of their own: kill their process groups (best effort).
  for (const dir of privateDirs) {
    try {
      const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as {
        services: Record<string, { pid: number }>
      }
      for (const { pid } of Object.values(state.services)) process.kill(-pid, 'SIGKILL')
    } catch {}
  }
})

/** Remembers a private services folder so the exit handler can kill them should the test process die. */
export function trackPrivateServices(services: PrivateServices): PrivateServices {
  privateDirs.add(services.dir)
  return {
    ...services,
    async down() {
      await services.down()
      privateDirs.delete(services.dir)
    },
  }
}

/** What `scenarioFile` keeps for the tests of one file: its services, and the scenario under way. */
export interface ScenarioFile {
  /** Set before the file's first test runs. */
  services: PrivateServices
  /** The running test's scenario: ended (cleaned up) after each test. */
  scenario: ChaosScenario | undefined
}

/**
 * The set-up of a scenario file that breaks services of its own: a private set of `only` (in a temporary
 * folder) brought up before the file's tests and down after them, and each test's scenario cleaned up
 * after it. Call it once at the top of the file.
 */
export function scenarioFile(only: Parameters<typeof privateServices>[0]): ScenarioFile {
  const file = { scenario: undefined } as ScenarioFile
  beforeAll(async () => {
    file.services = trackPrivateServices(await privateServices(only))
  }, 120_000)
  afterEach(async () => {
    await file.scenario?.cleanup()
    file.scenario = undefined
  })
  afterAll(async () => {
    await file.services?.down()
  })
  return file
}

export class ChaosScenario {
  readonly options: ScenarioOptions
  readonly topic: string
  readonly group: string
  readonly partitions: number
  readonly rate: number
  readonly env: { KAFKA_BROKERS: string; DATABASE_URL: string; REDIS_URL: string }
  readonly brokers: readonly string[]
  readonly ledger: EventLedger
  readonly faults: FaultRecord[] = []
  readonly notes: string[] = []
  readonly #members = new Map<string, Member>()
  readonly #peakRss = new Map<string, number>()
  readonly #unexpected: string[] = []
  readonly #failures: string[] = []
  readonly #sql: postgres.Sql
  readonly #began = performance.now()
  #traffic: { stop: () => Promise<void>; failures: () => number } | null = null

  private constructor(options: ScenarioOptions) {
    this.options = options
    const slug = options.id.replace(/[^a-z0-9]/gi, '_').toLowerCase()
    this.topic = uniqueName(`chaos_${slug}`)
    this.group = uniqueName(`g_${slug}`)
    this.partitions = options.partitions ?? 8
    this.rate = options.rate ?? 2_000
    const env = options.services?.env ?? serviceEnv()
    this.env = { KAFKA_BROKERS: env.KAFKA_BROKERS, DATABASE_URL: env.DATABASE_URL, REDIS_URL: env.REDIS_URL }
    this.brokers = options.services ? env.KAFKA_BROKERS.split(',') : kafkaBrokers()
    this.ledger = new EventLedger(
      this.topic,
      options.events ?? { keys: 1_000, valueBytes: 200, poison: 0.01 },
      this.brokers,
    )
    this.#sql = postgres(this.env.DATABASE_URL, {
      max: 1,
      onnotice: () => {},
      connect_timeout: 5,
      idle_timeout: 5,
    })
  }

  /** Creates the scenario's topic (and its .dlq). */
  static async begin(options: ScenarioOptions): Promise<ChaosScenario> {
    const scenario = new ChaosScenario(options)
    await createTopic(scenario.topic, scenario.partitions, scenario.brokers)
    return scenario
  }

  /** The environment of node `id`. */
  nodeEnv(id: string, extra: Readonly<Record<string, string>> = {}): Record<string, string> {
    return {
      ...this.env,
      BATON_NODE_ID: id,
      BATON_TOPICS: this.topic,
      BATON_GROUP_ID: this.group,
      BATON_PARTITIONS: String(this.partitions),
      BATON_DRAIN_TIMEOUT_MS: '5000',
      ...this.options.nodeEnv,
      ...extra,
    }
  }

  /**
   * Starts node `id` (again). `wait`: until it answers /readyz (default true). `wrap` runs it inside a
   * network namespace; `port` fixes its HTTP port.
   */
  async startNode(
    id: string,
    opts: { wait?: boolean; env?: Record<string, string>; wrap?: readonly string[]; port?: number } = {},
  ): Promise<NodeProcess> {
    const old = this.#members.get(id)
    if (old && old.node.proc.exitCode === null && old.node.proc.signalCode === null)
      throw new Error(`node ${id} still runs`)
    if (old) this.#retire(old)
    const env = this.nodeEnv(id, opts.env)
    const port = opts.port ?? old?.port
    if (port !== undefined) env.BATON_HTTP_PORT = String(port)
    const wrap = opts.wrap ?? old?.wrap
    const node = await startNodeProcess(env, {
      waitReady: opts.wait ?? true,
      readyTimeoutMs: 90_000,
      wrap,
    })
    live.add(node.proc.pid)
    const member: Member = {
      id,
      node,
      expectedExit: false,
      rss: sampleRss(node.proc.pid, 250),
      wrap,
      port: port ?? Number(new URL(node.url).port),
    }
    this.#members.set(id, member)
    void node.proc.exited.then(() => {
      live.delete(node.proc.pid)
      if (!member.expectedExit && this.#members.get(id) === member) {
        this.#unexpected.push(
          `node ${id} (pid ${node.proc.pid}) exited on its own with ${node.proc.signalCode ?? node.proc.exitCode}:\n${tail(node.output(), 15)}`,
        )
      }
    })
    return node
  }

  /** Starts the given nodes at once and waits until every partition has one owner among them. */
  async startNodes(ids: readonly string[]): Promise<void> {
    await Promise.all(ids.map((id) => this.startNode(id)))
    await this.settledOwnership(ids, 90_000)
  }

  node(id: string): NodeProcess {
    const member = this.#members.get(id)
    if (!member) throw new Error(`no node ${id}`)
    return member.node
  }

  /** Ids of the nodes whose process runs. */
  liveIds(): string[] {
    return [...this.#members.values()]
      .filter((m) => m.node.proc.exitCode === null && m.node.proc.signalCode === null)
      .map((m) => m.id)
      .sort()
  }

  /** SIGKILL: a crash. */
  async kill(id: string): Promise<void> {
    const member = this.#member(id)
    member.expectedExit = true
    await member.node.kill()
  }

  /** SIGTERM: the node drains and leaves; resolves with its exit code. */
  async stop(id: string, timeoutMs = 30_000): Promise<number | null> {
    const member = this.#member(id)
    member.expectedExit = true
    return member.node.stop(timeoutMs)
  }

  /** Records a broken expectation of the test's own; `finish` reports it with the invariants and fails. */
  fail(problem: string): void {
    this.#failures.push(problem)
  }

  /** Marks node `id`'s coming exit as the test's doing (e.g. a crash switch it set). */
  expectExit(id: string): void {
    this.#member(id).expectedExit = true
  }

  signal(id: string, signal: 'SIGSTOP' | 'SIGCONT'): void {
    process.kill(this.#member(id).node.proc.pid, signal)
  }

  /**
   * Produces `rate` events a second (in steps of 100 ms) until `stopTraffic`, or for `maxMs` at most. A
   * step that fails (Kafka unreachable) is not repeated: its events count as uncertain until `finish`
   * reads the topic back.
   */
  startTraffic(maxMs = 600_000): void {
    if (this.#traffic) throw new Error('traffic already flows')
    let running = true
    let failures = 0
    const perStep = Math.max(1, Math.round(this.rate / 10))
    const end = performance.now() + maxMs
    const loop = (async () => {
      let due = performance.now()
      while (running && performance.now() < end) {
        const now = performance.now()
        // Owed events, at most a second's worth: after a stall the rate catches up without a flood.
        const steps = Math.min(10, Math.max(1, Math.floor((now - due) / 100) + 1))
        due = Math.max(due + steps * 100, now - 1_000)
        if (!(await this.ledger.tryProduce(perStep * steps))) {
          failures++
          await Bun.sleep(500)
        }
        const wait = due - performance.now()
        if (wait > 0) await Bun.sleep(wait)
      }
    })()
    this.#traffic = {
      stop: async () => {
        running = false
        await loop
      },
      failures: () => failures,
    }
  }

  async stopTraffic(): Promise<void> {
    const traffic = this.#traffic
    this.#traffic = null
    await traffic?.stop()
    if (traffic && traffic.failures() > 0)
      this.notes.push(
        `${traffic.failures()} produce requests failed during faults (reconciled from the topic)`,
      )
  }

  /** Lets traffic flow for `ms` (the stream goes on; this is pacing, not a correctness wait). */
  async flow(ms: number): Promise<void> {
    await Bun.sleep(ms)
  }

  /** The partitions' watermarks (next offset to store) in PostgreSQL; null while PostgreSQL does not answer. */
  async watermarks(): Promise<Map<number, number> | null> {
    try {
      const rows = await this.#sql<{ partition: number; next_offset: string }[]>`
        select partition, next_offset::text from baton_watermarks
        where group_id = ${this.group} and topic = ${this.topic}`
      return new Map(rows.map((r) => [r.partition, Number(r.next_offset)]))
    } catch {
      return null
    }
  }

  /** Events committed (stored or dead-lettered) so far, over all partitions; 0 while PostgreSQL is down. */
  async committed(): Promise<number> {
    const marks = await this.watermarks()
    return marks ? [...marks.values()].reduce((a, b) => a + b, 0) : 0
  }

  /** Waits until at least `events` are committed. */
  async waitCommitted(events: number, timeoutMs = 60_000): Promise<void> {
    await until(`${events} events committed`, timeoutMs, async () =>
      (await this.committed()) >= events ? true : undefined,
    )
  }

  /**
   * Waits until every partition's watermark reaches `ends` (default: what was produced so far); resolves
   * with the ms it took, or null at the deadline.
   */
  async waitCommittedUpTo(ends: ReadonlyMap<number, number>, timeoutMs: number): Promise<number | null> {
    const began = performance.now()
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const marks = await this.watermarks()
      if (marks && [...ends].every(([p, end]) => (marks.get(p) ?? 0) >= end)) return performance.now() - began
      await Bun.sleep(200)
    }
    return null
  }

  /**
   * One fault: `inject`, hold it `holdMs` while traffic flows, `heal`, then measure until every event
   * produced before the heal is committed (up to `recoveryTimeoutMs`).
   */
  async fault(
    name: string,
    inject: () => Promise<void> | void,
    heal: () => Promise<void> | void,
    opts: { holdMs: number; recoveryTimeoutMs?: number; awaitRecovery?: boolean },
  ): Promise<FaultRecord> {
    const began = performance.now()
    await inject()
    const rest = opts.holdMs - (performance.now() - began)
    if (rest > 0) await Bun.sleep(rest)
    const heldMs = Math.round(performance.now() - began)
    await heal()
    const record: FaultRecord = { fault: name, heldMs, recoveryMs: null }
    this.faults.push(record)
    const measuring = this.measureRecovery(record, opts.recoveryTimeoutMs ?? 120_000)
    if (opts.awaitRecovery !== false) await measuring
    console.info(
      `[${this.options.id}] ${name}: held ${(heldMs / 1000).toFixed(1)} s, ` +
        `${record.recoveryMs === null ? (opts.awaitRecovery === false ? 'recovering' : 'NOT recovered') : `recovered in ${(record.recoveryMs / 1000).toFixed(1)} s`}`,
    )
    return record
  }

  /**
   * Measures from now (the heal) until the stream flows end to end again: everything produced before now
   * is committed, and so is, in every partition, an event produced after now. (The second part matters
   * when the fault stopped the producer too, as a broker outage does.) Writes it into `record`; null at
   * the deadline. Needs the traffic running.
   */
  async measureRecovery(record: FaultRecord, timeoutMs: number): Promise<void> {
    const began = performance.now()
    const deadline = Date.now() + timeoutMs
    const before = this.ledger.endOffsets()
    let target: Map<number, number> | null = null
    while (Date.now() < deadline) {
      const now = this.ledger.endOffsets()
      if (
        Array.from({ length: this.partitions }, (_, p) => p).every(
          (p) => (now.get(p) ?? 0) > (before.get(p) ?? 0),
        )
      ) {
        target = now
        break
      }
      await Bun.sleep(100)
    }
    const ms = target && (await this.waitCommittedUpTo(target, deadline - Date.now()))
    record.recoveryMs = ms === null || ms === undefined ? null : Math.round(performance.now() - began)
  }

  /** Records a fault healed just now, measured in the background (for faults the test times itself). */
  healed(name: string, heldMs: number, timeoutMs = 120_000): Promise<void> {
    const record: FaultRecord = { fault: name, heldMs: Math.round(heldMs), recoveryMs: null }
    this.faults.push(record)
    return this.measureRecovery(record, timeoutMs)
  }

  /** GET `path` on node `id` (or a URL), JSON. */
  async get<T>(
    url: string,
    path: string,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: T }> {
    const res = await fetch(`${url}${path}`, { headers, signal: AbortSignal.timeout(5_000) })
    return { status: res.status, body: (await res.json()) as T }
  }

  /** The sum of `baton_fenced_commits_total` over a node's partitions, from its /metrics. */
  async fencedCommits(id: string): Promise<number> {
    const res = await fetch(`${this.node(id).url}/metrics`, { signal: AbortSignal.timeout(5_000) })
    let sum = 0
    for (const line of (await res.text()).split('\n')) {
      if (line.startsWith('baton_fenced_commits_total{')) sum += Number(line.split(' ').at(-1))
    }
    return sum
  }

  /**
   * Who owns each partition, checked two ways: every live node's /v1/cluster (one owner each, none
   * unowned or claimed twice, the owners among `ids`), and every node asked for every partition without
   * forwarding (exactly one runs it, the owner /v1/cluster names). Resolves with the owners by
   * partition once that holds; throws with the last disagreement at the deadline.
   */
  async settledOwnership(ids: readonly string[], timeoutMs: number): Promise<string[]> {
    let last = ''
    try {
      return await until(
        'each partition owned by exactly one node',
        timeoutMs,
        async () => {
          const owners: string[] = []
          const views: ClusterView[] = []
          for (const id of ids) {
            const { status, body } = await this.get<ClusterView>(this.node(id).url, '/v1/cluster').catch(
              (err: unknown) => ({ status: 0, body: String(err) as unknown as ClusterView }),
            )
            if (status !== 200) {
              last = `${id}: /v1/cluster answered ${status} ${JSON.stringify(body).slice(0, 200)}`
              return undefined
            }
            views.push(body)
          }
          for (const view of views) {
            const nodeIds = view.nodes.map((n) => n.id).sort()
            if (view.unowned.length > 0 || view.claimedTwice.length > 0) {
              last = `${view.answeredBy}: unowned ${JSON.stringify(view.unowned.map((u) => u.partition))}, claimed twice ${JSON.stringify(view.claimedTwice)}`
              return undefined
            }
            if (JSON.stringify(nodeIds) !== JSON.stringify([...ids].sort())) {
              last = `${view.answeredBy}: live nodes ${nodeIds.join(',')}, expected ${[...ids].sort().join(',')}`
              return undefined
            }
          }
          for (let p = 0; p < this.partitions; p++) {
            const named = new Set(
              views.map((v) => {
                const row = v.partitions.find((r) => r.topic === this.topic && r.partition === p)
                return `${row?.owner}@${row?.epoch}`
              }),
            )
            if (named.size !== 1) {
              last = `partition ${p}: the nodes name different owners ${[...named].join(' / ')}`
              return undefined
            }
            const runners: string[] = []
            for (const id of ids) {
              const answer = await this.get<PartitionView>(
                this.node(id).url,
                `/v1/actors/${this.topic}/${p}`,
                {
                  'X-Baton-Forwarded-By': 'chaos-check',
                },
              ).catch(() => ({ status: 0, body: null }))
              if (answer.status === 200) runners.push(`${id}:${answer.body?.status}@${answer.body?.epoch}`)
            }
            const [owner] = [...named]
            const expected = `${owner?.split('@')[0]}:running@${owner?.split('@')[1]}`
            if (runners.length !== 1 || runners[0] !== expected) {
              last = `partition ${p}: /v1/cluster names ${owner}, the nodes themselves run it as [${runners.join(', ')}]`
              return undefined
            }
            owners.push(owner?.split('@')[0] ?? '')
          }
          return owners
        },
        250,
      )
    } catch (err) {
      throw new Error(`${(err as Error).message}; last seen: ${last}`)
    }
  }

  /**
   * The end of a scenario: stops the traffic, reads back uncertain produces, waits until everything is
   * committed, checks ownership among `ids` (default: the live nodes) and exactly-once, records the result
   * in results.json and throws when an invariant does not hold.
   */
  async finish(opts: { ids?: readonly string[]; catchUpTimeoutMs?: number } = {}): Promise<ScenarioResult> {
    await this.stopTraffic()
    const problems: string[] = []
    let report: ExactlyOnceReport | null = null
    try {
      const reconciled = await this.ledger.reconcile(this.partitions)
      if (reconciled.found + reconciled.missing > 0)
        this.notes.push(
          `of the events whose produce failed, ${reconciled.found} are in the topic, ${reconciled.missing} never got there`,
        )
      const caughtUp = await this.waitCommittedUpTo(
        this.ledger.endOffsets(),
        opts.catchUpTimeoutMs ?? 180_000,
      )
      if (caughtUp === null) {
        const marks = await this.watermarks()
        problems.push(
          `not every event committed within ${(opts.catchUpTimeoutMs ?? 180_000) / 1000} s: watermarks ${JSON.stringify([...(marks ?? [])])}, produced up to ${JSON.stringify([...this.ledger.endOffsets()])}`,
        )
      }
      const ids = opts.ids ?? this.liveIds()
      try {
        const owners = await this.settledOwnership(ids, 60_000)
        this.notes.push(`owners at the end: ${owners.map((o, p) => `${p}:${o}`).join(' ')}`)
      } catch (err) {
        problems.push(`ownership: ${(err as Error).message}`)
      }
      report = await checkExactlyOnce(this.env.DATABASE_URL, this.group, this.ledger, 30_000)
      problems.push(...report.problems)
      const poison = this.ledger.poisoned
      if (report.stored !== report.produced - poison)
        problems.push(`stored ${report.stored}, expected ${report.produced - poison}`)
      if (report.deadLettered !== poison || report.dlqRecords !== poison)
        problems.push(
          `dead letters ${report.deadLettered} (topic ${report.dlqRecords}), expected ${poison} poison events`,
        )
    } catch (err) {
      problems.push(`the check itself failed: ${(err as Error).stack ?? err}`)
    }
    for (const f of this.faults)
      if (f.recoveryMs === null)
        problems.push(`${f.fault}: not recovered (events produced before the heal not all committed)`)
    const peak = this.peakRssMb()
    const bound = this.options.rssBoundMb ?? 400
    for (const [id, m] of Object.entries(peak))
      if (m >= bound) problems.push(`node ${id} peaked at ${m} MB RSS, over the bound of ${bound} MB`)
    problems.push(...this.#unexpected, ...this.#failures)
    const recoveries = this.faults.map((f) => f.recoveryMs)
    const result: ScenarioResult = {
      scenario: this.options.id,
      title: this.options.title,
      passed: problems.length === 0,
      produced: report?.produced ?? this.ledger.produced,
      stored: report?.stored ?? 0,
      duplicates: report?.duplicates ?? -1,
      lost: report?.lost ?? -1,
      deadLettered: report?.deadLettered ?? 0,
      dlqRecords: report?.dlqRecords ?? 0,
      poison: this.ledger.poisoned,
      recoveryMs: recoveries.includes(null) ? null : Math.max(0, ...(recoveries as number[])),
      faults: this.faults,
      peakRssMb: peak,
      rssBoundMb: bound,
      ratePerSec: this.rate,
      durationSec: Math.round((performance.now() - this.#began) / 100) / 10,
      notes: this.notes,
      problems,
      finishedAt: new Date().toISOString(),
    }
    recordResult(result)
    if (problems.length > 0) {
      const logs = this.saveLogs()
      throw new Error(
        `[${this.options.id}] invariants broken:\n- ${problems.slice(0, 30).join('\n- ')}\nnode logs: ${logs}`,
      )
    }
    return result
  }

  /** Peak RSS per node id (over all its processes so far), MB. */
  peakRssMb(): Record<string, number> {
    for (const m of this.#members.values()) this.#foldRss(m)
    return Object.fromEntries(
      [...this.#peakRss].sort(([a], [b]) => a.localeCompare(b)).map(([id, b]) => [id, mb(b)]),
    )
  }

  /** Writes every node's output to <tmp>/baton-chaos-logs/<scenario>-<node>.log; returns the folder. */
  saveLogs(): string {
    mkdirSync(logsDir, { recursive: true })
    for (const m of this.#members.values())
      writeFileSync(join(logsDir, `${this.options.id}-${m.id}.log`), m.node.output())
    return logsDir
  }

  /** Kills every node (saving their logs, see `saveLogs`), drops the rows and topics. Never throws. */
  async cleanup(): Promise<void> {
    await this.#traffic?.stop().catch(() => {})
    try {
      this.saveLogs()
    } catch {}
    for (const m of this.#members.values()) {
      m.expectedExit = true
      // A node a test left frozen (SIGSTOP) is continued first, and only while it is still ours.
      if (m.node.proc.exitCode === null && m.node.proc.signalCode === null) m.node.proc.kill('SIGCONT')
      await m.node.kill().catch(() => {})
      this.#retire(m)
    }
    await this.ledger.close().catch(() => {})
    await this.#sql.end({ timeout: 5 }).catch(() => {})
    await dropRows(this.env.DATABASE_URL, this.group, this.topic).catch((err) =>
      console.warn(`[${this.options.id}] dropping rows: ${err}`),
    )
    await deleteTopic(this.topic, this.brokers).catch((err) =>
      console.warn(`[${this.options.id}] deleting topics: ${err}`),
    )
  }

  #member(id: string): Member {
    const member = this.#members.get(id)
    if (!member) throw new Error(`no node ${id}`)
    return member
  }

  #retire(member: Member): void {
    member.rss.stop()
    this.#foldRss(member)
  }

  #foldRss(member: Member): void {
    this.#peakRss.set(member.id, Math.max(this.#peakRss.get(member.id) ?? 0, member.rss.peak()))
  }
}

/** Polls `read` every 250 ms until it returns a value; throws `what` at the deadline. */

function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n')
}

/** A seeded random number generator (mulberry32), so a failing run can be repeated: print the seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Prints the scenario's row and, when results are kept, replaces its entry in the results file. */
export function recordResult(result: ScenarioResult): void {
  console.info(formatTable([result]))
  if (!resultsFile) return
  const all = [...readResults(resultsFile).filter((r) => r.scenario !== result.scenario), result].sort(
    (a, b) => a.scenario.localeCompare(b.scenario, 'en', { numeric: true }),
  )
  writeFileSync(resultsFile, `${JSON.stringify({ scenarios: all }, null, 2)}\n`)
}

/** The scenarios in a results file (none when it does not exist yet). */
export function readResults(file: string): ScenarioResult[] {
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { scenarios: ScenarioResult[] }).scenarios
  } catch {
    return []
  }
}

/** The results as a fixed-width table. */
export function formatTable(results: readonly ScenarioResult[]): string {
  const header = [
    'scenario',
    'ok',
    'produced',
    'stored',
    'dup',
    'lost',
    'dead-lettered',
    'recovery',
    'peak RSS MB per node',
    'took',
  ]
  const rows = results.map((r) => [
    r.scenario,
    r.passed ? 'yes' : 'NO',
    String(r.produced),
    String(r.stored),
    String(r.duplicates),
    String(r.lost),
    `${r.deadLettered}/${r.dlqRecords}`,
    r.recoveryMs === null ? 'never' : `${(r.recoveryMs / 1000).toFixed(1)} s`,
    Object.entries(r.peakRssMb)
      .map(([id, m]) => `${id.replace('baton-', '')}:${m}`)
      .join(' '),
    `${Math.round(r.durationSec)} s`,
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)))
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ')
  return [line(header), ...rows.map(line)].join('\n')
}
