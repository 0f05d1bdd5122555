import { describe, expect, test } from 'bun:test'
import { MemoryPartition } from '../../test/support/memory-feed.ts'
import { MemoryCheckpoints, MemorySink, memoryTx } from '../../test/support/memory-sink.ts'
import { testPartitionDeps } from '../../test/support/partition-deps.ts'
import { quarantineProperty } from '../../test/support/quarantine-property.ts'
import { isBatonError } from '../core/errors.ts'
import { backoff } from '../core/index.ts'
import { testSystem } from '../core/testing.ts'
import { definePipeline, type Pipeline, PoisonEventError } from '../pipeline.ts'
import type { SourceRecord } from '../ports.ts'
import { type PartitionMsg, partitionActor, type ReleaseReply } from './partition-actor.ts'
import type { PartitionStatus } from './stats.ts'

const topic = 'payments'
const key = { group: 'g', topic, partition: 0 }

/**
 * A partition of keyed events, some of them poison until a fix is "deployed" (their offset added to
 * `fixed`), handled by an actor with `onPoison: 'quarantine-key'` on a ManualClock and the memory sink.
 * Owners come and go: `restart` stops the owner and starts a new one (a rebalance, a crash), `zombie`
 * starts a new one while the old still runs (it is fenced as soon as it commits or releases).
 */
function rig(maxKeys = 10_000) {
  const kit = testSystem({
    supervision: {
      intensity: Number.POSITIVE_INFINITY,
      backoff: backoff({ minMs: 10, maxMs: 10, jitter: 0 }),
      // A fenced actor is a zombie: it stops for good, as under the coordinator.
      decider: (err) => (isBatonError(err, 'FENCED') ? 'stop' : 'restart'),
    },
  })
  const sink = new MemorySink()
  const checkpoints = new MemoryCheckpoints()
  const feed = new MemoryPartition({ topic, partition: 0 })
  const poison = new Set<number>()
  const fixed = new Set<number>()
  const pipeline: Pipeline = definePipeline({
    name: 'per-key',
    onPoison: 'quarantine-key',
    decode: (record) => record.offset,
    handle(batch, tx) {
      for (const e of batch.events) {
        const offset = e.value as number
        if (poison.has(offset) && !fixed.has(offset))
          throw new PoisonEventError(`offset ${offset} is poison (test)`)
      }
      memoryTx(tx).stored.push(...batch.events.map((e) => e.value as number))
    },
  })
  let generation = 0
  const spawn = () =>
    kit.system.spawn<PartitionMsg>(
      `p${generation++}`,
      partitionActor(
        testPartitionDeps({
          key,
          pipeline,
          sink,
          checkpoints,
          openFeed: () => feed.feed(),
          quarantine: { store: sink.quarantine, maxKeys },
        }),
      ),
      // As under the coordinator (BATON_MAILBOX_CAPACITY): a few fetched chunks, then fetching waits.
      { mailboxCapacity: 2 },
    )
  return { ...kit, sink, feed, poison, fixed, spawn }
}

type Rig = ReturnType<typeof rig>
type Ref = ReturnType<Rig['spawn']>

/** Lets the actors work for `ms` of virtual time (batches flush after 50 ms, restarts after 10 ms). */
const run = (r: Rig, ms = 500) => r.clock.advance(ms)

async function ask<T>(r: Rig, ref: Ref, make: (reply: (value: T) => void) => PartitionMsg): Promise<T> {
  const answer = ref.ask<T>(make, { timeoutMs: 60_000 })
  answer.catch(() => {}) // awaited below, after the clock moved: not unhandled meanwhile
  await run(r, 100)
  return answer
}

const status = (r: Rig, ref: Ref) => ask<PartitionStatus>(r, ref, (reply) => ({ type: 'status', reply }))

