import type { Database } from 'bun:sqlite'
import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eventStore } from '../event-store.ts'
import { definePipeline, PoisonEventError } from '../pipeline.ts'
import { type BatchCommit, type DeadLetter, NO_HEADERS, type SinkTx, type SourceRecord } from '../ports.ts'
import { SqliteSink } from './sink.ts'
import { SqliteStore } from './store.ts'

const key = { group: 'g', topic: 'orders', partition: 3 }
let dir: string
let store: SqliteStore
let sink: SqliteSink

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'baton-sink-'))
  store = SqliteStore.open(join(dir, 'sink.db'))
  sink = await SqliteSink.open(store, { pipeline: eventStore, group: 'g' })
})

afterEach(async () => {
  await sink.close()
  rmSync(dir, { recursive: true, force: true })
})

function record(offset: number, value: unknown = { n: offset }, partition = key.partition): SourceRecord {
  return {
    topic: key.topic,
    partition,
    offset,
    key: Buffer.from(`k${offset}`),
    value: Buffer.from(JSON.stringify(value)),
    headers: NO_HEADERS,
    timestamp: 1_000 + offset,
  }
}

/** A batch whose work stores its records through the built-in event store. */
function batch(
  epoch: number,
  fromOffset: number | null,
  offsets: number[],
  extra: Partial<BatchCommit> = {},
) {
  const records = offsets.map((o) => record(o))
  return {
    key,
    epoch,
    fromOffset,
    toOffset: (offsets.at(-1) ?? fromOffset ?? 0) + 1,
    deadLetters: [],
    work: (tx: SinkTx) =>
      eventStore.handle(
        {
          topic: key.topic,
          partition: key.partition,
          events: records.map((r) => ({ record: r, value: eventStore.decode(r) })),
        },
        tx,
      ),
    ...extra,
  } satisfies BatchCommit
}

const stored = (db: Database = store.db) =>
  (db.query('select "offset" from baton_events order by "offset"').all() as { offset: number }[]).map(
    (r) => r.offset,
  )

const watermark = () =>
  store.db
    .query(
      'select next_offset, epoch from baton_watermarks where group_id = ? and topic = ? and partition = ?',
    )
    .get(key.group, key.topic, key.partition)

describe('claim', () => {
  test('creates the row with no offset, then returns the committed offset to a newer epoch', async () => {
    expect(await sink.claim(key, 1)).toBeNull()
    expect(watermark()).toEqual({ next_offset: null, epoch: 1 })
    await sink.commit(batch(1, null, [0, 1, 2]))
    expect(await sink.claim(key, 2)).toBe(3)
    expect(watermark()).toEqual({ next_offset: 3, epoch: 2 })
  })

  test('an older epoch is fenced; a second claim with the same epoch is told to restart', async () => {
    await sink.claim(key, 5)
    await expect(sink.claim(key, 5)).rejects.toMatchObject({ code: 'WATERMARK_MISMATCH' })
    await expect(sink.claim(key, 5)).rejects.toThrow('an epoch is claimed once')
    const claim = sink.claim(key, 4)
    await expect(claim).rejects.toMatchObject({ code: 'FENCED' })
    await expect(sink.claim(key, 4)).rejects.toThrow('owned by epoch 5; this actor (epoch 4) is a zombie')
    expect(watermark()).toEqual({ next_offset: null, epoch: 5 })
  })
})

