import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { serviceEnv } from '../../test/support/env.ts'
import { eventStore } from '../event-store.ts'
import type { BatchCommit, PartitionKey } from '../ports.ts'
import { classifyPostgresError } from './classify-error.ts'
import { createPostgresSink, type PostgresSink } from './sink.ts'
import {
  eventStoreBatch,
  record,
  storedOffsets,
  storeEvents,
  testDatabase,
  uniqueKey,
  watermark,
} from './testing.ts'

const db = testDatabase()
const keys: PartitionKey[] = []
let sink: PostgresSink

function newKey(partition = 0): PartitionKey {
  const key = uniqueKey(partition)
  keys.push(key)
  return key
}

const batch = eventStoreBatch

beforeAll(async () => {
  sink = await createPostgresSink({ url: serviceEnv().DATABASE_URL, pipeline: eventStore, group: 'unused' })
})

afterAll(async () => {
  await sink.close()
  await db.cleanup(keys)
})

describe('claim', () => {
  test('a new partition has no progress; a newer epoch takes it over; an older epoch is fenced, the same one restarts', async () => {
    const key = newKey()
    expect(await sink.storedEpoch(key)).toBeNull()
    expect(await sink.claim(key, 5)).toBeNull()
    expect(await sink.storedEpoch(key)).toBe(5)
    await sink.commit(batch(key, 5, null, [0, 1, 2]))
    expect(await sink.claim(key, 7)).toBe(3)
    expect(await watermark(db.sql, key)).toEqual({ nextOffset: 3, epoch: 7 })

    for (const epoch of [6, 7]) {
      const refused = sink.claim(key, epoch)
      await expect(refused).rejects.toMatchObject({ code: epoch === 7 ? 'WATERMARK_MISMATCH' : 'FENCED' })
      await expect(refused).rejects.toThrow(epoch === 7 ? /already claimed by epoch 7/ : /owned by epoch 7/)
    }
    expect(await watermark(db.sql, key)).toEqual({ nextOffset: 3, epoch: 7 })
  })
})

