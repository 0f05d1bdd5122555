import { Database } from 'bun:sqlite'
import { afterAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type NodeProcess, startNodeProcess } from '../../deploy/local/node-process.ts'

const dataDir = mkdtempSync(join(tmpdir(), 'baton-embedded-'))
const partitions = 8
const env = { BATON_DATA_DIR: dataDir, BATON_PARTITIONS: String(partitions), BATON_TOPICS: 'events' }
let node: NodeProcess | undefined

afterAll(async () => {
  await node?.kill()
  rmSync(dataDir, { recursive: true, force: true })
})

interface Acked {
  partition: number
  offset: number
}

/** Posts batches `from`..`to` (exclusive) of 1,000 events, two requests at a time; stops at the first failure. */
async function post(
  url: string,
  from: number,
  to: number,
  acked: Map<number, Acked>,
  attempted: Set<number>,
) {
  let next = from
  const worker = async () => {
    while (next < to) {
      const batch = next++
      const seqs = Array.from({ length: 1000 }, (_, i) => batch * 1000 + i)
      for (const seq of seqs) attempted.add(seq)
      const body = seqs.map((seq) => JSON.stringify({ key: `k${seq % 500}`, value: { seq } })).join('\n')
      const res = await fetch(`${url}/v1/topics/events/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson' },
        body,
      })
      if (res.status !== 200) throw new Error(`ingest answered ${res.status}: ${await res.text()}`)
      const { results } = (await res.json()) as { results: Acked[] }
      for (const [i, r] of results.entries()) acked.set(seqs[i] as number, r)
    }
  }
  await Promise.all([worker(), worker()])
}

async function caughtUp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const views = await Promise.all(
      Array.from({ length: partitions }, (_, p) =>
        fetch(`${url}/v1/actors/events/${p}`).then(
          (r) => r.json() as Promise<{ lag: number; inFlight: number }>,
        ),
      ),
    )
    if (views.every((v) => v.lag === 0 && v.inFlight === 0)) return
    await Bun.sleep(200)
  }
  throw new Error(`the node did not catch up within ${timeoutMs} ms`)
}

test('100,000 events posted, the node killed with SIGKILL during ingest and processing, restarted: every acknowledged event stored exactly once, in order', async () => {
  const acked = new Map<number, Acked>()
  const attempted = new Set<number>()

  node = await startNodeProcess(env)
  // Kill the node while batches are in flight and the partition actors are still committing.
  const first = post(node.url, 0, 100, acked, attempted).catch(() => 'interrupted')
  while (acked.size < 40_000) await Bun.sleep(5)
  await node.kill()
  expect(await first).toBe('interrupted')
  const ackedBeforeKill = acked.size

  node = await startNodeProcess(env)
  const resumeAt = Math.ceil(Math.max(...attempted) / 1000)
  await post(node.url, resumeAt, 100, acked, attempted)
  await caughtUp(node.url, 120_000)
  expect(await node.stop()).toBe(0)
  node = undefined

  const db = new Database(join(dataDir, 'sink.db'))
  const rows = db
    .query<{ partition: number; offset: number; seq: number; stored_at: number }, []>(
      `select partition, "offset", json_extract(value, '$.seq') as seq, stored_at from baton_events
       where topic = 'events' order by partition, "offset"`,
    )
    .all()
  db.close()

  // No doubles: every stored event is a distinct attempted event.
  const seqs = new Set(rows.map((r) => r.seq))
  expect(seqs.size).toBe(rows.length)
  for (const seq of seqs) expect(attempted.has(seq)).toBe(true)
  // No loss: every acknowledged event is stored where the acknowledgement said.
  const at = new Map(rows.map((r) => [`${r.partition}/${r.offset}`, r.seq]))
  let missing = 0
  for (const [seq, { partition, offset }] of acked) if (at.get(`${partition}/${offset}`) !== seq) missing++
  expect(missing).toBe(0)
  expect(acked.size).toBeGreaterThan(ackedBeforeKill)
  // Order per partition: offsets contiguous from 0, committed in offset order.
  for (let p = 0; p < partitions; p++) {
    const mine = rows.filter((r) => r.partition === p)
    for (const [i, r] of mine.entries()) expect(r.offset).toBe(i)
    for (let i = 1; i < mine.length; i++) {
      expect((mine[i] as (typeof mine)[number]).stored_at).toBeGreaterThanOrEqual(
        (mine[i - 1] as (typeof mine)[number]).stored_at,
      )
    }
  }
}, 240_000)
