import { describe, expect, test } from 'bun:test'
import { MemoryPartition } from '../../test/support/memory-feed.ts'
import { MemoryCheckpoints, MemorySink, memoryTx } from '../../test/support/memory-sink.ts'
import { testPartitionDeps } from '../../test/support/partition-deps.ts'
import { type ActorRef, backoff } from '../core/index.ts'
import { flush } from '../core/manual-clock.ts'
import { testSystem } from '../core/testing.ts'
import { definePipeline, type Pipeline } from '../pipeline.ts'
import type { PartitionKey } from '../ports.ts'
import type { BatchLimits } from './batcher.ts'
import { type PartitionActorDeps, type PartitionMsg, partitionActor } from './partition-actor.ts'
import { PartitionStats, type PartitionStatus } from './stats.ts'

const key: PartitionKey = { group: 'g', topic: 't', partition: 0 }

/** Stores each event's offset through the memory sink's transaction. */
const offsets = definePipeline<number>({
  name: 'offsets',
  decode: (record) => record.offset,
  handle(batch, tx) {
    memoryTx(tx).stored.push(...batch.events.map((e) => e.value))
  },
}) as Pipeline

/**
 * One partition actor on a ManualClock, with a memory sink, checkpoints and feed. Its supervisor stops it
 * on FENCED and restarts it after 1 s otherwise, as the coordinator's spec does (without the jitter).
 */
function setUp(limits: Partial<BatchLimits> = {}, deps: Partial<PartitionActorDeps<unknown>> = {}) {
  const kit = testSystem({
    supervision: {
      backoff: backoff({ minMs: 1_000, maxMs: 1_000 }),
      intensity: Number.POSITIVE_INFINITY,
      decider: (error) => ((error as { code?: string }).code === 'FENCED' ? 'stop' : 'restart'),
    },
  })
  const sink = new MemorySink()
  const checkpoints = new MemoryCheckpoints()
  const partition = new MemoryPartition(key)
  const stats = new PartitionStats()
  let starts = 0
  const ref: ActorRef<PartitionMsg> = kit.system.spawn<PartitionMsg>(
    'p0',
    partitionActor(
      testPartitionDeps({
        key,
        pipeline: offsets,
        sink,
        checkpoints,
        openFeed: () => partition.feed(),
        limits: { maxEvents: 1_000, maxBytes: 1_000_000, maxWaitMs: 100, ...limits },
        retry: undefined,
        stats,
        onStarting: () => starts++,
        ...deps,
      }),
    ),
  )
  const append = (n: number, size = 2) => {
    const from = partition.records.length
    partition.append(Array.from({ length: n }, (_, i) => `${from + i}`.padStart(size, '0')))
  }
  const stored = () => sink.stored.get('t/0') ?? []
  /** The running instance's status, read as the HTTP API does: without waiting for the actor's turn. */
  const status = () => (stats.current as () => PartitionStatus)()
  return { ...kit, sink, checkpoints, partition, stats, ref, append, stored, status, starts: () => starts }
}

