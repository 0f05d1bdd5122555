import { Database } from 'bun:sqlite'
import { afterAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type NodeProcess, startNodeProcess } from '../../deploy/local/node-process.ts'
import { until } from '../support/until.ts'

const dataDir = mkdtempSync(join(tmpdir(), 'baton-quarantine-sigkill-'))
const token = 'quarantine-sigkill-token-0123456789'
const auth = { authorization: `Bearer ${token}` }
const nodes: NodeProcess[] = []

afterAll(async () => {
  for (const n of nodes) await n.kill()
  rmSync(dataDir, { recursive: true, force: true })
})

async function start(): Promise<NodeProcess> {
  const node = await startNodeProcess({
    BATON_DATA_DIR: dataDir,
    BATON_API_TOKEN: token,
    BATON_PARTITIONS: '1',
    BATON_PIPELINE: join(import.meta.dir, 'fixtures', 'ordered-by-key.ts'),
  })
  nodes.push(node)
  return node
}

type Quarantine = { entries: { key: string; deadLetterId: number; events: number; state: string }[] }
const quarantine = async (node: NodeProcess) =>
  (await (await fetch(`${node.url}/v1/quarantine`, { headers: auth })).json()) as Quarantine

/** Offsets handled, in the order handled, read beside the node (or after it died). */
function applied(): number[] {
  const db = new Database(join(dataDir, 'sink.db'), { readonly: true })
  try {
    return (
      db.query('select "offset" from quarantine_test_applied order by seq').all() as { offset: number }[]
    ).map((r) => r.offset)
  } finally {
    db.close()
  }
}

const HELD = 20_000

test('quarantine: SIGKILL in the middle of a release; the next node finishes it, every held event applied once, in order', async () => {
  let node = await start()
  // Offset 0 poisons key k; then k's events interleaved with other keys' (one in ten).
  const keys: (string | null)[] = ['k']
  const events: unknown[] = [{ key: 'k', rawValue: 'poison' }]
  for (let i = 0; events.length < HELD + HELD / 10 + 1; i++) {
    const key = i % 11 === 10 ? `other-${i % 7}` : 'k'
    keys.push(key)
    events.push({ key, value: { i } })
  }
  for (let at = 0; at < events.length; at += 5_000) {
    const res = await fetch(`${node.url}/v1/topics/events/events`, {
      method: 'POST',
      body: JSON.stringify(events.slice(at, at + 5_000)),
    })
    expect(res.status).toBeLessThan(300)
  }
  const heldOffsets = keys.flatMap((k, offset) => (k === 'k' && offset > 0 ? [offset] : []))
  const otherOffsets = keys.flatMap((k, offset) => (k !== 'k' ? [offset] : []))
  const entry = await until('k holds all its later events', 60_000, async () => {
    const [e] = (await quarantine(node)).entries
    return e?.events === heldOffsets.length ? e : undefined
  })
  await until('the other keys are stored', 60_000, async () =>
    applied().length === otherOffsets.length ? true : undefined,
  )
  expect(applied()).toEqual(otherOffsets)

  // Skip the letter, and kill the node as soon as the release is under way.
  const answer = fetch(`${node.url}/v1/dlq/${entry.deadLetterId}/skip`, { method: 'POST', headers: auth })
    .then((r) => r.status)
    .catch(() => 'no answer')
  await until(
    'the release is under way',
    60_000,
    async () => {
      const n = applied().length - otherOffsets.length
      return n > 0 ? n : undefined
    },
    5,
  )
  await node.kill()
  const releasedBeforeKill = applied().length - otherOffsets.length
  console.log(`released before the kill: ${releasedBeforeKill} of ${heldOffsets.length}`)
  expect(await answer).not.toBe(200) // killed before the key was released: the kill hit the release
  expect(releasedBeforeKill).toBeLessThan(heldOffsets.length)

  node = await start()
  await until('the new owner finishes the release', 60_000, async () =>
    (await quarantine(node)).entries.length === 0 ? true : undefined,
  )
  expect(node.output()).toContain('key released')
  const all = applied()
  expect(new Set(all).size).toBe(all.length) // nothing applied twice
  expect(all).toEqual([...otherOffsets, ...heldOffsets]) // k's events in offset order, without the skipped poison
  // The letter was skipped once: a second skip is refused.
  const again = await fetch(`${node.url}/v1/dlq/${entry.deadLetterId}/skip`, {
    method: 'POST',
    headers: auth,
  })
  expect(again.status).toBe(409)
}, 240_000)
