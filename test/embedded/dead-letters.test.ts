import { afterAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type NodeProcess, startNodeProcess } from '../../deploy/local/node-process.ts'

const dataDir = mkdtempSync(join(tmpdir(), 'baton-dlq-'))
const token = 'dead-letter-test-token-0123456789'
let node: NodeProcess | undefined

afterAll(async () => {
  await node?.kill()
  rmSync(dataDir, { recursive: true, force: true })
})

test('a poison event is listed in /v1/dlq with its metadata and replayed to its topic once', async () => {
  node = await startNodeProcess({ BATON_DATA_DIR: dataDir, BATON_API_TOKEN: token, BATON_PARTITIONS: '2' })
  const auth = { authorization: `Bearer ${token}` }
  const posted = await fetch(`${node.url}/v1/topics/events/events`, {
    method: 'POST',
    body: '{"key":"k1","value":{"ok":1}}\n{"key":"k1","rawValue":"{not json"}\n{"key":"k1","value":{"ok":2}}',
  })
  const { results } = (await posted.json()) as { results: { partition: number; offset: number }[] }
  const poison = results[1] as { partition: number; offset: number }

  type Page = {
    entries: {
      id: number
      partition: number
      offset: number
      errorCode: string
      attempts: number
      error: string
      value: string
      replayedAt: string | null
    }[]
  }
  const list = async (): Promise<Page> =>
    (await fetch(`${node?.url}/v1/dlq?topic=events`, { headers: auth })).json() as Promise<Page>
  const deadline = Date.now() + 15_000
  let page = await list()
  while (page.entries.length === 0 && Date.now() < deadline) {
    await Bun.sleep(100)
    page = await list()
  }
  expect(page.entries).toHaveLength(1)
  const [letter] = page.entries
  expect(letter).toMatchObject({
    partition: poison.partition,
    offset: poison.offset,
    errorCode: 'POISON_EVENT',
    attempts: 1,
    value: '{not json',
    replayedAt: null,
  })
  expect(letter?.error).toContain('not valid JSON')

  const replay = await fetch(`${node.url}/v1/dlq/replay`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ ids: [letter?.id] }),
  })
  expect(await replay.json()).toEqual({ replayed: 1 })
  // Replayed to the end of its partition, where it fails again: a second letter, the first marked replayed.
  while (page.entries.length < 2 && Date.now() < deadline) {
    await Bun.sleep(100)
    page = await list()
  }
  expect(page.entries).toHaveLength(2)
  expect(page.entries[0]?.replayedAt).not.toBeNull()
  expect(page.entries[1]).toMatchObject({
    partition: poison.partition,
    offset: 3,
    value: '{not json',
    replayedAt: null,
  })
  // Replaying is an admin action: without the token it is refused.
  const refused = await fetch(`${node.url}/v1/dlq/replay`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ids: [letter?.id] }),
  })
  expect(refused.status).toBe(401)
}, 60_000)
