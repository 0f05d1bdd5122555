import { Database } from 'bun:sqlite'
import { afterAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type NodeProcess, startNodeProcess } from '../../deploy/local/node-process.ts'

const dataDir = mkdtempSync(join(tmpdir(), 'baton-retention-'))
let node: NodeProcess | undefined

afterAll(async () => {
  await node?.kill()
  rmSync(dataDir, { recursive: true, force: true })
})

test('the embedded log keeps BATON_RETAIN_EVENTS per partition once they are stored, so the data dir does not grow forever', async () => {
  node = await startNodeProcess({
    BATON_DATA_DIR: dataDir,
    BATON_PARTITIONS: '2',
    BATON_RETAIN_EVENTS: '100',
  })
  for (let batch = 0; batch < 10; batch++) {
    const body = Array.from({ length: 1000 }, (_, i) =>
      JSON.stringify({ key: `k${i}`, value: { batch, i } }),
    ).join('\n')
    const res = await fetch(`${node.url}/v1/topics/events/events`, { method: 'POST', body })
    expect(res.status).toBe(200)
  }
  const log = new Database(join(dataDir, 'log.db'))
  const sink = new Database(join(dataDir, 'sink.db'))
  const deadline = Date.now() + 30_000
  let kept: { partition: number; n: number }[] = []
  while (Date.now() < deadline) {
    kept = log
      .query<{ partition: number; n: number }, []>(
        'select pid as partition, count(*) as n from baton_log_records group by pid',
      )
      .all()
    if (kept.length === 2 && kept.every((k) => k.n <= 100 + 500)) break
    await Bun.sleep(200)
  }
  const stored = sink.query<{ n: number }, []>('select count(*) as n from baton_events').get()
  log.close()
  sink.close()
  expect(stored?.n).toBe(10_000)
  // Retention deletes whole chunks behind the committed position: at most the kept 100 plus one chunk.
  for (const k of kept) expect(k.n).toBeLessThanOrEqual(600)
  expect(kept.reduce((sum, k) => sum + k.n, 0)).toBeLessThan(10_000)
}, 60_000)