describe('the partition actor on a ManualClock', () => {
  test('flushes a batch when it holds maxEvents, without waiting for its timer', async () => {
    const { clock, append, stored, sink } = setUp({ maxEvents: 3 })
    await flush()
    append(7)
    await flush()
    // Two full batches, then the last event alone: nothing else was queued to join it.
    expect(stored()).toEqual([0, 1, 2, 3, 4, 5, 6])
    expect(sink.commits).toBe(3)
    expect(clock.now()).toBe(0)
  })

  test('commits at once what it holds when nothing else is queued, without waiting for its timer', async () => {
    const { clock, append, stored, sink } = setUp({ maxWaitMs: 100 })
    await flush()
    append(2)
    await flush()
    expect(stored()).toEqual([0, 1])
    expect(sink.commits).toBe(1)
    expect(clock.now()).toBe(0)
  })

  test('flushes a batch when its keys and values reach maxBytes', async () => {
    const { append, stored, sink } = setUp({ maxBytes: 10 })
    await flush()
    append(5, 4)
    await flush()
    // 4-byte values: the third reaches 12 >= 10 bytes; the last two, with nothing else queued, follow.
    expect(stored()).toEqual([0, 1, 2, 3, 4])
    expect(sink.commits).toBe(2)
  })

  test('flushes what it holds maxWaitMs after the batch opened, and not before, when other mail kept it open', async () => {
    const { clock, ref, append, stored } = setUp({ maxWaitMs: 100 })
    await flush()
    append(2)
    ref.tell({ type: 'status', reply: () => {} })
    await clock.advance(99)
    expect(stored()).toEqual([])
    await clock.advance(1)
    expect(stored()).toEqual([0, 1])
  })

  test("fetched records hold their bytes in the source's budget until they are committed", async () => {
    const { clock, ref, append, stored, partition } = setUp({ maxWaitMs: 100 })
    await flush()
    append(2)
    ref.tell({ type: 'status', reply: () => {} })
    await flush()
    // Out of the mailbox and in the batch: taken, but not committed yet.
    expect(partition.heldChunks).toBe(1)
    await clock.advance(100)
    expect(stored()).toEqual([0, 1])
    expect(partition.heldChunks).toBe(0)
  })

  test('retries an unreachable sink with backoff, shows sink-down meanwhile, and goes on where it was', async () => {
    const { clock, append, stored, sink, status } = setUp(
      { maxWaitMs: 100 },
      { retry: backoff({ minMs: 100, maxMs: 400, jitter: 0 }) },
    )
    await flush()
    sink.down = true
    append(3)
    await flush() // nothing else queued: the first try at once fails, the next comes 100 ms later
    expect(status().state).toBe('sink-down')
    await clock.advance(100 + 200 + 400) // tries 2, 3 and 4 fail: 100, 200, then 400 ms apart
    expect(stored()).toEqual([])
    sink.down = false
    await clock.advance(399)
    expect(stored()).toEqual([])
    await clock.advance(1) // try 5, 400 ms after try 4 (the cap)
    expect(stored()).toEqual([0, 1, 2])
    expect(status().state).toBe('running')
  })

  test('pause holds fetching; resume delivers what arrived meanwhile', async () => {
    const { clock, ref, append, stored, status } = setUp()
    await flush()
    ref.tell({ type: 'pause' })
    await flush()
    append(3)
    await clock.advance(1_000)
    expect(stored()).toEqual([])
    expect(status()).toMatchObject({ state: 'paused', position: 0, inFlight: 0 })
    ref.tell({ type: 'resume' })
    await clock.advance(100)
    expect(stored()).toEqual([0, 1, 2])
    expect(status()).toMatchObject({ state: 'running', position: 3, committedOffset: 3 })
  })

  test('a drain (revoke) commits what it holds at once and stops fetching', async () => {
    const { clock, ref, append, stored, checkpoints } = setUp()
    await flush()
    append(4)
    await flush()
    const drained = await ref.ask<{ watermark: number | null }>((reply) => ({ type: 'drain', reply }))
    expect(drained.watermark).toBe(4)
    expect(stored()).toEqual([0, 1, 2, 3])
    expect(clock.now()).toBe(0)
    expect((await checkpoints.read(key))?.nextOffset).toBe(4)
    append(2)
    await clock.advance(1_000)
    expect(stored()).toEqual([0, 1, 2, 3])
  })

  test('a FENCED commit stops the actor for good: nothing of the batch is stored', async () => {
    const { clock, system, append, stored, sink, stats, starts } = setUp()
    await flush()
    append(2)
    await clock.advance(100)
    expect(stored()).toEqual([0, 1])
    // Another node took the partition with a newer epoch.
    const row = sink.watermarks.get('t/0') as { epoch: number; next: number | null }
    row.epoch = 99
    append(2)
    await clock.advance(100)
    await clock.advance(10_000)
    expect(stored()).toEqual([0, 1])
    expect(stats.fencedCommits).toBe(1)
    expect(stats.lastError?.code).toBe('FENCED')
    expect(system.lookup('/test/p0')).toBeUndefined()
    expect(starts()).toBe(1)
  })

  test('a WATERMARK_MISMATCH restarts the actor, which resumes from the stored watermark', async () => {
    const { clock, append, stored, sink, status, starts } = setUp()
    await flush()
    append(2)
    await clock.advance(100)
    // A batch of this epoch committed behind the actor's back: the row is at 5, the actor thinks 2.
    const row = sink.watermarks.get('t/0') as { epoch: number; next: number | null }
    row.next = 5
    append(6)
    await clock.advance(100)
    expect(stored()).toEqual([0, 1])
    expect(starts()).toBe(1)
    await clock.advance(1_000) // the supervisor's backoff
    await clock.advance(100)
    expect(starts()).toBe(2)
    expect(stored()).toEqual([0, 1, 5, 6, 7])
    expect(status()).toMatchObject({ state: 'running', committedOffset: 8, epoch: 2 })
  })
})

