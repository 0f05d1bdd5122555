/**
 * Grouped commits against the real PostgreSQL, through a proxy that can lose a COMMIT's answer: batches
 * that wait together share one transaction, and each keeps its own fence, its own failure and its own
 * outcome.
 */
import { afterAll, afterEach, beforeAll, expect, test } from 'bun:test'
import type { ToxicProxy } from '../../test/chaos/toxic-proxy.ts'
import { uniqueName } from '../../test/support/names.ts'
import type { BatchCommit, PartitionKey, SinkTx } from '../ports.ts'
import type { PostgresSink } from './sink.ts'
import {
  copyingAtOnce,
  eventStoreBatch,
  proxiedSink,
  record,
  storedOffsets,
  storeEvents,
  testDatabase,
  watermark,
} from './testing.ts'

const db = testDatabase()
const keys: PartitionKey[] = []
const deadlineMs = 1_500
const group = uniqueName('g')
/** Batches per transaction, in the order the transactions started. */
const sizes: number[] = []
let proxy: ToxicProxy
let sink: PostgresSink

beforeAll(async () => {
  ;({ sink, proxy } = await proxiedSink({
    deadlineMs,
    // One transaction at a time, so that what arrives while it runs waits and joins the next.
    grouping: { maxInFlight: 1, maxBatches: 16, onTransaction: (n) => sizes.push(n) },
  }))
})

afterEach(() => proxy.heal())

afterAll(async () => {
  await sink.close()
  await proxy.close()
  await db.cleanup(keys)
})

/** Partitions of one fresh topic, each claimed by epoch 1. */
async function claimed(count: number): Promise<PartitionKey[]> {
  const topic = uniqueName('t')
  const made = Array.from({ length: count }, (_, partition) => ({ group, topic, partition }))
  keys.push(...made)
  for (const key of made) await sink.claim(key, 1)
  return made
}

/** What `claimed` returns, destructured as far as it was asked. */
type Keys = [PartitionKey, PartitionKey, PartitionKey, PartitionKey]

interface Probe {
  readonly commit: BatchCommit
  /** The transaction ids the pipeline ran in, one per run. */
  readonly txids: string[]
}

/**
 * A batch of epoch 1 storing `offsets`; `then` runs in its transaction right after the pipeline. Its rows
 * go in at once, so that `then` runs after them, unless `shared`: then they go in the transaction's one
 * COPY (`tx.copy`), after every batch ran.
 */
function batch(
  key: PartitionKey,
  from: number | null,
  offsets: number[],
  then: (tx: SinkTx) => unknown = () => {},
  shared = false,
): Probe {
  const store = storeEvents(offsets.map((o) => record(key, o)))
  const txids: string[] = []
  const commit: BatchCommit = {
    key,
    epoch: 1,
    fromOffset: from,
    toOffset: (offsets.at(-1) ?? 0) + 1,
    deadLetters: [],
    work: async (tx) => {
      if (tx.kind !== 'postgres' || !tx.copy) throw new Error('a batch commit offers tx.copy')
      const [row] = await tx.sql<{ id: string }[]>`select txid_current()::text as id`
      txids.push(row?.id ?? '')
      await store(shared ? tx : copyingAtOnce(tx))
      await then(tx)
    },
  }
  return { commit, txids }
}

/**
 * Commits `commits` while a transaction holding a batch of a partition of its own is running, so that
 * all of them wait and gather for the next ones; resolves with what each commit came to.
 */
async function whileBusy(commits: readonly BatchCommit[]): Promise<PromiseSettledResult<void>[]> {
  const [gate] = (await claimed(1)) as Keys
  let open = () => {}
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  const blocker = sink.commit(batch(gate, null, [0], () => opened).commit)
  await Bun.sleep(50)
  sizes.length = 0
  const results = Promise.allSettled(commits.map((c) => sink.commit(c)))
  open()
  await blocker
  return results
}

test('batches that wait together commit in one transaction, in partition order, each stored once', async () => {
  const [p0, p1, p2] = (await claimed(3)) as Keys
  const order: number[] = []
  const probes = [p2, p0, p1].map((key) =>
    batch(key, null, [0, 1, 2], () => {
      order.push(key.partition)
    }),
  )
  const results = await whileBusy(probes.map((p) => p.commit))
  expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled'])
  expect(sizes).toEqual([3])
  expect(order).toEqual([0, 1, 2])
  expect(new Set(probes.flatMap((p) => p.txids)).size).toBe(1)
  for (const key of [p0, p1, p2]) {
    expect(await storedOffsets(db.sql, key)).toEqual([0, 1, 2])
    expect(await watermark(db.sql, key)).toEqual({ nextOffset: 3, epoch: 1 })
  }
})

