/**
 * Cluster mode under sink and checkpoint-store faults: PostgreSQL restarted and PostgreSQL down for 15 s,
 * Redis flushed and Redis restarted, each while a node process moves a stream from Kafka into PostgreSQL.
 * After each, every produced event is stored exactly once (poison events dead-lettered exactly once), and
 * while PostgreSQL is down the node's memory stays bounded although the backlog does not.
 *
 * PostgreSQL and Redis are private to this file (a temporary services folder), so breaking them disturbs
 * no other test; Kafka is the shared one.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Redis from 'ioredis'
import { type NodeProcess, startNodeProcess } from '../../deploy/local/node-process.ts'
import { startService, stopService } from '../../deploy/local/services.ts'
import type { SyntheticOptions } from '../../runtime/cli/synthetic-events.ts'
import type { PartitionView } from '../../runtime/node-api.ts'
import { uniqueName } from '../support/names.ts'
import {
  checkExactlyOnce,
  createTopic,
  deleteTopic,
  dropRows,
  EventLedger,
  type ExactlyOnceReport,
  mb,
  type PrivateServices,
  partitionView,
  privateServices,
  residentBytes,
  sampleRss,
  waitCaughtUp,
} from './support.ts'

const partitions = 4
const apiToken = 'sink-faults-admin-token'
let services: PrivateServices
/** Nodes still running, killed in afterAll should a test time out before its own cleanup. */
const running = new Set<NodeProcess>()

beforeAll(async () => {
  services = await privateServices()
}, 60_000)

afterAll(async () => {
  for (const node of running) await node.kill()
  await services?.down()
})

/** One test's topic, group, producer and node, and how to take them all down again. */
interface Run {
  readonly topic: string
  readonly group: string
  readonly ledger: EventLedger
  readonly node: NodeProcess
  readonly began: number
  /** The node's peak RSS so far, in MB (sampled every 200 ms). */
  peakRssMb(): number
  finish(): Promise<void>
}

