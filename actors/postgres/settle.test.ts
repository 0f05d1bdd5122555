/**
 * A COMMIT whose answer never comes, through a proxy between the sink and the real PostgreSQL: the sink
 * gives the transaction up at its deadline and settles the outcome from the watermark row (settle.ts).
 */
import { afterAll, afterEach, beforeAll, expect, test } from 'bun:test'
import type { ToxicProxy } from '../../test/chaos/toxic-proxy.ts'
import { until } from '../../test/support/until.ts'
import type { BatchCommit, PartitionKey, SinkTx } from '../ports.ts'
import type { PostgresSink } from './sink.ts'
import {
  copyingAtOnce,
  proxiedSink,
  record,
  storedOffsets,
  storeEvents,
  testDatabase,
  uniqueKey,
  watermark,
} from './testing.ts'

const db = testDatabase()
const keys: PartitionKey[] = []
const deadlineMs = 1_500
let proxy: ToxicProxy
let sink: PostgresSink

beforeAll(async () => {
  ;({ sink, proxy } = await proxiedSink({ deadlineMs }))
})

afterEach(() => proxy.heal())

afterAll(async () => {
  await sink.close()
  await proxy.close()
  await db.cleanup(keys)
})

/**
 * Commits `commit` (whose work holds the answers), waits until PostgreSQL committed it (read directly, not
 * through the proxy), then blackholes every connection, so that the sink cannot read the watermark row
 * either. Returns what the commit threw.
 */
async function commitUnsettled(commit: BatchCommit): Promise<unknown> {
  const committing = sink.commit(commit).catch((e: unknown) => e)
  await until(
    'the batch committed on the server',
    deadlineMs,
    async () => ((await watermark(db.sql, commit.key))?.nextOffset === commit.toOffset ? true : undefined),
    20,
  )
  proxy.toxics({ blackhole: true })
  return committing
}

async function claimedKey(): Promise<PartitionKey> {
  const key = uniqueKey()
  keys.push(key)
  await sink.claim(key, 1)
  return key
}

/**
 * A batch of epoch 1 storing `offsets` through the event store; `then` runs inside its transaction right
 * after the pipeline, just before the sink sends COMMIT. `runs.count` counts how often the pipeline ran.
 */
function batch(key: PartitionKey, from: number | null, offsets: number[], then = () => {}) {
  const store = storeEvents(offsets.map((o) => record(key, o)))
  const runs = { count: 0 }
  const commit: BatchCommit = {
    key,
    epoch: 1,
    fromOffset: from,
    toOffset: (offsets.at(-1) ?? 0) + 1,
    deadLetters: [],
    work: async (tx: SinkTx) => {
      runs.count++
      await store(copyingAtOnce(tx))
      then()
    },
  }
  return { commit, runs }
}

test('the answer to a COMMIT that took effect never arrives: commit returns, the batch stored once, the next one chains on', async () => {
  const key = await claimedKey()
  await sink.commit(batch(key, null, [0, 1, 2], () => proxy.hold('down')).commit)

  // The answer is still held (until afterEach heals): only the watermark row could have told the sink.
  expect(await storedOffsets(db.sql, key)).toEqual([0, 1, 2])
  expect(await watermark(db.sql, key)).toEqual({ nextOffset: 3, epoch: 1 })
  await sink.commit(batch(key, 3, [3, 4]).commit)
  expect(await storedOffsets(db.sql, key)).toEqual([0, 1, 2, 3, 4])
})

test('a COMMIT that never reaches the server: SINK_UNAVAILABLE, nothing stored, and the retry stores the batch once', async () => {
  const key = await claimedKey()
  const first = batch(key, null, [0, 1, 2], () => proxy.hold('up'))
  const err = await sink.commit(first.commit).catch((e: unknown) => e)
  expect(err).toMatchObject({ code: 'SINK_UNAVAILABLE' })
  expect(await storedOffsets(db.sql, key)).toEqual([])
  expect(await watermark(db.sql, key)).toEqual({ nextOffset: null, epoch: 1 })

  proxy.heal()
  await sink.commit(batch(key, null, [0, 1, 2]).commit)
  expect(await storedOffsets(db.sql, key)).toEqual([0, 1, 2])
  expect(await watermark(db.sql, key)).toEqual({ nextOffset: 3, epoch: 1 })
})

test('an outcome that cannot be read yet is settled before the next commit: the same batch is not applied again', async () => {
  const key = await claimedKey()
  const err = await commitUnsettled(batch(key, null, [0, 1, 2], () => proxy.hold('down')).commit)
  expect(err).toMatchObject({ code: 'SINK_UNAVAILABLE' })
  expect(String(err)).toContain('not known yet')

  proxy.heal()
  const retry = batch(key, null, [0, 1, 2])
  await sink.commit(retry.commit)
  expect(retry.runs.count).toBe(0)
  expect(await storedOffsets(db.sql, key)).toEqual([0, 1, 2])
  await sink.commit(batch(key, 3, [3]).commit)
  expect(await storedOffsets(db.sql, key)).toEqual([0, 1, 2, 3])
})

test('a kept outcome that committed, retried as a longer batch: WATERMARK_MISMATCH, and the restart resumes from the row', async () => {
  const key = await claimedKey()
  const lost = batch(key, null, [0, 1], () => proxy.hold('down'))
  expect(await commitUnsettled(lost.commit)).toMatchObject({ code: 'SINK_UNAVAILABLE' })

  proxy.heal()
  const longer = batch(key, null, [0, 1, 2, 3])
  const err = await sink.commit(longer.commit).catch((e: unknown) => e)
  expect(err).toMatchObject({ code: 'WATERMARK_MISMATCH' })
  expect(String(err)).toContain('did commit')
  expect(longer.runs.count).toBe(0)

  // The actor's restart: a new epoch claims the row and resumes from it.
  expect(await sink.claim(key, 2)).toBe(2)
  await sink.commit({ ...batch(key, 2, [2, 3]).commit, epoch: 2 })
  expect(await storedOffsets(db.sql, key)).toEqual([0, 1, 2, 3])
})
