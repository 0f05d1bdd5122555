import { describe, expect, test } from 'bun:test'
import { MemoryPartition } from '../../test/support/memory-feed.ts'
import { MemoryCheckpoints, MemorySink, memoryTx } from '../../test/support/memory-sink.ts'
import { testPartitionDeps } from '../../test/support/partition-deps.ts'
import { flush } from '../core/manual-clock.ts'
import { testSystem } from '../core/testing.ts'
import { definePipeline, type Pipeline } from '../pipeline.ts'
import type { PartitionKey } from '../ports.ts'
import { type PartitionMsg, partitionActor } from './partition-actor.ts'

const key: PartitionKey = { group: 'g', topic: 't', partition: 0 }

const offsets = definePipeline<number>({
  name: 'offsets',
  decode: (record) => record.offset,
  handle(batch, tx) {
    memoryTx(tx).stored.push(...batch.events.map((e) => e.value))
  },
}) as Pipeline

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

/** A partition actor on a ManualClock committing batches of two, with checkpoints the test holds. */
function setUp() {
  const { system } = testSystem()
  const sink = new MemorySink()
  const checkpoints = new HeldCheckpoints()
  const partition = new MemoryPartition(key)
  const committed: number[] = []
  const logs: string[] = []
  const ref = system.spawn<PartitionMsg>(
    'p0',
    partitionActor(
      testPartitionDeps({
        key,
        pipeline: offsets,
        sink,
        checkpoints,
        openFeed: () => ({
          ...partition.feed(),
          commit: async (nextOffset: number) => {
            committed.push(nextOffset)
          },
        }),
        limits: { maxEvents: 2, maxBytes: 1_000_000, maxWaitMs: 100 },
        log: (level, message) => logs.push(`${level}: ${message}`),
      }),
    ),
  )
  const append = (n: number) => {
    const from = partition.records.length
    partition.append(Array.from({ length: n }, (_, i) => String(from + i)))
  }
  const stored = () => sink.stored.get('t/0') ?? []
  return { system, sink, checkpoints, ref, append, stored, committed, logs }
}

describe('checkpoints behind the batches', () => {
  test('the next batch does not wait for a checkpoint; one is out, the newest waiting replaces older ones', async () => {
    const { checkpoints, append, stored, sink, committed } = setUp()
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
    const { checkpoints, ref, append, stored } = setUp()
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
    const { checkpoints, ref, append } = setUp()
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
    const { checkpoints, append, stored, logs, committed } = setUp()
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
