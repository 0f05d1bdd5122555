import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { eventStore } from '../../actors/event-store.ts'
import { type Dataset, datasetEvents, deleteDataset, produceDataset } from '../../bench/e2e/dataset.ts'
import { buildGoPeer, goPeerSources } from '../../bench/e2e/go-peer.ts'
import { type PeerReport, runPeerProcess } from '../../bench/e2e/peer-process.ts'
import { kafkaBrokers, serviceEnv } from '../support/env.ts'
import { uniqueName } from '../support/names.ts'

// The `go` peer of `baton bench e2e` (bench/peers/go): it builds, and it drains a topic exactly once,
// also when a new consumer group reads the whole topic again (its watermark rows skip what it stored).
// Go is a prerequisite of this test, as it is of CI (.ci/run installs it): no skipping.

const { DATABASE_URL } = serviceEnv()
const brokers = kafkaBrokers()
const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} })
const table = uniqueName('peer_go')
const dataset = (events: number): Dataset => ({
  topic: `${table}_events`,
  partitions: 8,
  events,
  synthetic: datasetEvents,
})
let binary = ''

beforeAll(async () => {
  for (const statement of eventStore.migrations?.postgres ?? []) await sql.unsafe(statement)
  await sql.unsafe(`create table ${table} (like baton_events including all)`)
}, 60_000)

afterAll(async () => {
  await deleteDataset(brokers, dataset(0)).catch(() => {})
  await sql.unsafe(`drop table if exists ${table}, ${table}_watermarks`)
  await sql.end()
})

/** Runs the built peer over the topic in `group` until it stored `events`; its JSON report. */
function drain(group: string, events: number): Promise<PeerReport> {
  const config = {
    brokers,
    topic: dataset(0).topic,
    group,
    databaseUrl: DATABASE_URL,
    table,
    events,
    maxSeconds: 120,
    partitions: 8,
  }
  return runPeerProcess([binary], config, 90)
}

/** Rows in the peer's table, distinct (partition, offset) among them, and the sum of its watermarks. */
async function stored(): Promise<{ rows: number; offsets: number; watermarks: number } | undefined> {
  const [row] = await sql.unsafe<{ rows: number; offsets: number; watermarks: number }[]>(`
    select count(*)::int as rows,
      count(distinct (partition, "offset"))::int as offsets,
      (select coalesce(sum(next_offset), 0)::int from ${table}_watermarks) as watermarks
    from ${table}`)
  return row
}

describe('the go peer', () => {
  test('passes go vet and builds', async () => {
    // On a fresh machine the modules are fetched first, so that vet's output holds only its findings.
    const download = Bun.spawnSync(['go', 'mod', 'download'], {
      cwd: goPeerSources,
      stdout: 'pipe',
      stderr: 'pipe',
    })
    expect({ code: download.exitCode, out: download.stderr.toString() }).toEqual({ code: 0, out: '' })
    const vet = Bun.spawnSync(['go', 'vet', './...'], { cwd: goPeerSources, stdout: 'pipe', stderr: 'pipe' })
    expect({ code: vet.exitCode, out: vet.stderr.toString() }).toEqual({ code: 0, out: '' })
    const build = await buildGoPeer(() => {})
    if (!('binary' in build)) throw new Error(`the go peer did not build: ${build.skipped}`)
    binary = build.binary
  }, 300_000)

  test('drains 5,000 events over 8 partitions exactly once', async () => {
    await produceDataset(brokers, dataset(5_000))
    const report = await drain(uniqueName('g'), 5_000)
    expect(report.events).toBe(5_000)
    expect(await stored()).toEqual({ rows: 5_000, offsets: 5_000, watermarks: 5_000 })
  }, 120_000)

  test('a new group that reads the topic again stores only the events it has not stored', async () => {
    await produceDataset(brokers, dataset(1_000))
    const report = await drain(uniqueName('g'), 1_000)
    expect(report.events).toBe(1_000)
    expect(await stored()).toEqual({ rows: 6_000, offsets: 6_000, watermarks: 6_000 })
  }, 120_000)
})
