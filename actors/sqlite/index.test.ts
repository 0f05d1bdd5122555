import { Database } from 'bun:sqlite'
import { afterEach, beforeEach, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eventStore } from '../event-store.ts'
import type { PipelineEvent } from '../pipeline.ts'
import type { DeadLetter, PartitionKey } from '../ports.ts'
import { type Embedded, type EmbeddedOptions, openEmbedded } from './index.ts'

let dir: string
let options: EmbeddedOptions

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'baton-embedded-'))
  options = {
    dataDir: join(dir, 'data'),
    topics: ['events'],
    partitions: 4,
    group: 'g',
    pipeline: eventStore,
    retention: { keepEvents: 100, intervalMs: 0 },
  }
})

afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
})

/**
 * What a partition actor does, reduced to its bones: take an epoch, claim, resume from the watermark, and
 * commit each delivery with the event store, dead-lettering what does not decode. Resolves once the
 * partition's watermark reaches the log's end offset as it was when called.
 */
async function consume(embedded: Embedded, key: PartitionKey): Promise<void> {
  const { sink, checkpoints, log } = embedded
  const end = log.endOffset(key.topic, key.partition)
  const epoch = await checkpoints.nextEpoch(key)
  let watermark = await sink.claim(key, epoch)
  const feed = embedded.feed(key)
  const from = watermark ?? (await feed.initialOffset())
  if (from >= end) return
  await new Promise<void>((resolve, reject) => {
    feed.start(from, async (records) => {
      try {
        const events: PipelineEvent<Buffer>[] = []
        const deadLetters: DeadLetter[] = []
        for (const record of records) {
          try {
            events.push({ record, value: eventStore.decode(record) })
          } catch (err) {
            deadLetters.push({ record, error: (err as Error).message, code: 'POISON_EVENT', attempts: 1 })
          }
        }
        const toOffset = (records.at(-1)?.offset ?? 0) + 1
        await sink.commit({
          key,
          epoch,
          fromOffset: watermark,
          toOffset,
          deadLetters,
          work: (tx) => eventStore.handle({ topic: key.topic, partition: key.partition, events }, tx),
        })
        watermark = toOffset
        expect(await checkpoints.write(key, epoch, toOffset)).toBe(true)
        await feed.commit(toOffset)
        if (toOffset >= end) {
          feed.stop()
          resolve()
        }
      } catch (err) {
        feed.stop()
        reject(err)
      }
    })
  })
}

const consumeAll = (embedded: Embedded) =>
  Promise.all(
    Array.from({ length: options.partitions }, (_, partition) =>
      consume(embedded, { group: 'g', topic: 'events', partition }),
    ),
  )

test('events appended to the log reach baton_events exactly once, in order; poison ones the dead letters', async () => {
  let embedded = await openEmbedded(options)
  const batch = (from: number) =>
    Array.from({ length: 500 }, (_, i) => ({
      key: `customer-${(from + i) % 37}`,
      value: (from + i) % 101 === 0 ? 'not json' : { n: from + i },
    }))
  for (let from = 0; from < 3_000; from += 500) embedded.log.append('events', batch(from))
  await consumeAll(embedded)
  await embedded.close()

  // A restarted node resumes from the sink's watermarks: nothing is stored twice.
  embedded = await openEmbedded(options)
  for (let from = 3_000; from < 4_000; from += 500) embedded.log.append('events', batch(from))
  await consumeAll(embedded)

  const stored = readSink()
  const poison = Array.from({ length: 4_000 }, (_, n) => n).filter((n) => n % 101 === 0).length
  expect(stored.letters).toBe(poison)
  expect(stored.events.length).toBe(4_000 - poison)
  expect(new Set(stored.events.map((e) => e.n)).size).toBe(stored.events.length)
  for (let p = 0; p < options.partitions; p++) {
    const offsets = stored.byPartition.get(p) ?? []
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b))
  }
  const letters = await embedded.sink.deadLetters.list({ limit: 1000 })
  expect(letters.letters.length).toBe(stored.letters)
  expect(letters.letters.every((l) => l.record.value?.toString() === 'not json')).toBe(true)
  for (let p = 0; p < options.partitions; p++) {
    const end = embedded.log.endOffset('events', p)
    expect(embedded.log.startOffset('events', p)).toBe(Math.max(0, end - 100))
  }
  await embedded.close()
})

function readSink() {
  const db = new Database(join(options.dataDir, 'sink.db'), { readonly: true })
  try {
    const rows = db
      .query('select partition, "offset", value from baton_events order by partition, "offset"')
      .all() as {
      partition: number
      offset: number
      value: string
    }[]
    const byPartition = new Map<number, number[]>()
    for (const row of rows)
      byPartition.set(row.partition, [...(byPartition.get(row.partition) ?? []), row.offset])
    const { n } = db.query('select count(*) as n from baton_dead_letters').get() as { n: number }
    return { events: rows.map((r) => JSON.parse(r.value) as { n: number }), byPartition, letters: n }
  } finally {
    db.close()
  }
}

test('the data folder is created, and an unusable one is a clear error', async () => {
  const embedded = await openEmbedded(options)
  expect(embedded.log.topics()).toEqual([{ name: 'events', partitions: 4 }])
  await embedded.close()
  const bad = openEmbedded({ ...options, dataDir: '/proc/baton-no-such-place' })
  await expect(bad).rejects.toThrow('BATON_DATA_DIR')
})
