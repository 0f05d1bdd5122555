import { describe, expect, test } from 'bun:test'
import { BatonError } from '../actors/core/errors.ts'
import { flush } from '../actors/core/manual-clock.ts'
import { testSystem } from '../actors/core/testing.ts'
import { noObserver } from '../actors/partition/observer.ts'
import { definePipeline, type Pipeline } from '../actors/pipeline.ts'
import { type TopicPartition, tpString } from '../actors/ports.ts'
import { MemoryPartition } from '../test/support/memory-feed.ts'
import { MemoryCheckpoints, MemorySink, memoryTx } from '../test/support/memory-sink.ts'
import {
  type CoordinatorMsg,
  type CoordinatorOptions,
  coordinator,
  coordinatorSupervision,
  type OwnedPartition,
  topicSupervision,
} from './coordinator.ts'

const topic = 'orders'
const group = 'g'

/** Stores each event's offset through the memory sink's transaction. */
const offsets: Pipeline = definePipeline({
  name: 'offsets',
  decode: (record) => record.offset,
  handle(batch, tx) {
    memoryTx(tx).stored.push(...batch.events.map((e) => e.value as number))
  },
})

/**
 * The node's supervision tree as runtime/node/node.ts builds it (root -> coordinator -> topic supervisor ->
 * partition actors, with the specs it declares), on a ManualClock with a memory sink, checkpoints and feeds.
 */
function tree(partitionCount: number, options: Partial<CoordinatorOptions> = {}) {
  const kit = testSystem({ supervision: coordinatorSupervision })
  const sink = new MemorySink()
  const checkpoints = new MemoryCheckpoints()
  const feeds = new Map<number, MemoryPartition>()
  const owned = new Map<string, OwnedPartition>()
  const restarts = new Map<string, number>()
  const tps: TopicPartition[] = []
  for (let p = 0; p < partitionCount; p++) {
    tps.push({ topic, partition: p })
    feeds.set(p, new MemoryPartition({ topic, partition: p }))
  }
  const ref = kit.system.spawn<CoordinatorMsg>(
    'coordinator',
    coordinator(
      {
        drainTimeoutMs: 5_000,
        mailboxCapacity: 16,
        onRestart: (tp) => restarts.set(tpString(tp), (restarts.get(tpString(tp)) ?? 0) + 1),
        partitionDeps: (tp, stats) => ({
          key: { group, ...tp },
          pipeline: offsets,
          sink,
          checkpoints,
          openFeed: () => (feeds.get(tp.partition) as MemoryPartition).feed(),
          deadLetters: null,
          limits: { maxEvents: 100, maxBytes: 1_000_000, maxWaitMs: 100 },
          maxRetries: 1,
          stats,
          observer: noObserver,
        }),
        ...options,
      },
      owned,
    ),
    { supervision: topicSupervision, shutdownMs: 10_000 },
  )
  const assign = async () => {
    const done = ref.ask<Error | null>((reply) => ({ type: 'assign', partitions: tps, reply }))
    await flush()
    expect(await done).toBeNull()
  }
  const revoke = async (partitions: readonly TopicPartition[]) => {
    const done = ref.ask<void>((reply) => ({ type: 'revoke', partitions, reply }), { timeoutMs: 60_000 })
    for (let i = 0; i < 60 && !(await settled(done)); i++) await kit.clock.advance(1_000)
    await done
  }
  const append = (n: number) => {
    for (const feed of feeds.values()) {
      const from = feed.records.length
      feed.append(Array.from({ length: n }, (_, i) => `e${from + i}`))
    }
  }
  /** Advances virtual time one second at a time until `done` holds, for at most `maxMs`. */
  const advanceUntil = async (done: () => boolean, maxMs: number) => {
    for (let elapsed = 0; !done() && elapsed < maxMs; elapsed += 1_000) await kit.clock.advance(1_000)
    return done()
  }
  const storedAll = (n: number) => tps.every((tp) => (sink.stored.get(tpString(tp))?.length ?? 0) >= n)
  const running = () =>
    tps.every(
      (tp) =>
        kit.system.lookup(`/test/coordinator/${topic}/${tp.partition}`)?.snapshot().status === 'running',
    )
  return {
    ...kit,
    sink,
    checkpoints,
    owned,
    restarts,
    tps,
    assign,
    revoke,
    append,
    advanceUntil,
    storedAll,
    running,
  }
}

/** True once `promise` has settled (after the microtasks queued so far ran). */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false
  promise.then(
    () => {
      done = true
    },
    () => {
      done = true
    },
  )
  await flush()
  return done
}

const sequence = (n: number) => Array.from({ length: n }, (_, i) => i)