describe('commit', () => {
  test('the first batch (fromOffset null) may start anywhere; later ones must start at the watermark', async () => {
    await sink.claim(key, 1)
    await sink.commit(batch(1, null, [40, 41]))
    await sink.commit(batch(1, 42, [42, 43, 44]))
    expect(stored()).toEqual([40, 41, 42, 43, 44])
    expect(watermark()).toEqual({ next_offset: 45, epoch: 1 })
  })

  test('a duplicate batch is refused with WATERMARK_MISMATCH and nothing of it is applied', async () => {
    await sink.claim(key, 1)
    await sink.commit(batch(1, null, [0, 1]))
    await expect(sink.commit(batch(1, 0, [0, 1]))).rejects.toMatchObject({ code: 'WATERMARK_MISMATCH' })
    await expect(sink.commit(batch(1, null, [0, 1]))).rejects.toThrow('a duplicate or out-of-order batch')
    await expect(sink.commit(batch(1, 5, [5]))).rejects.toMatchObject({ code: 'WATERMARK_MISMATCH' })
    expect(stored()).toEqual([0, 1])
    expect(watermark()).toEqual({ next_offset: 2, epoch: 1 })
  })

  test("a zombie's commit is refused once a newer epoch claimed the partition; nothing of it is applied", async () => {
    await sink.claim(key, 1)
    await sink.commit(batch(1, null, [0, 1]))
    expect(await sink.claim(key, 2)).toBe(2)
    const letter: DeadLetter = { record: record(2), error: 'bad', code: 'X', attempts: 1 }
    const zombie = sink.commit(batch(1, 2, [2, 3], { deadLetters: [letter] }))
    await expect(zombie).rejects.toMatchObject({ code: 'FENCED' })
    await expect(sink.commit(batch(1, 2, [2, 3]))).rejects.toThrow(
      'owned by epoch 2; this actor (epoch 1) is a zombie',
    )
    expect(stored()).toEqual([0, 1])
    expect(store.db.query('select count(*) as n from baton_dead_letters').get()).toEqual({ n: 0 })
    await sink.commit(batch(2, 2, [2, 3]))
    expect(stored()).toEqual([0, 1, 2, 3])
  })

  test('a commit without a claim is refused, and the actor told to restart (and claim)', async () => {
    await expect(sink.commit(batch(1, null, [0]))).rejects.toThrow('never claimed')
    await sink.claim(key, 1)
    const refused = sink.commit(batch(2, null, [0]))
    await expect(refused).rejects.toMatchObject({ code: 'WATERMARK_MISMATCH' })
    await expect(refused).rejects.toThrow('the actor restarts and claims it')
  })

  test('work that throws rolls back its writes, the dead letters and the watermark, and its error comes out as it is', async () => {
    await sink.claim(key, 1)
    await sink.commit(batch(1, null, [0]))
    const poison = new PoisonEventError('no such customer')
    const letter: DeadLetter = { record: record(1), error: 'bad', code: 'X', attempts: 1 }
    const failing = batch(1, 1, [1, 2], {
      deadLetters: [letter],
      work: async (tx) => {
        if (tx.kind !== 'sqlite') throw new Error('expected sqlite')
        tx.db.run(`insert into baton_events (topic, partition, "offset", value, event_time, stored_at)
                   values ('orders', 3, 2, '{}', 0, 0)`)
        await Bun.sleep(1)
        throw poison
      },
    })
    await expect(sink.commit(failing)).rejects.toBe(poison)
    expect(stored()).toEqual([0])
    expect(watermark()).toEqual({ next_offset: 1, epoch: 1 })
    expect(store.db.query('select count(*) as n from baton_dead_letters').get()).toEqual({ n: 0 })
    expect(store.db.inTransaction).toBe(false)
  })

  test("a pipeline's SQL error comes out as it is (the actor isolates the event)", async () => {
    await sink.claim(key, 1)
    await sink.commit(batch(1, null, [0]))
    const again = batch(1, 1, [1], {
      work: (tx) => {
        if (tx.kind === 'sqlite') tx.db.run(`insert into baton_events select * from baton_events`)
      },
    })
    await expect(sink.commit(again)).rejects.toMatchObject({
      name: 'SQLiteError',
      code: 'SQLITE_CONSTRAINT_PRIMARYKEY',
    })
    expect(watermark()).toEqual({ next_offset: 1, epoch: 1 })
  })

  test('dead letters are stored with the batch, with everything needed to replay them', async () => {
    await sink.claim(key, 1)
    const bad: SourceRecord = { ...record(1), headers: { trace: 't-1' }, value: Buffer.from('not json') }
    const letter: DeadLetter = { record: bad, error: 'not JSON', code: 'POISON_EVENT', attempts: 1 }
    await sink.commit(batch(1, null, [0], { deadLetters: [letter], toOffset: 2 }))
    const row = store.db.query('select * from baton_dead_letters').get() as Record<string, unknown>
    expect(row).toMatchObject({
      group_id: 'g',
      topic: 'orders',
      partition: 3,
      offset: 1,
      headers: '{"trace":"t-1"}',
      event_time: 1_001,
      error: 'not JSON',
      error_code: 'POISON_EVENT',
      attempts: 1,
      published_at: null,
      replayed_at: null,
    })
    expect(Buffer.from(row.value as Uint8Array).toString()).toBe('not json')
    expect(Buffer.from(row.key as Uint8Array).toString()).toBe('k1')
    expect(watermark()).toEqual({ next_offset: 2, epoch: 1 })
  })

  test('concurrent commits of two partitions never interleave on the one connection', async () => {
    const other = { ...key, partition: 4 }
    await sink.claim(key, 1)
    await sink.claim(other, 1)
    const events: string[] = []
    const slow = (name: string, partition: number, offset: number) => async (tx: SinkTx) => {
      if (tx.kind !== 'sqlite') return
      events.push(`${name} begin`)
      tx.db.run(
        `insert into baton_events (topic, partition, "offset", value, event_time, stored_at) values ('orders', ?, ?, '{}', 0, 0)`,
        [partition, offset],
      )
      await Bun.sleep(5)
      events.push(`${name} end`)
      if (name === 'b') throw new Error('b fails')
    }
    const a = sink.commit({
      key,
      epoch: 1,
      fromOffset: null,
      toOffset: 1,
      deadLetters: [],
      work: slow('a', 3, 0),
    })
    const b = sink.commit({
      key: other,
      epoch: 1,
      fromOffset: null,
      toOffset: 1,
      deadLetters: [],
      work: slow('b', 4, 0),
    })
    const c = sink.commit({
      key,
      epoch: 1,
      fromOffset: 1,
      toOffset: 2,
      deadLetters: [],
      work: slow('c', 3, 1),
    })
    await a
    await expect(b).rejects.toThrow('b fails')
    await c
    expect(events).toEqual(['a begin', 'a end', 'b begin', 'b end', 'c begin', 'c end'])
    expect(
      store.db.query('select partition, "offset" from baton_events order by partition, "offset"').all(),
    ).toEqual([
      { partition: 3, offset: 0 },
      { partition: 3, offset: 1 },
    ])
  })

  test('a work that ends the transaction itself is refused loudly', async () => {
    await sink.claim(key, 1)
    const rogue = batch(1, null, [0], {
      work: (tx) => {
        if (tx.kind === 'sqlite') tx.db.run('rollback')
      },
    })
    await expect(sink.commit(rogue)).rejects.toMatchObject({ code: 'PIPELINE_INVALID' })
    expect(store.db.inTransaction).toBe(false)
  })
})