/** Memory checkpoints whose writes wait, while `held`, until the test lets them through. */
class HeldCheckpoints extends MemoryCheckpoints {
  held = true
  /** The offset of every write asked for, in order. */
  readonly asked: number[] = []
  readonly #waiting: (() => void)[] = []

  override async write(k: PartitionKey, epoch: number, nextOffset: number): Promise<boolean> {
    this.asked.push(nextOffset)
    if (this.held) await new Promise<void>((resolve) => this.#waiting.push(resolve))
    return super.write(k, epoch, nextOffset)
  }

  /** Lets the waiting writes go on (and all later ones with `hold = false`). */
  letThrough(hold = true): void {
    this.held = hold
    for (const resolve of this.#waiting.splice(0)) resolve()
  }
}

/** Batches of two, with checkpoints the test holds and the actor's log collected. */
function setUpHeld() {
  const checkpoints = new HeldCheckpoints()
  const logs: string[] = []
  const kit = setUp(
    { maxEvents: 2 },
    { checkpoints, log: (level, message) => logs.push(`${level}: ${message}`) },
  )
  return { ...kit, checkpoints, logs, committed: kit.partition.committed }
}

describe('checkpoints behind the batches', () => {
  test('the next batch does not wait for a checkpoint; one is out, the newest waiting replaces older ones', async () => {
    const { checkpoints, append, stored, sink, committed } = setUpHeld()
    await flush()
    append(6)
    await flush()
    // Three batches committed while the first checkpoint still waits for its answer.
    expect(stored()).toEqual([0, 1, 2, 3, 4, 5])
    expect(sink.commits).toBe(3)
    expect(checkpoints.asked).toEqual([2])
    checkpoints.letThrough(false)
    await flush()
    // The checkpoint at 4 was replaced by the one at 6 while it waited; the source hears each written one.
    expect(checkpoints.asked).toEqual([2, 6])
    expect((await checkpoints.read(key))?.nextOffset).toBe(6)
    expect(committed).toEqual([2, 6])
  })

  test('a drain answers only once its last checkpoint is written: the next owner finds it', async () => {
    const { checkpoints, ref, append, stored } = setUpHeld()
    await flush()
    append(3)
    await flush()
    let drained: number | null | undefined
    void ref
      .ask<{ watermark: number | null }>((reply) => ({ type: 'drain', reply }))
      .then((r) => {
        drained = r.watermark
      })
    await flush()
    expect(stored()).toEqual([0, 1, 2])
    expect(drained).toBeUndefined()
    checkpoints.letThrough()
    await flush()
    // The checkpoint at 2 is written; the one at 3 (the drain's batch) is out now.
    expect(drained).toBeUndefined()
    checkpoints.letThrough(false)
    await flush()
    expect(drained).toBe(3)
    expect(await checkpoints.read(key)).toMatchObject({ nextOffset: 3 })
  })

  test('a stopping actor writes its last checkpoint before it ends', async () => {
    const { checkpoints, ref, append } = setUpHeld()
    await flush()
    append(2)
    await flush()
    let stopped = false
    void ref.stop().then(() => {
      stopped = true
    })
    await flush()
    expect(stopped).toBe(false)
    checkpoints.letThrough(false)
    await flush()
    expect(stopped).toBe(true)
    expect(await checkpoints.read(key)).toMatchObject({ nextOffset: 2 })
  })

  test('a failed or refused checkpoint is logged and the batches go on; the next one is written', async () => {
    const { checkpoints, append, stored, logs, committed } = setUpHeld()
    checkpoints.letThrough(false)
    await flush()
    checkpoints.down = true
    append(2)
    await flush()
    expect(stored()).toEqual([0, 1])
    expect(logs).toContain('warn: checkpoint not written')
    checkpoints.down = false
    // A newer epoch took the partition in the checkpoint store: refused (the sink's fence decides).
    await checkpoints.nextEpoch(key)
    append(2)
    await flush()
    expect(logs).toContain('warn: checkpoint refused by the checkpoint store')
    expect(stored()).toEqual([0, 1, 2, 3])
    // The source's offsets follow the sink's watermark whatever became of the checkpoint.
    expect(committed).toEqual([2, 4])
  })
})