describe('the supervision tree heals by itself', () => {
  test('a sink that refuses for an hour of virtual time, then accepts: every partition runs again and stores every event once, in order', async () => {
    const t = tree(8)
    await t.assign()
    t.append(50)
    expect(await t.advanceUntil(() => t.storedAll(50), 10_000)).toBe(true)

    t.sink.down = true
    t.append(50)
    // An hour down: longer than every patience, intensity period and backoff cap in the tree.
    for (let minute = 0; minute < 60; minute++) await t.clock.advance(60_000)
    t.append(50) // events keep arriving during the outage
    expect(t.sink.stored.get(`${topic}/0`)).toHaveLength(50)

    t.sink.down = false
    expect(await t.advanceUntil(() => t.storedAll(150) && t.running(), 60_000)).toBe(true)
    for (const tp of t.tps) expect(t.sink.stored.get(tpString(tp))).toEqual(sequence(150))

    // Partition actors were restarted many times; nothing above them ever gave up or restarted.
    for (const tp of t.tps) expect(t.restarts.get(tpString(tp)) ?? 0).toBeGreaterThan(10)
    expect(t.events.filter((e) => e.type === 'intensity-exceeded')).toEqual([])
    const restarted = t.events.flatMap((e) => (e.type === 'actor-restarting' ? [e.path] : []))
    expect(restarted.filter((path) => !/^\/test\/coordinator\/orders\/\d+$/.test(path))).toEqual([])
    expect([...t.owned.values()].every((o) => o.ended === null)).toBe(true)
  })

  test('checkpoints that stay away for an hour do not stop the flow; restarts wait for them and then run', async () => {
    const t = tree(4)
    await t.assign()
    t.append(20)
    expect(await t.advanceUntil(() => t.storedAll(20), 10_000)).toBe(true)
    t.checkpoints.down = true
    t.append(20)
    // Checkpoints are the fast path: the flow goes on without them.
    expect(await t.advanceUntil(() => t.storedAll(40), 10_000)).toBe(true)
    t.sink.down = true // the actors restart (sink patience), and a restart needs an epoch from the checkpoints
    t.append(20)
    for (let minute = 0; minute < 60; minute++) await t.clock.advance(60_000)
    t.sink.down = false
    for (let minute = 0; minute < 5; minute++) await t.clock.advance(60_000)
    expect(t.storedAll(41)).toBe(false) // no epoch, no partition
    t.checkpoints.down = false
    expect(await t.advanceUntil(() => t.storedAll(60) && t.running(), 60_000)).toBe(true)
    for (const tp of t.tps) expect(t.sink.stored.get(tpString(tp))).toEqual(sequence(60))
  })

  test('a fenced partition ends for good, and only it: the others go on', async () => {
    const t = tree(3)
    await t.assign()
    t.append(10)
    expect(await t.advanceUntil(() => t.storedAll(10), 10_000)).toBe(true)
    // Another actor took partition 1 with a newer epoch.
    const row = t.sink.watermarks.get(`${topic}/1`)
    if (!row) throw new Error('partition 1 has no watermark row')
    row.epoch += 100
    t.append(10)
    await t.advanceUntil(() => false, 60_000)
    expect(t.owned.get(`${topic}/1`)?.ended?.reason).toBe('FENCED')
    expect(t.restarts.get(`${topic}/1`) ?? 0).toBe(0)
    expect(t.sink.stored.get(`${topic}/0`)).toEqual(sequence(20))
    expect(t.sink.stored.get(`${topic}/2`)).toEqual(sequence(20))
    expect(t.sink.stored.get(`${topic}/1`)).toEqual(sequence(10))
  })

  test('a batch refused under its own epoch restarts the partition from the watermark, it does not end it', async () => {
    const t = tree(1)
    await t.assign()
    t.append(10)
    expect(await t.advanceUntil(() => t.storedAll(10), 10_000)).toBe(true)
    // The row moved behind the actor's back under its own epoch (e.g. a commit whose answer was lost).
    const row = t.sink.watermarks.get(`${topic}/0`)
    if (!row) throw new Error('partition 0 has no watermark row')
    row.next = 12
    t.sink.stored.get(`${topic}/0`)?.push(10, 11)
    t.append(10)
    expect(await t.advanceUntil(() => t.storedAll(20), 30_000)).toBe(true)
    expect(t.owned.get(`${topic}/0`)?.ended).toBeNull()
    expect(t.restarts.get(`${topic}/0`)).toBe(1)
    expect(t.sink.stored.get(`${topic}/0`)).toEqual(sequence(20))
  })

  test('a topic supervisor that fails is restarted after its backoff and starts every owned partition again', async () => {
    let failures = 1
    const t = tree(4)
    await t.assign()
    t.append(5)
    expect(await t.advanceUntil(() => t.storedAll(5), 10_000)).toBe(true)
    // A bug in building a partition's dependencies fails the topic supervisor (not a partition actor).
    const topicRef = t.system.lookup<{ type: 'start'; partitions: number[] }>(`/test/coordinator/${topic}`)
    await t.system.lookup(`/test/coordinator/${topic}/2`)?.stop()
    const original = t.owned.get(`${topic}/2`)
    expect(original).toBeDefined()
    t.owned.set(`${topic}/2`, {
      ...(original as OwnedPartition),
      get tp(): TopicPartition {
        if (failures-- > 0) throw new BatonError('INTERNAL', 'a bug (test)')
        return { topic, partition: 2 }
      },
    })
    topicRef?.tell({ type: 'start', partitions: [2] })
    await flush()
    expect(
      t.events.some((e) => e.type === 'actor-restarting' && e.path === `/test/coordinator/${topic}`),
    ).toBe(true)
    t.append(5)
    expect(await t.advanceUntil(() => t.storedAll(10) && t.running(), 70_000)).toBe(true)
    for (const tp of t.tps) expect(t.sink.stored.get(tpString(tp))).toEqual(sequence(10))
  })

  test('10,000 partitions assigned at once all get an actor: no mailbox on the assignment path overflows', async () => {
    const t = tree(10_000)
    await t.assign()
    await t.clock.advance(0)
    expect(t.owned.size).toBe(10_000)
    const topicNode = t.system.tree().children[0]?.children[0]
    expect(topicNode?.children).toHaveLength(10_000)
    t.append(1)
    expect(await t.advanceUntil(() => t.storedAll(1), 10_000)).toBe(true)
  })

  test('10,000 partitions revoked at once drain side by side, while the partitions that stay flow on', async () => {
    const t = tree(10_001)
    await t.assign()
    t.append(1)
    expect(await t.advanceUntil(() => t.storedAll(1), 10_000)).toBe(true)
    const stays = t.tps[10_000] as TopicPartition
    const revoked = t.tps.slice(0, 10_000)
    t.append(1) // in flight when the revoke comes: each revoked partition commits it while it drains
    const started = t.clock.now()
    await t.revoke(revoked)
    // One drain deadline (5 s) bounds the whole revoke, not one per partition.
    expect(t.clock.now() - started).toBeLessThanOrEqual(5_000)
    expect([...t.owned.keys()]).toEqual([tpString(stays)])
    const topicNode = t.system.tree().children[0]?.children[0]
    expect(topicNode?.children.map((c) => c.name)).toEqual([String(stays.partition)])
    for (const tp of revoked) expect(t.sink.stored.get(tpString(tp))).toEqual(sequence(2))
    t.append(1)
    expect(await t.advanceUntil(() => (t.sink.stored.get(tpString(stays))?.length ?? 0) === 3, 10_000)).toBe(
      true,
    )
  })
})