describe('lifecycle', () => {
  test('migrations are idempotent and survive a reopen; a bad pipeline migration is MIGRATION_FAILED', async () => {
    await sink.claim(key, 1)
    await sink.commit(batch(1, null, [0]))
    await sink.close()
    store = SqliteStore.open(join(dir, 'sink.db'))
    sink = await SqliteSink.open(store, { pipeline: eventStore, group: 'g' })
    expect(await sink.claim(key, 2)).toBe(1)
    expect(stored()).toEqual([0])
    const brokenPipeline = definePipeline({
      name: 'broken',
      migrations: { sqlite: ['create table ok_one (a)', 'create tabel nope'] },
      handle() {},
    })
    const broken = SqliteSink.open(store, { pipeline: brokenPipeline, group: 'g' })
    await expect(broken).rejects.toMatchObject({ code: 'MIGRATION_FAILED' })
    await expect(broken).rejects.toThrow('migration 2 of 2')
    expect(store.db.query("select name from sqlite_master where name = 'ok_one'").get()).toBeNull()
  })

  test('a pipeline that does not support SQLite is refused', async () => {
    const pgOnly = definePipeline({ name: 'pg-only', sinks: ['postgres'], handle() {} })
    const open = SqliteSink.open(store, { pipeline: pgOnly, group: 'g' })
    await expect(open).rejects.toMatchObject({ code: 'PIPELINE_INVALID' })
    await expect(open).rejects.toThrow("Pipeline 'pg-only' supports only postgres")
  })

  test('after close, claims and commits are SINK_UNAVAILABLE and the file is closed', async () => {
    await sink.close()
    await expect(sink.claim(key, 1)).rejects.toMatchObject({ code: 'SINK_UNAVAILABLE' })
    expect(() => store.db.query('select 1').get()).toThrow()
  })

  test('a full disk is SINK_UNAVAILABLE, not the event’s fault', async () => {
    await sink.claim(key, 1)
    store.db.run('pragma max_page_count = 1')
    const big = batch(1, null, [0], {
      work: (tx) => {
        if (tx.kind === 'sqlite')
          tx.db.run("insert into baton_events select 'orders', 3, 0, null, zeroblob(100000), '{}', 0, 0")
      },
    })
    await expect(sink.commit(big)).rejects.toMatchObject({
      code: 'SINK_UNAVAILABLE',
      cause: { code: 'SQLITE_FULL' },
    })
    expect(watermark()).toEqual({ next_offset: null, epoch: 1 })
  })
})