test('a zombie batch (an older epoch) in a group is refused alone: FENCED, nothing of it applied, the others commit', async () => {
  const [zombie, a, b] = (await claimed(3)) as Keys
  await sink.commit(batch(zombie, null, [0]).commit)
  await sink.claim(zombie, 2)
  const stale = batch(zombie, 1, [1, 2])
  const results = await whileBusy([stale.commit, batch(a, null, [0, 1]).commit, batch(b, null, [0]).commit])
  expect(sizes).toEqual([3])
  expect(results[0]).toMatchObject({ status: 'rejected', reason: { code: 'FENCED' } })
  expect(results.slice(1).map((r) => r.status)).toEqual(['fulfilled', 'fulfilled'])
  expect(stale.txids).toEqual([])
  expect(await storedOffsets(db.sql, zombie)).toEqual([0])
  expect(await watermark(db.sql, zombie)).toEqual({ nextOffset: 1, epoch: 2 })
  expect(await storedOffsets(db.sql, a)).toEqual([0, 1])
  expect(await storedOffsets(db.sql, b)).toEqual([0])
})

test('a batch whose pipeline throws, or whose SQL fails, rolls back alone to its savepoint with its own error; its next batch commits alone', async () => {
  const [a, thrower, b, failing] = (await claimed(4)) as Keys
  const boom = new Error('boom')
  const results = await whileBusy([
    batch(a, null, [0]).commit,
    batch(thrower, null, [0, 1], () => {
      throw boom
    }).commit,
    batch(b, null, [0]).commit,
    batch(failing, null, [0], async (tx) => {
      if (tx.kind === 'postgres') await tx.sql`select 1 / 0`
    }).commit,
  ])
  expect(sizes).toEqual([4])
  expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected'])
  expect((results[1] as PromiseRejectedResult).reason).toBe(boom)
  expect((results[3] as PromiseRejectedResult).reason).toMatchObject({ code: '22012' })
  for (const key of [thrower, failing]) {
    expect(await storedOffsets(db.sql, key)).toEqual([])
    expect(await watermark(db.sql, key)).toEqual({ nextOffset: null, epoch: 1 })
  }
  expect(await storedOffsets(db.sql, a)).toEqual([0])
  expect(await storedOffsets(db.sql, b)).toEqual([0])

  // Retried, each in a transaction of its own even while they wait together.
  const retried = await whileBusy([batch(thrower, null, [0, 1]).commit, batch(failing, null, [0]).commit])
  expect(retried.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled'])
  expect(sizes).toEqual([1, 1])
  expect(await storedOffsets(db.sql, thrower)).toEqual([0, 1])
})

test('a COMMIT that fails (a deferred constraint of one batch): every batch rejects SINK_UNAVAILABLE, nothing applied; retried alone, only the one at fault fails', async () => {
  const table = uniqueName('gc_deferred')
  await db.sql.unsafe(
    `create table ${table} (k text, constraint ${table}_k unique (k) deferrable initially deferred)`,
  )
  try {
    const [a, guilty, b] = (await claimed(3)) as Keys
    const twice = async (tx: SinkTx) => {
      if (tx.kind === 'postgres') await tx.sql.unsafe(`insert into ${table} values ('x'), ('x')`)
    }
    const results = await whileBusy([
      batch(a, null, [0]).commit,
      batch(guilty, null, [0], twice).commit,
      batch(b, null, [0]).commit,
    ])
    expect(sizes).toEqual([3])
    for (const r of results)
      expect(r).toMatchObject({ status: 'rejected', reason: { code: 'SINK_UNAVAILABLE' } })
    for (const key of [a, guilty, b]) {
      expect(await storedOffsets(db.sql, key)).toEqual([])
      expect(await watermark(db.sql, key)).toEqual({ nextOffset: null, epoch: 1 })
    }

    const retried = await whileBusy([
      batch(a, null, [0]).commit,
      batch(guilty, null, [0], twice).commit,
      batch(b, null, [0]).commit,
    ])
    expect(sizes).toEqual([1, 1, 1])
    expect(retried.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    expect((retried[1] as PromiseRejectedResult).reason).toMatchObject({ code: '23505' })
    expect(await storedOffsets(db.sql, a)).toEqual([0])
    expect(await storedOffsets(db.sql, guilty)).toEqual([])
  } finally {
    await db.sql.unsafe(`drop table ${table}`)
  }
})

test('the answer to a shared COMMIT that took effect never arrives: each batch is settled from its own row as committed, and stored once', async () => {
  const [a, b, c] = (await claimed(3)) as Keys
  // The last batch in partition order holds back every answer just before COMMIT is sent.
  const probes = [batch(a, null, [0, 1]), batch(c, null, [0], () => proxy.hold('down')), batch(b, null, [0])]
  const results = await whileBusy(probes.map((p) => p.commit))
  expect(sizes).toEqual([3])
  proxy.heal()
  // Settled at once, or (when the row could not be read either: the pool's other connection is held too)
  // before the partition's next commit, which is then accepted without running the pipeline again.
  for (const [i, r] of results.entries()) {
    if (r.status === 'fulfilled') continue
    expect(r.reason).toMatchObject({ code: 'SINK_UNAVAILABLE' })
    const { key, fromOffset, toOffset } = (probes[i] as Probe).commit
    const retry = batch(
      key,
      fromOffset,
      Array.from({ length: toOffset }, (_, o) => o),
    )
    await sink.commit(retry.commit)
    expect(retry.txids).toEqual([])
  }
  expect(await storedOffsets(db.sql, a)).toEqual([0, 1])
  expect(await storedOffsets(db.sql, b)).toEqual([0])
  expect(await storedOffsets(db.sql, c)).toEqual([0])
  for (const key of [a, b, c] as PartitionKey[]) expect((await watermark(db.sql, key))?.epoch).toBe(1)
})

test('a shared COMMIT that never reaches the server: each batch settled as not committed, SINK_UNAVAILABLE, and its retry stores it once', async () => {
  const [a, b] = (await claimed(2)) as Keys
  const results = await whileBusy([
    batch(a, null, [0, 1]).commit,
    batch(b, null, [0], () => proxy.hold('up')).commit,
  ])
  expect(sizes).toEqual([2])
  for (const r of results)
    expect(r).toMatchObject({ status: 'rejected', reason: { code: 'SINK_UNAVAILABLE' } })
  for (const key of [a, b]) {
    expect(await storedOffsets(db.sql, key)).toEqual([])
    expect(await watermark(db.sql, key)).toEqual({ nextOffset: null, epoch: 1 })
  }
  proxy.heal()
  await Promise.all([sink.commit(batch(a, null, [0, 1]).commit), sink.commit(batch(b, null, [0]).commit)])
  expect(await storedOffsets(db.sql, a)).toEqual([0, 1])
  expect(await storedOffsets(db.sql, b)).toEqual([0])
})

test('never split, at most 16 batches and one batch per partition in a transaction: a second batch of a partition waits for the next', async () => {
  const many = await claimed(20)
  const [twice] = many as Keys
  const first = batch(twice, null, [0, 1])
  const second = batch(twice, 2, [2])
  const others = many.slice(1).map((key) => batch(key, null, [0]))
  const results = await whileBusy([first.commit, second.commit, ...others.map((o) => o.commit)])
  expect(results.every((r) => r.status === 'fulfilled')).toBe(true)
  expect(Math.max(...sizes)).toBe(16)
  expect(sizes.reduce((a, b) => a + b, 0)).toBe(21)
  expect(first.txids).toHaveLength(1)
  expect(second.txids).toHaveLength(1)
  expect(first.txids[0]).not.toBe(second.txids[0])
  expect(await storedOffsets(db.sql, twice)).toEqual([0, 1, 2])
  for (const key of many.slice(1)) expect(await storedOffsets(db.sql, key)).toEqual([0])
})

/** A batch whose rows go in the transaction's one COPY; `then` runs after handing them over. */
const sharedCopyBatch = (key: PartitionKey, offsets: number[], then?: (tx: SinkTx) => unknown) =>
  batch(key, null, offsets, then, true).commit

test("a group's rows go in one COPY after every batch ran, not before; a batch that fails drops its rows", async () => {
  const [a, failing, b] = (await claimed(3)) as Keys
  let seenBeforeTheCopy = -1
  const results = await whileBusy([
    sharedCopyBatch(a, [0, 1]),
    sharedCopyBatch(failing, [0, 1, 2], () => {
      throw new Error('after its rows were handed over')
    }),
    sharedCopyBatch(b, [0], async (tx) => {
      // The last batch in partition order: a's rows are handed over, not yet copied.
      if (tx.kind !== 'postgres') return
      const [row] = await tx.sql<{ n: number }[]>`
        select count(*)::int as n from baton_events where topic = ${a.topic}`
      seenBeforeTheCopy = row?.n ?? -1
    }),
  ])
  expect(sizes).toEqual([3])
  expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
  expect(seenBeforeTheCopy).toBe(0)
  expect(await storedOffsets(db.sql, a)).toEqual([0, 1])
  expect(await storedOffsets(db.sql, b)).toEqual([0])
  expect(await storedOffsets(db.sql, failing)).toEqual([])
  expect(await watermark(db.sql, failing)).toEqual({ nextOffset: null, epoch: 1 })
})

test('a row of the shared COPY that fails (a double): every batch SINK_UNAVAILABLE, nothing applied; retried alone, only the double fails', async () => {
  const [a, doubled, b] = (await claimed(3)) as Keys
  // Offset 0 of `doubled` is already stored, as if a double had got past the watermark.
  await db.sql`
    insert into baton_events (topic, partition, "offset", key, value, headers, event_time)
    values (${doubled.topic}, ${doubled.partition}, 0, null, '{}', '{}', now())`
  const commits = () => [
    sharedCopyBatch(a, [0]),
    sharedCopyBatch(doubled, [0, 1]),
    sharedCopyBatch(b, [0, 1]),
  ]
  const results = await whileBusy(commits())
  expect(sizes).toEqual([3])
  for (const r of results)
    expect(r).toMatchObject({ status: 'rejected', reason: { code: 'SINK_UNAVAILABLE' } })
  for (const key of [a, b]) {
    expect(await storedOffsets(db.sql, key)).toEqual([])
    expect(await watermark(db.sql, key)).toEqual({ nextOffset: null, epoch: 1 })
  }

  const retried = await whileBusy(commits())
  expect(sizes).toEqual([1, 1, 1])
  expect(retried.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
  expect((retried[1] as PromiseRejectedResult).reason).toMatchObject({ code: '23505' })
  expect(await storedOffsets(db.sql, a)).toEqual([0])
  expect(await storedOffsets(db.sql, b)).toEqual([0, 1])
  expect(await storedOffsets(db.sql, doubled)).toEqual([0])
  expect(await watermark(db.sql, doubled)).toEqual({ nextOffset: null, epoch: 1 })
})

/** A batch of the event store (a copy-only pipeline): `after` runs once its rows were handed over. */
function copyOnlyBatch(
  key: PartitionKey,
  from: number | null,
  offsets: number[],
  after?: (tx: SinkTx) => unknown,
): BatchCommit {
  const stored = eventStoreBatch(key, 1, from, offsets)
  return {
    ...stored,
    copyOnly: true,
    work: async (tx) => {
      await stored.work?.(tx)
      await after?.(tx)
    },
  }
}

test('copy-only batches share a transaction without savepoints: a zombie is FENCED, a batch already committed is accepted, a pipeline that throws or runs a statement fails alone; only rows of batches whose watermark moved are stored', async () => {
  const [a, zombie, again, thrower] = (await claimed(4)) as Keys
  const [statement, b] = (await claimed(2)) as Keys
  await sink.commit(copyOnlyBatch(zombie, null, [0]))
  await sink.claim(zombie, 2)
  await sink.commit(copyOnlyBatch(again, null, [0, 1]))
  const boom = new Error('boom')
  const results = await whileBusy([
    copyOnlyBatch(a, null, [0, 1]),
    copyOnlyBatch(zombie, 1, [1, 2]),
    // Its rows, were they sent, would conflict with those stored: the COPY, and every batch, would fail.
    copyOnlyBatch(again, null, [0, 1]),
    copyOnlyBatch(thrower, null, [0], () => {
      throw boom
    }),
    copyOnlyBatch(statement, null, [0], (tx) => (tx.kind === 'postgres' ? tx.sql`select 1` : undefined)),
    copyOnlyBatch(b, null, [0]),
  ])
  expect(sizes).toEqual([6])
  expect(results.map((r) => r.status)).toEqual([
    'fulfilled',
    'rejected',
    'fulfilled',
    'rejected',
    'rejected',
    'fulfilled',
  ])
  expect(results[1]).toMatchObject({ reason: { code: 'FENCED' } })
  expect((results[3] as PromiseRejectedResult).reason).toBe(boom)
  expect(results[4]).toMatchObject({ reason: { code: 'PIPELINE_INVALID' } })
  expect(await storedOffsets(db.sql, a)).toEqual([0, 1])
  expect(await storedOffsets(db.sql, b)).toEqual([0])
  expect(await storedOffsets(db.sql, zombie)).toEqual([0])
  expect(await watermark(db.sql, zombie)).toEqual({ nextOffset: 1, epoch: 2 })
  expect(await storedOffsets(db.sql, again)).toEqual([0, 1])
  expect(await watermark(db.sql, again)).toEqual({ nextOffset: 2, epoch: 1 })
  for (const key of [thrower, statement]) {
    expect(await storedOffsets(db.sql, key)).toEqual([])
    expect(await watermark(db.sql, key)).toEqual({ nextOffset: null, epoch: 1 })
  }
})

test('copy-only batches whose shared COMMIT took effect but whose answer is lost: each is settled from its own row as committed, stored once, never run again', async () => {
  const [a, b] = (await claimed(2)) as Keys
  // COMMIT runs a deferred trigger on a's watermark row that sleeps, so that the answers can be held while
  // the server commits: the copy-only path runs no pipeline code between its watermarks and COMMIT.
  const fn = uniqueName('gc_slow_commit')
  await db.sql.unsafe(`create function ${fn}() returns trigger language plpgsql as
    $$ begin perform pg_sleep(0.6); return null; end $$`)
  await db.sql.unsafe(`create constraint trigger ${fn} after update on baton_watermarks
    deferrable initially deferred for each row
    when (new.topic = '${a.topic}' and new.partition = ${a.partition}) execute function ${fn}()`)
  try {
    let runs = 0
    const counted = (key: PartitionKey, offsets: number[]) =>
      copyOnlyBatch(key, null, offsets, () => {
        runs++
      })
    const commits = [counted(a, [0, 1]), counted(b, [0])]
    const results = whileBusy(commits)
    // The group starts once the blocker ends (at once); its COMMIT then sleeps 0.6 s on the server, and
    // the deadline (1.5 s) passes without its answer.
    await Bun.sleep(300)
    proxy.hold('down')
    const settled = await results
    proxy.heal()
    expect(sizes).toEqual([2])
    expect(runs).toBe(2)
    // It committed: both rows moved, before anything was retried.
    expect(await watermark(db.sql, a)).toEqual({ nextOffset: 2, epoch: 1 })
    expect(await watermark(db.sql, b)).toEqual({ nextOffset: 1, epoch: 1 })
    // Settled at once as committed, or (the pool's other connection was held too) kept, and settled
    // before the next commit of the same batch, which is then accepted without running the pipeline. Those
    // retried go together, as a group of copy-only batches would run their pipelines again.
    const retried: BatchCommit[] = []
    for (const [i, r] of settled.entries()) {
      if (r.status === 'fulfilled') continue
      // Kept as unknown: never reported as rolled back, which it was not.
      expect(r.reason).toMatchObject({ code: 'SINK_UNAVAILABLE' })
      expect((r.reason as Error).message).not.toContain('nothing of this batch was applied')
      const { key, toOffset } = commits[i] as BatchCommit
      retried.push(
        counted(
          key,
          Array.from({ length: toOffset }, (_, o) => o),
        ),
      )
    }
    const again = await whileBusy(retried)
    expect(again.map((r) => r.status)).toEqual(retried.map(() => 'fulfilled'))
    expect(runs).toBe(2)
    expect(await storedOffsets(db.sql, a)).toEqual([0, 1])
    expect(await storedOffsets(db.sql, b)).toEqual([0])
  } finally {
    await db.sql.unsafe(`drop trigger if exists ${fn} on baton_watermarks`)
    await db.sql.unsafe(`drop function if exists ${fn}()`)
  }
})
