import { afterAll, beforeAll, expect, test } from 'bun:test'
import { serviceEnv } from '../../test/support/env.ts'
import { eventStore } from '../event-store.ts'
import type { PartitionKey, SinkTx, SourceRecord } from '../ports.ts'
import { createPostgresSink, type PostgresSink } from './sink.ts'
import { record, storedOffsets, testDatabase, uniqueKey } from './testing.ts'

const partitions = 8
const batches = 25
const batchSize = 1000
const db = testDatabase()
const keys: PartitionKey[] = Array.from({ length: partitions }, (_, p) => uniqueKey(p))
let sink: PostgresSink

beforeAll(async () => {
  sink = await createPostgresSink({ url: serviceEnv().DATABASE_URL, pipeline: eventStore, group: 'bench' })
})

afterAll(async () => {
  await sink.close()
  await db.cleanup(keys)
})

/** A JSON value of exactly 100 bytes. */
function value(offset: number): Buffer {
  const json = JSON.stringify({ id: offset, type: 'order.created', amount: offset * 7, note: '' })
  return Buffer.from(json.replace('"note":""', `"note":"${'x'.repeat(100 - json.length)}"`))
}

/** The pipeline's work for one batch, with the records decoded beforehand as the batcher does. */
function work(records: SourceRecord[]): (tx: SinkTx) => Promise<void> {
  const events = records.map((r) => ({ record: r, value: eventStore.decode(r) }))
  const [first] = records
  return async (tx) => {
    await eventStore.handle({ topic: first?.topic ?? '', partition: first?.partition ?? 0, events }, tx)
  }
}

test(`${partitions} partitions commit ${batches} batches of ${batchSize} 100-byte JSON events each through the event store`, async () => {
  const latencies: number[] = []
  const started = performance.now()
  await Promise.all(
    keys.map(async (key) => {
      await sink.claim(key, 1)
      let from: number | null = null
      for (let b = 0; b < batches; b++) {
        const records = Array.from({ length: batchSize }, (_, i) =>
          record(key, b * batchSize + i, { value: value(b * batchSize + i) }),
        )
        const toOffset = (b + 1) * batchSize
        const t = performance.now()
        await sink.commit({ key, epoch: 1, fromOffset: from, toOffset, deadLetters: [], work: work(records) })
        latencies.push(performance.now() - t)
        from = toOffset
      }
    }),
  )
  const seconds = (performance.now() - started) / 1000
  const sorted = latencies.toSorted((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
  const rows = partitions * batches * batchSize
  console.log(
    `commit of ${batchSize} events, ${partitions} partitions at once: p50 ${at(0.5).toFixed(1)} ms, ` +
      `p99 ${at(0.99).toFixed(1)} ms, ${Math.round(rows / seconds)} rows/s (${rows} rows in ${seconds.toFixed(2)} s)`,
  )
  expect(await storedOffsets(db.sql, keys[0] as PartitionKey)).toHaveLength(batches * batchSize)
  // A regression guard only (latency here depends on the machine and its disk): a statement per event
  // costs a round trip per event, over 300 ms per batch.
  expect(at(0.5)).toBeLessThan(250)
}, 60_000)