describe('commit', () => {
  test('the watermark chains over non-contiguous offsets, starting from null', async () => {
    const key = newKey()
    await sink.claim(key, 1)
    await sink.commit(batch(key, 1, null, [3, 5]))
    await sink.commit(batch(key, 1, 6, [8, 9]))
    await sink.commit(batch(key, 1, 10, [10]))
    expect(await watermark(db.sql, key)).toEqual({ nextOffset: 11, epoch: 1 })
    expect(await storedOffsets(db.sql, key)).toEqual([3, 5, 8, 9, 10])
  })

  test('a batch that does not start at the watermark is refused, nothing of it applied, and the actor told to restart', async () => {
    const key = newKey()
    await sink.claim(key, 1)
    await sink.commit(batch(key, 1, null, [0, 1]))
    for (const from of [null, 1, 3]) {
      const refused = sink.commit(batch(key, 1, from, [5]))
      await expect(refused).rejects.toMatchObject({ code: 'WATERMARK_MISMATCH' })
      await expect(refused).rejects.toThrow(/is at offset 2, but the batch of epoch 1 starts at/)
    }
    expect(await watermark(db.sql, key)).toEqual({ nextOffset: 2, epoch: 1 })
    expect(await storedOffsets(db.sql, key)).toEqual([0, 1])
  })

  test('two epochs: the older actor is refused and nothing of it applied, the newer one applies', async () => {
    const key = newKey()
    expect(await sink.claim(key, 1)).toBeNull()
    await sink.commit(batch(key, 1, null, [0, 1]))
    expect(await sink.claim(key, 2)).toBe(2)

    let zombieWorkRan = false
    const zombie: BatchCommit = {
      ...batch(key, 1, 2, [2, 3]),
      deadLetters: [{ record: record(key, 2), error: 'bad', code: 'POISON_EVENT', attempts: 1 }],
      work: () => {
        zombieWorkRan = true
      },
    }
    const refused = sink.commit(zombie)
    await expect(refused).rejects.toMatchObject({ code: 'FENCED' })
    await expect(refused).rejects.toThrow(/owned by epoch 2; the batch of epoch 1 was refused/)
    expect(classifyPostgresError(await refused.catch((e) => e))).toBe('fenced')
    expect(zombieWorkRan).toBe(false)
    expect((await sink.deadLetters.unpublished(key)).length).toBe(0)

    await sink.commit(batch(key, 2, 2, [2, 3]))
    expect(await watermark(db.sql, key)).toEqual({ nextOffset: 4, epoch: 2 })
    expect(await storedOffsets(db.sql, key)).toEqual([0, 1, 2, 3])
  })

  test('a partition never claimed cannot be committed to', async () => {
    const key = newKey()
    const refused = sink.commit(batch(key, 1, null, [0]))
    await expect(refused).rejects.toMatchObject({ code: 'WATERMARK_MISMATCH' })
    await expect(refused).rejects.toThrow(/has no watermark row/)
  })

  test('a throwing work rolls back the watermark and the dead letters with it, and its error comes through as thrown', async () => {
    const key = newKey()
    await sink.claim(key, 1)
    const boom = new TypeError('pipeline bug')
    const failing: BatchCommit = {
      ...batch(key, 1, null, [0, 1, 2]),
      deadLetters: [{ record: record(key, 1), error: 'bad', code: 'POISON_EVENT', attempts: 1 }],
      work: async (tx) => {
        await storeEvents([record(key, 0), record(key, 2)])(tx)
        throw boom
      },
    }
    expect(await sink.commit(failing).catch((e) => e)).toBe(boom)
    expect(await watermark(db.sql, key)).toEqual({ nextOffset: null, epoch: 1 })
    expect(await storedOffsets(db.sql, key)).toEqual([])
    expect((await sink.deadLetters.unpublished(key)).length).toBe(0)

    await sink.commit({ ...failing, work: storeEvents([record(key, 0), record(key, 2)]) })
    expect(await watermark(db.sql, key)).toEqual({ nextOffset: 3, epoch: 1 })
    expect(await storedOffsets(db.sql, key)).toEqual([0, 2])
    expect((await sink.deadLetters.unpublished(key)).map((l) => l.record.offset)).toEqual([1])
  })

  test('a batch its own epoch already committed (the acknowledgement was lost) is accepted, not applied twice', async () => {
    const key = newKey()
    await sink.claim(key, 1)
    const first = batch(key, 1, null, [0, 1])
    await sink.commit(first)
    await sink.commit(first)
    expect(await storedOffsets(db.sql, key)).toEqual([0, 1])
    // A newer epoch's claim ends that: the same batch is now a zombie's.
    await sink.claim(key, 2)
    await expect(sink.commit(first)).rejects.toMatchObject({ code: 'FENCED' })
  })

  test('a batch of only dead letters moves the watermark past them', async () => {
    const key = newKey()
    await sink.claim(key, 1)
    const letter = { record: record(key, 4), error: 'not JSON', code: 'POISON_EVENT', attempts: 1 }
    await sink.commit({ key, epoch: 1, fromOffset: null, toOffset: 5, deadLetters: [letter], work: null })
    expect(await watermark(db.sql, key)).toEqual({ nextOffset: 5, epoch: 1 })
    expect((await sink.deadLetters.unpublished(key)).map((l) => l.record.offset)).toEqual([4])
  })
})

describe('the event-store pipeline', () => {
  test('stores value as jsonb, key, headers and event time', async () => {
    const key = newKey(3)
    await sink.claim(key, 1)
    const records = [
      record(key, 0, {
        value: Buffer.from('{"order":"A-1","total":12.5,"items":[1,2]}'),
        headers: { source: 'web' },
      }),
      record(key, 1, { key: null, value: null, timestamp: Date.UTC(2024, 0, 2, 3, 4, 5, 678) }),
    ]
    await sink.commit({
      key,
      epoch: 1,
      fromOffset: null,
      toOffset: 2,
      deadLetters: [],
      work: storeEvents(records),
    })

    const rows = await db.sql`
      select "offset"::int, key, value, value->>'order' as order_id, jsonb_typeof(value) as type, headers,
        extract(epoch from event_time)::float8 * 1000 as event_ms
      from baton_events where topic = ${key.topic} and partition = 3 order by "offset"`
    expect([...rows]).toEqual([
      {
        offset: 0,
        key: 'k0',
        value: { order: 'A-1', total: 12.5, items: [1, 2] },
        order_id: 'A-1',
        type: 'object',
        headers: { source: 'web' },
        event_ms: 1_700_000_000_000,
      },
      {
        offset: 1,
        key: null,
        value: null,
        order_id: null,
        type: 'null',
        headers: {},
        event_ms: Date.UTC(2024, 0, 2, 3, 4, 5, 678),
      },
    ])
  })
})
