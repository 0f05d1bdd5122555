/**
 * Append and read throughput of the embedded log: `bun actors/sqlite/log.bench.ts [FULL|NORMAL]`.
 * 200 appends of 1,000 events (~100-byte JSON values, 1,000 distinct keys) into 8 partitions, then every
 * partition read back in 500-record chunks. Prints one JSON line.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SqliteLog } from './log.ts'
import type { Durability } from './store.ts'

const durability: Durability = process.argv[2] === 'NORMAL' ? 'NORMAL' : 'FULL'
const appends = 200
const batchSize = 1_000
const dir = mkdtempSync(join(tmpdir(), 'baton-log-bench-'))
const log = SqliteLog.open(join(dir, 'log.db'), { durability })
try {
  log.createTopic('events', 8)
  const payload = JSON.stringify({ data: 'x'.repeat(88) })
  let n = 0
  const appendStart = performance.now()
  for (let a = 0; a < appends; a++) {
    log.append(
      'events',
      Array.from({ length: batchSize }, () => ({ key: `key-${n++ % 1_000}`, value: payload })),
    )
  }
  const appendMs = performance.now() - appendStart
  let read = 0
  const readStart = performance.now()
  for (let p = 0; p < 8; p++) {
    for (let offset = 0; ; ) {
      const records = log.read('events', p, offset, 500, 1 << 20)
      const last = records.at(-1)
      if (!last) break
      read += records.length
      offset = last.offset + 1
    }
  }
  const readMs = performance.now() - readStart
  console.log(
    JSON.stringify({
      durability,
      appendEventsPerSec: Math.round((appends * batchSize) / (appendMs / 1000)),
      msPerAppend: Number((appendMs / appends).toFixed(2)),
      readRecordsPerSec: Math.round(read / (readMs / 1000)),
    }),
  )
} finally {
  log.close()
  rmSync(dir, { recursive: true, force: true })
}
