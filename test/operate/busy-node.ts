import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type NodeProcess, startNodeProcess } from '../../deploy/local/node-process.ts'
import { type Exposition, parseExposition, total } from './exposition.ts'

export const PARTITIONS = 8
const TOKEN = 'operate-test-token'

/** An embedded node that has stored events, dead-lettered some and has one paused, lagging partition. */
export interface BusyNode {
  readonly node: NodeProcess
  /** The partition paused after the first round, and how many events wait in it. */
  readonly paused: { readonly partition: number; readonly waiting: number }
  readonly stored: number
  readonly deadLettered: number
  /** The node's current /metrics, as text. */
  scrape(): Promise<string>
  /** Scrapes until `ready` holds for the parsed exposition; throws with the last scrape after `timeoutMs`. */
  scrapeUntil(ready: (e: Exposition) => boolean, timeoutMs?: number): Promise<string>
  /** Kills the node and removes its data. */
  close(): Promise<void>
}

async function post(url: string, lines: object[]): Promise<{ partition: number }[]> {
  const res = await fetch(`${url}/v1/topics/events/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body: lines.map((l) => JSON.stringify(l)).join('\n'),
  })
  if (res.status !== 200) throw new Error(`ingest answered ${res.status}: ${await res.text()}`)
  return ((await res.json()) as { results: { partition: number }[] }).results
}

/**
 * Starts an embedded node (`baton start` as a process, as in production) and gives every metric a reason
 * to exist: 400 events over all partitions plus 2 that are not JSON (dead-lettered), then partition
 * `paused.partition` is paused through the admin API and 200 more events arrive, so it lags. Nobody asks
 * a partition's state over HTTP afterwards: lag gauges can only come from the scrape's own reading.
 */
export async function startBusyNode(): Promise<BusyNode> {
  const dataDir = mkdtempSync(join(tmpdir(), 'baton-operate-'))
  const node = await startNodeProcess({
    BATON_DATA_DIR: dataDir,
    BATON_PARTITIONS: String(PARTITIONS),
    BATON_TOPICS: 'events',
    BATON_NODE_ID: 'baton-0',
    BATON_API_TOKEN: TOKEN,
  }).catch((err) => {
    rmSync(dataDir, { recursive: true, force: true })
    throw err
  })
  const scrape = async () => (await fetch(`${node.url}/metrics`)).text()
  const scrapeUntil = async (ready: (e: Exposition) => boolean, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs
    let body = await scrape()
    while (!ready(parseExposition(body))) {
      if (Date.now() > deadline) throw new Error(`/metrics did not get there in ${timeoutMs} ms:\n${body}`)
      await Bun.sleep(200)
      body = await scrape()
    }
    return body
  }
  const close = async () => {
    await node.kill()
    rmSync(dataDir, { recursive: true, force: true })
  }
  try {
    const first = Array.from({ length: 400 }, (_, seq) => ({ key: `k${seq}`, value: { seq } }))
    await post(node.url, [...first, { key: 'p1', rawValue: 'not json' }, { key: 'p2', rawValue: '{' }])
    await scrapeUntil((e) => total(e, 'baton_events_processed_total') === 402)

    const partition = 3
    const paused = await fetch(`${node.url}/v1/actors/events/${partition}/pause`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
    })
    if (paused.status !== 200) throw new Error(`pause answered ${paused.status}: ${await paused.text()}`)
    const second = Array.from({ length: 200 }, (_, i) => ({ key: `k${400 + i}`, value: { seq: 400 + i } }))
    const results = await post(node.url, second)
    const waiting = results.filter((r) => r.partition === partition).length
    const stored = 400 + results.length - waiting
    await scrapeUntil((e) => total(e, 'baton_events_processed_total') === stored + 2)
    return { node, paused: { partition, waiting }, stored, deadLettered: 2, scrape, scrapeUntil, close }
  } catch (err) {
    await close()
    throw err
  }
}