/** Asks `ref` to retry or skip the letter holding `k` back; the letter is read as the HTTP route reads it. */
async function decide(r: Rig, ref: Ref, k: Buffer, outcome: 'retried' | 'skipped'): Promise<ReleaseReply> {
  const hold = [...r.sink.quarantine.keys.values()].find((h) => h.key.equals(k))
  if (!hold) throw new Error('no such quarantined key (test)')
  const letter = r.sink.quarantine.letters.get(hold.letterId)?.record as SourceRecord
  return ask<ReleaseReply>(r, ref, (reply) => ({
    type: 'release',
    letterId: hold.letterId,
    recordKey: k,
    outcome,
    letter,
    reply,
  }))
}

describe('per-key quarantine on the partition actor (memory sink)', () => {
  test('a poison event holds back its own key only; retry after a fix releases the key in offset order', async () => {
    const r = rig()
    const ref = r.spawn()
    r.poison.add(1)
    r.feed.append(['a0'], 'a') // 0
    r.feed.append(['a1'], 'a') // 1: poison
    r.feed.append(['b2'], 'b') // 2
    r.feed.append(['a3'], 'a') // 3: held
    r.feed.append(['b4'], 'b') // 4
    await run(r)
    expect(r.sink.stored.get(`${topic}/0`)).toEqual([0, 2, 4])
    expect(await status(r, ref)).toMatchObject({
      quarantinedKeys: 1,
      quarantinedEvents: 1,
      committedOffset: 5,
    })

    // Retried without a fix: it fails again and nothing changes.
    const failed = await decide(r, ref, Buffer.from('a'), 'retried')
    expect(failed).toMatchObject({ status: 'failed' })
    expect(r.sink.stored.get(`${topic}/0`)).toEqual([0, 2, 4])

    r.fixed.add(1)
    r.feed.append(['a5'], 'a') // 5: held behind 3 while the key is quarantined
    await run(r)
    const released = await decide(r, ref, Buffer.from('a'), 'retried')
    expect(released).toMatchObject({ status: 'done', released: 2 })
    expect(r.sink.stored.get(`${topic}/0`)).toEqual([0, 2, 4, 1, 3, 5])
    // A second call finds nothing to release and applies nothing again.
    expect(await decide(r, ref, Buffer.from('a'), 'retried').catch((e) => e.message)).toBe(
      'no such quarantined key (test)',
    )
    r.feed.append(['a6'], 'a')
    await run(r)
    expect(r.sink.stored.get(`${topic}/0`)).toEqual([0, 2, 4, 1, 3, 5, 6])
    expect(await status(r, ref)).toMatchObject({ quarantinedKeys: 0, quarantinedEvents: 0 })
  })

  test('at BATON_QUARANTINE_MAX_KEYS the partition pauses as quarantine-full, and flows again after a release', async () => {
    const r = rig(1)
    const ref = r.spawn()
    r.poison.add(0).add(1)
    r.feed.append(['a0'], 'a')
    await run(r)
    r.feed.append(['b1'], 'b')
    r.feed.append(['c2'], 'c')
    await run(r)
    expect(await status(r, ref)).toMatchObject({
      state: 'quarantine-full',
      quarantinedKeys: 1,
      committedOffset: 1,
    })
    expect(r.sink.stored.get(`${topic}/0`) ?? []).toEqual([])

    expect(await decide(r, ref, Buffer.from('a'), 'skipped')).toMatchObject({ status: 'done', released: 0 })
    await run(r)
    // b1 quarantined b (one key again, at the cap), c2 flowed.
    expect(await status(r, ref)).toMatchObject({ state: 'running', quarantinedKeys: 1, committedOffset: 3 })
    expect(r.sink.stored.get(`${topic}/0`)).toEqual([2])
  })

  test('a long release goes on between batches while fetched records fill the mailbox (it does not wait on its own mailbox)', async () => {
    const r = rig()
    const ref = r.spawn()
    r.poison.add(0)
    r.feed.append(
      Array.from({ length: 5_000 }, (_, i) => `a${i}`),
      'a',
    ) // 0 poison, 4,999 held
    await run(r, 5_000)
    expect(await status(r, ref)).toMatchObject({ quarantinedEvents: 4_999, committedOffset: 5_000 })
    // Records of other keys keep arriving: the feed fills the mailbox (capacity 2) while the release runs.
    r.feed.append(
      Array.from({ length: 2_000 }, (_, i) => `b${i}`),
      'b',
    )
    const hold = [...r.sink.quarantine.keys.values()][0]
    if (!hold) throw new Error('no key (test)')
    const answer = ref.ask<ReleaseReply>(
      (reply) => ({
        type: 'release',
        letterId: hold.letterId,
        recordKey: hold.key,
        outcome: 'skipped',
        letter: r.feed.records[0] as SourceRecord,
        reply,
      }),
      { timeoutMs: 60_000 },
    )
    answer.catch(() => {})
    await r.clock.advance(120_000) // past the ask's timeout: a release stuck on its own mailbox fails here
    expect(await answer).toMatchObject({ status: 'releasing', released: 4_000 })
    expect(await status(r, ref)).toMatchObject({
      quarantinedKeys: 0,
      quarantinedEvents: 0,
      committedOffset: 7_000,
    })
    const stored = r.sink.stored.get(`${topic}/0`) ?? []
    expect(stored.filter((o) => o < 5_000)).toEqual(Array.from({ length: 4_999 }, (_, i) => i + 1))
    expect(stored.filter((o) => o >= 5_000)).toEqual(Array.from({ length: 2_000 }, (_, i) => i + 5_000))
  })

  test('a zombie cannot release; a new owner loads the quarantine and finishes a key left releasing', async () => {
    const r = rig()
    const old = r.spawn()
    r.poison.add(0)
    r.feed.append(['a0', 'a1', 'a2'], 'a')
    await run(r)
    const owner = r.spawn() // takes a newer epoch; the old one does not know yet
    await run(r)
    expect(await status(r, owner)).toMatchObject({ quarantinedKeys: 1, quarantinedEvents: 2 })
    expect(await decide(r, old, Buffer.from('a'), 'skipped')).toMatchObject({ status: 'moved' })
    expect(r.sink.quarantine.letters.get(1)?.resolution).toBeNull()

    // The owner marks the letter, releases nothing yet (the sink goes away), and is replaced.
    const hold = [...r.sink.quarantine.keys.values()][0]
    if (!hold) throw new Error('no key (test)')
    hold.state = 'releasing'
    ;(r.sink.quarantine.letters.get(hold.letterId) as { resolution: string | null }).resolution = 'skipped'
    await owner.stop()
    const next = r.spawn()
    await run(r)
    expect(await status(r, next)).toMatchObject({ quarantinedKeys: 0, quarantinedEvents: 0 })
    expect(r.sink.stored.get(`${topic}/0`)).toEqual([1, 2])
  })

  test('property: whatever the poison, decisions, restarts and zombies, each key gets its events once, in offset order, without the skipped', async () => {
    await quarantineProperty(
      async () => {
        const sink = new MemorySink()
        return {
          key,
          sink,
          store: sink.quarantine,
          checkpoints: new MemoryCheckpoints(),
          pipeline: (poison) =>
            definePipeline({
              name: 'per-key',
              onPoison: 'quarantine-key',
              decode(record) {
                if (poison.has(record.offset))
                  throw new PoisonEventError(`offset ${record.offset} is poison (test)`)
                return record.offset
              },
              handle(batch, tx) {
                memoryTx(tx).stored.push(...batch.events.map((e) => e.value as number))
              },
            }) as Pipeline,
          applied: async () => sink.stored.get(`${topic}/0`) ?? [],
          letter: async (id) => sink.quarantine.letters.get(id)?.record as SourceRecord,
          close: async () => {},
        }
      },
      { numRuns: 60 },
    )
  })
})