async function begin(name: string, events: SyntheticOptions): Promise<Run> {
  const topic = uniqueName(name)
  const group = uniqueName(`g_${name}`)
  const dataDir = mkdtempSync(join(tmpdir(), 'baton-faults-node-'))
  await createTopic(topic, partitions)
  const ledger = new EventLedger(topic, events)
  let node: NodeProcess
  try {
    node = await startNodeProcess({
      ...services.env,
      BATON_TOPICS: topic,
      BATON_GROUP_ID: group,
      BATON_PARTITIONS: String(partitions),
      BATON_NODE_ID: `${name}-node`,
      BATON_API_TOKEN: apiToken,
      BATON_DATA_DIR: dataDir,
    })
  } catch (err) {
    await ledger.close()
    await deleteTopic(topic).catch(() => {})
    rmSync(dataDir, { recursive: true, force: true })
    throw err
  }
  running.add(node)
  const rss = sampleRss(node.proc.pid, 200)
  return {
    topic,
    group,
    ledger,
    node,
    began: performance.now(),
    peakRssMb: () => mb(rss.peak()),
    async finish() {
      rss.stop()
      const code = await node.stop(20_000)
      running.delete(node)
      if (code !== 0)
        console.warn(`[${name}] baton start exited with ${code} on SIGTERM:\n${tail(node.output())}`)
      await ledger.close()
      // A service a test left stopped is brought back so that the rows can be dropped.
      await startService('postgres', { dir: services.dir }).catch(() => {})
      await startService('redis', { dir: services.dir }).catch(() => {})
      await dropRows(services.env.DATABASE_URL, group, topic).catch((err) => console.warn(`[${name}] ${err}`))
      await deleteTopic(topic).catch((err) => console.warn(`[${name}] ${err}`))
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

function tail(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n')
}

/** The views of the partitions (default: all), or why one did not answer. */
async function views(
  run: Run,
  which = Array.from({ length: partitions }, (_, p) => p),
): Promise<(PartitionView | string)[]> {
  return Promise.all(
    which.map((p) =>
      partitionView(run.node.url, run.topic, p, apiToken).then(
        (v) => (v.status === 200 ? v.body : `HTTP ${v.status}: ${JSON.stringify(v.body)}`),
        (err: unknown) => String(err),
      ),
    ),
  )
}

/** Events committed so far over all partitions (counting what answered). */
async function committed(run: Run): Promise<number> {
  return (await views(run)).reduce(
    (sum, v) => sum + (typeof v === 'string' ? 0 : (v.committedOffset ?? 0)),
    0,
  )
}

async function until(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  run: Run,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await Bun.sleep(100)
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms; node output:\n${tail(run.node.output())}`)
}

/** Produces `total` events in steps of `step`, pausing `pauseMs` between steps: a stream that keeps flowing. */
async function stream(ledger: EventLedger, total: number, step: number, pauseMs: number): Promise<void> {
  for (let sent = 0; sent < total; sent += step) {
    await ledger.produce(Math.min(step, total - sent))
    await Bun.sleep(pauseMs)
  }
}

function expectExactlyOnce(report: ExactlyOnceReport, ledger: EventLedger): void {
  expect(report.problems).toEqual([])
  expect(report.stored).toBe(ledger.produced - ledger.poisoned)
  expect(report.deadLettered).toBe(ledger.poisoned)
  expect(report.dlqRecords).toBe(ledger.poisoned)
}

function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`
}

/** Restarts every partition's actor through the admin API: each takes a new epoch from Redis and claims again. */
async function restartActors(run: Run): Promise<void> {
  for (let p = 0; p < partitions; p++) {
    const res = await fetch(`${run.node.url}/v1/actors/${run.topic}/${p}/restart`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiToken}` },
      signal: AbortSignal.timeout(70_000),
    })
    if (res.status !== 200)
      throw new Error(`restart of partition ${p} answered ${res.status}: ${await res.text()}`)
  }
}

test('PostgreSQL crash-restarted twice (immediate shutdown, then SIGKILL) while 30,000 events stream through: exactly once, nothing dead-lettered for the outages', async () => {
  const run = await begin('pg_restart', { keys: 1000, valueBytes: 200, poison: 0.002 })
  try {
    const producing = stream(run.ledger, 30_000, 1_000, 150)
    const crashes: string[] = []
    for (const [at, mode] of [
      [5_000, 'immediate'],
      [15_000, 'kill'],
    ] as const) {
      await until(`${at} events committed`, async () => (await committed(run)) >= at, 30_000, run)
      const committedThen = await committed(run)
      const began = performance.now()
      await stopService('postgres', { dir: services.dir, mode })
      await startService('postgres', { dir: services.dir })
      crashes.push(`${mode} at ${committedThen} committed (back in ${seconds(began)})`)
    }
    await producing
    await waitCaughtUp(run.node.url, run.ledger, partitions, 60_000, apiToken)
    const after = await views(run)
    const report = await checkExactlyOnce(services.env.DATABASE_URL, run.group, run.ledger)
    const restarts = after.reduce((n, v) => n + (typeof v === 'string' ? 0 : v.restarts), 0)
    const errors = after.flatMap((v) => (typeof v === 'string' || !v.lastError ? [] : [v.lastError.code]))
    console.log(
      `[pg restart] ${report.produced} events (${run.ledger.poisoned} poison); PostgreSQL crashed ${crashes.join(', ')}; ` +
        `stored ${report.stored}, dead letters ${report.deadLettered} (topic ${report.dlqRecords}), actor restarts ${restarts}, ` +
        `last errors [${errors.join(', ')}]; ${seconds(run.began)} in all, peak RSS ${run.peakRssMb()} MB`,
    )
    expectExactlyOnce(report, run.ledger)
  } finally {
    await run.finish()
  }
}, 120_000)

test('PostgreSQL unreachable for 15 s while 340 MB more are produced: memory bounded, catch-up exactly once, the partitions say the sink is down', async () => {
  const rssBoundMb = 400
  const run = await begin('pg_down', { keys: 1000, valueBytes: 1024, poison: 0.001 })
  const pid = run.node.proc.pid
  try {
    // A stream of 10,000 events a second; PostgreSQL goes away in the middle of it.
    const flowing = stream(run.ledger, 20_000, 2_000, 200)
    await until('5,000 events committed', async () => (await committed(run)) >= 5_000, 30_000, run)
    const baseline = residentBytes(pid) ?? 0
    const rss = sampleRss(pid, 100)
    const downAt = performance.now()
    await stopService('postgres', { dir: services.dir, mode: 'immediate' })

    // What the node says about its partitions while the sink is down, sampled until PostgreSQL is back.
    const seen = { sinkDown: 0, lastError: '', answered: 0, failed: 0, failure: '', notReady: '' }
    let observing = true
    const observer = (async () => {
      while (observing) {
        for (const v of await views(run)) {
          if (typeof v === 'string') {
            seen.failed++
            seen.failure ||= v
            continue
          }
          seen.answered++
          if (v.status === 'sink-down') seen.sinkDown++
          if (v.lastError && !seen.lastError) seen.lastError = `${v.lastError.code}: ${v.lastError.message}`
        }
        const ready = await fetch(`${run.node.url}/readyz`, { signal: AbortSignal.timeout(5_000) }).catch(
          () => null,
        )
        if (ready && ready.status !== 200 && !seen.notReady) seen.notReady = await ready.text()
        await Bun.sleep(500)
      }
    })()

    await flowing
    const before = run.ledger.produced
    const produceBegan = performance.now()
    await run.ledger.produce(350_000)
    const backlog = run.ledger.produced - before
    const backlogMb = mb(backlog * run.ledger.options.valueBytes)
    const produceTook = seconds(produceBegan)
    const remaining = 15_000 - (performance.now() - downAt)
    if (remaining > 0) await Bun.sleep(remaining)
    const outage = seconds(downAt)
    const peakDuringOutage = rss.peak()
    const exitedDuringOutage = run.node.proc.exitCode
    await startService('postgres', { dir: services.dir })
    observing = false
    await observer

    const upAt = performance.now()
    await waitCaughtUp(run.node.url, run.ledger, partitions, 75_000, apiToken)
    const catchUp = seconds(upAt)
    rss.stop()
    const report = await checkExactlyOnce(services.env.DATABASE_URL, run.group, run.ledger)
    console.log(
      `[pg down] ${report.produced} events of ${run.ledger.options.valueBytes} B (${run.ledger.poisoned} poison); PostgreSQL down ${outage}, ` +
        `${backlog} events (${backlogMb} MB) produced meanwhile in ${produceTook}; RSS before ${mb(baseline)} MB, ` +
        `peak during the outage ${mb(peakDuringOutage)} MB (bound ${rssBoundMb} MB, ${rss.samples()} samples), peak during catch-up ${mb(rss.peak())} MB; ` +
        `catch-up ${catchUp}; stored ${report.stored}, dead letters ${report.deadLettered} (topic ${report.dlqRecords}); ` +
        `partition views during the outage: ${seen.answered} answered (${seen.sinkDown} 'sink-down', lastError '${seen.lastError}'), ` +
        `${seen.failed} failed (${seen.failure}); readyz ${seen.notReady ? `not ready (${seen.notReady})` : 'ready throughout'}`,
    )
    expect(exitedDuringOutage).toBeNull()
    // Buffering the backlog would take the node past the bound: the bound means something.
    expect(mb(baseline) + backlogMb).toBeGreaterThan(rssBoundMb)
    expect(mb(peakDuringOutage)).toBeLessThan(rssBoundMb)
    expectExactlyOnce(report, run.ledger)
    if (seen.sinkDown === 0 && seen.lastError === '') {
      throw new Error(
        `GET /v1/actors/${run.topic}/:partition never showed status 'sink-down' or a lastError during the ${outage} outage: ` +
          `${seen.answered} views answered without either, ${seen.failed} failed, e.g. ${seen.failure}`,
      )
    }
  } finally {
    await run.finish()
  }
}, 150_000)

test('Redis FLUSHALL mid-stream, then every partition actor restarted on the flushed Redis: no doubles (the watermark wins), no loss', async () => {
  const run = await begin('redis_flush', { keys: 1000, valueBytes: 200, poison: 0.002 })
  const redis = new Redis(services.env.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 })
  try {
    await redis.connect()
    const producing = stream(run.ledger, 30_000, 1_000, 150)
    await until('5,000 events committed', async () => (await committed(run)) >= 5_000, 30_000, run)
    const epochsBefore = (await views(run)).map((v) => (typeof v === 'string' ? null : v.epoch))
    const atFlush = await committed(run)
    expect(await redis.flushall()).toBe('OK')
    // New epochs come from the flushed Redis; the sink's watermark decides where each actor resumes.
    await restartActors(run)
    const epochsAfter = (await views(run)).map((v) => (typeof v === 'string' ? null : v.epoch))
    await Bun.sleep(500)
    expect(await redis.flushall()).toBe('OK')
    const atSecondFlush = await committed(run)
    await producing
    await waitCaughtUp(run.node.url, run.ledger, partitions, 60_000, apiToken)
    const report = await checkExactlyOnce(services.env.DATABASE_URL, run.group, run.ledger)
    console.log(
      `[redis flushall] ${report.produced} events (${run.ledger.poisoned} poison); FLUSHALL at ${atFlush} and ${atSecondFlush} committed; ` +
        `epochs ${JSON.stringify(epochsBefore)} -> ${JSON.stringify(epochsAfter)}; stored ${report.stored}, ` +
        `dead letters ${report.deadLettered} (topic ${report.dlqRecords}); ${seconds(run.began)} in all, peak RSS ${run.peakRssMb()} MB`,
    )
    for (let p = 0; p < partitions; p++) expect(epochsAfter[p] ?? 0).toBeGreaterThan(epochsBefore[p] ?? 0)
    expectExactlyOnce(report, run.ledger)
  } finally {
    redis.disconnect()
    await run.finish()
  }
}, 120_000)

test('Redis killed mid-stream, a partition actor restarted while it is down, Redis started again, all actors restarted: no doubles, no loss', async () => {
  const run = await begin('redis_restart', { keys: 1000, valueBytes: 200, poison: 0.002 })
  try {
    const producing = stream(run.ledger, 30_000, 1_000, 150)
    await until('5,000 events committed', async () => (await committed(run)) >= 5_000, 30_000, run)
    const atKill = await committed(run)
    const downAt = performance.now()
    const others = () => views(run, [1, 2, 3])
    const othersAtKill = (await others()).reduce(
      (n, v) => n + (typeof v === 'string' ? 0 : (v.committedOffset ?? 0)),
      0,
    )
    await stopService('redis', { dir: services.dir, mode: 'kill' })
    // Partition 0's new instance cannot take an epoch while Redis is down: its supervisor keeps restarting it.
    const restartWhileDown = await fetch(`${run.node.url}/v1/actors/${run.topic}/0/restart`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiToken}` },
      signal: AbortSignal.timeout(70_000),
    }).then(async (r) => `${r.status} ${(await r.text()).slice(0, 300)}`)
    // The other partitions' checkpoints fail while Redis is down; the sink's watermark carries on.
    let withoutRedis = 0
    await until(
      '2,000 more events committed by partitions 1-3 without Redis',
      async () => {
        const now = (await others()).reduce(
          (n, v) => n + (typeof v === 'string' ? 0 : (v.committedOffset ?? 0)),
          0,
        )
        withoutRedis = now - othersAtKill
        return withoutRedis >= 2_000
      },
      30_000,
      run,
    )
    const p0 = await partitionView(run.node.url, run.topic, 0, apiToken).then(
      (v) => `${v.status} ${JSON.stringify(v.body)}`.slice(0, 300),
      String,
    )
    const left = 5_000 - (performance.now() - downAt)
    if (left > 0) await Bun.sleep(left)
    await startService('redis', { dir: services.dir })
    const down = seconds(downAt)
    await restartActors(run)
    await producing
    await waitCaughtUp(run.node.url, run.ledger, partitions, 60_000, apiToken)
    const report = await checkExactlyOnce(services.env.DATABASE_URL, run.group, run.ledger)
    console.log(
      `[redis restart] ${report.produced} events (${run.ledger.poisoned} poison); Redis killed at ${atKill} committed, down ${down}, ` +
        `${withoutRedis} events committed by partitions 1-3 meanwhile; restart of partition 0 while down answered ${restartWhileDown}; partition 0 then ${p0}; ` +
        `stored ${report.stored}, dead letters ${report.deadLettered} (topic ${report.dlqRecords}); ${seconds(run.began)} in all, peak RSS ${run.peakRssMb()} MB`,
    )
    expectExactlyOnce(report, run.ledger)
  } finally {
    await run.finish()
  }
}, 120_000)