describe('giving up at the top', () => {
  test('the coordinator restarted after its topic supervisor gave up starts every owned partition again', async () => {
    // The first 7 dependency builds fail: the topic supervisor fails 6 times (> its intensity of 5), the
    // coordinator gives up on it and fails, and the root restarts the coordinator.
    let failures = 7
    const t = tree(2, {})
    const build = t.owned
    await t.assign()
    t.append(3)
    expect(await t.advanceUntil(() => t.storedAll(3), 10_000)).toBe(true)
    const topicRef = t.system.lookup<{ type: 'start'; partitions: number[] }>(`/test/coordinator/${topic}`)
    await t.system.lookup(`/test/coordinator/${topic}/1`)?.stop()
    const original = build.get(`${topic}/1`) as OwnedPartition
    build.set(`${topic}/1`, {
      ...original,
      get tp(): TopicPartition {
        if (failures-- > 0) throw new BatonError('INTERNAL', 'a bug (test)')
        return { topic, partition: 1 }
      },
    })
    topicRef?.tell({ type: 'start', partitions: [1] })
    t.append(3)
    expect(await t.advanceUntil(() => t.storedAll(6) && t.running(), 30 * 60_000)).toBe(true)
    expect(t.events.some((e) => e.type === 'intensity-exceeded' && e.path === '/test/coordinator')).toBe(true)
    expect(t.events.some((e) => e.type === 'actor-restarting' && e.path === '/test/coordinator')).toBe(true)
    for (const tp of t.tps) expect(t.sink.stored.get(tpString(tp))).toEqual(sequence(6))
  })

  test('when the root gives up, the system ends with the failure (the node then exits non-zero)', async () => {
    const t = tree(1, {
      partitionDeps: () => {
        throw new BatonError('INTERNAL', 'always broken (test)')
      },
    })
    // Never confirmed: the topic supervisor fails on every start.
    const assigned = t.system
      .lookup<CoordinatorMsg>('/test/coordinator')
      ?.ask<Error | null>((reply) => ({ type: 'assign', partitions: t.tps, reply }), { timeoutMs: 60_000 })
    let failure: unknown
    void t.system.whenTerminated.then((r) => {
      failure = r.failure
    })
    await t.advanceUntil(() => failure !== undefined, 4 * 60 * 60_000)
    expect(failure).toMatchObject({ code: 'SUPERVISOR_INTENSITY_EXCEEDED' })
    expect(await assigned?.catch((err) => err)).toBeInstanceOf(Error)
  })
})
