import { afterAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { appliedPipeline, quarantineScenario } from '../../test/support/quarantine-scenario.ts'
import { SqliteCheckpoints } from './checkpoints.ts'
import { SqliteSink } from './sink.ts'
import { SqliteStore } from './store.ts'

const dir = mkdtempSync(join(tmpdir(), 'baton-quarantine-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

test('per-key quarantine in the embedded sink: held, fenced, loaded by a new owner, released in order once', async () => {
  const poison = new Set<number>()
  const store = SqliteStore.open(join(dir, 'sink.db'))
  const sink = await SqliteSink.open(store, { pipeline: appliedPipeline(poison), group: 'g' })
  const checkpoints = new SqliteCheckpoints(store)
  try {
    await quarantineScenario(sink, checkpoints, { group: 'g', topic: 'payments', partition: 0 }, poison)
  } finally {
    await checkpoints.close()
    await sink.close()
  }
  expect(poison.size).toBe(2)
})
