import { test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { quarantineProperty } from '../../test/support/quarantine-property.ts'
import { applied, appliedPipeline } from '../../test/support/quarantine-scenario.ts'
import { SqliteCheckpoints } from './checkpoints.ts'
import { SqliteSink } from './sink.ts'
import { SqliteStore } from './store.ts'

test('property on the embedded sink: each key gets its events once, in offset order, without the skipped', async () => {
  await quarantineProperty(
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'baton-quarantine-property-'))
      const store = SqliteStore.open(join(dir, 'sink.db'))
      const sink = await SqliteSink.open(store, { pipeline: appliedPipeline(new Set()), group: 'g' })
      const checkpoints = new SqliteCheckpoints(store)
      return {
        key: { group: 'g', topic: 'payments', partition: 0 },
        sink,
        store: sink.quarantine,
        checkpoints,
        pipeline: appliedPipeline,
        applied: () => applied(sink, 'payments'),
        letter: async (id) => {
          const [letter] = await sink.deadLetters.get([id])
          if (!letter) throw new Error(`no dead letter ${id} (test)`)
          return letter.record
        },
        close: async () => {
          await checkpoints.close()
          await sink.close()
          rmSync(dir, { recursive: true, force: true })
        },
      }
    },
    { numRuns: 25 },
  )
}, 120_000)
