import { describe, expect, test } from 'bun:test'
import { MemorySink, memoryTx } from '../../test/support/memory-sink.ts'
import { BatonError, isBatonError } from '../core/errors.ts'
import { ManualClock } from '../core/manual-clock.ts'
import { definePipeline, type Pipeline, PoisonEventError } from '../pipeline.ts'
import { NO_HEADERS, type PartitionKey, type SourceRecord } from '../ports.ts'
import type { BatchItem } from './batcher.ts'
import { type CommitContext, type Committed, commitItems } from './commit-items.ts'

const key: PartitionKey = { group: 'g', topic: 't', partition: 0 }

const record = (offset: number): SourceRecord => ({
  topic: key.topic,
  partition: key.partition,
  offset,
  key: null,
  value: Buffer.from(`e${offset}`),
  headers: NO_HEADERS,
  timestamp: 1_000 + offset,
})

const items = (from: number, to: number): BatchItem<number>[] =>
  Array.from({ length: to - from }, (_, i) => ({ record: record(from + i), ok: true, value: from + i }))

/** Stores each event's offset; refuses any batch holding an offset `refuse` returns an error for. */
function pipeline(refuse: (offset: number) => Error | null = () => null): Pipeline<number> {
  return definePipeline<number>({
    name: 'offsets',
    handle(batch, tx) {
      for (const { value } of batch.events) {
        const error = refuse(value)
        if (error) throw error
      }
      memoryTx(tx).stored.push(...batch.events.map((e) => e.value))
    },
  }) as Pipeline<number>
}

/** A claimed memory sink and a commit context over it that records what it was told. */
async function setUp(p: Pipeline<number>, maxRetries = 2) {
  const sink = new MemorySink()
  const clock = new ManualClock(10_000)
  await sink.claim(key, 1)
  const committed: Committed[] = []
  const retries: number[] = []
  let reloads = 0
  const ctx: CommitContext<number> = {
    key,
    epoch: 1,
    sink,
    pipeline: p,
    maxRetries,
    clock,
    retryDelay: async (attempt) => {
      retries.push(attempt)
    },
    onCommitted: (c) => committed.push(c),
    state: () => undefined,
    afterFailure: async () => {
      reloads++
    },
  }
  const stored = () => sink.stored.get('t/0') ?? []
  return { sink, ctx, committed, retries, stored, reloads: () => reloads }
}

describe('commitItems', () => {
  test('a batch the pipeline takes commits in one transaction and moves the watermark past it', async () => {
    const { sink, ctx, committed, stored } = await setUp(pipeline())
    expect(await commitItems(ctx, null, items(0, 5))).toBe(5)
    expect(sink.commits).toBe(1)
    expect(stored()).toEqual([0, 1, 2, 3, 4])
    expect(committed.map((c) => [c.fromOffset, c.toOffset, c.events])).toEqual([[null, 5, 5]])
    expect([committed[0]?.firstEventTime, committed[0]?.lastEventTime]).toEqual([1_000, 1_004])
  })

  test('a refused batch is split down to the failing event, which is retried, then dead-lettered; the rest is stored in order', async () => {
    const refusal = Object.assign(new Error('duplicate key'), { code: '23505' })
    const { sink, ctx, committed, retries, stored, reloads } = await setUp(
      pipeline((offset) => (offset === 5 ? refusal : null)),
      2,
    )
    expect(await commitItems(ctx, null, items(0, 8))).toBe(8)
    expect(stored()).toEqual([0, 1, 2, 3, 4, 6, 7])
    expect(sink.deadLetters).toEqual([
      { record: record(5), error: 'duplicate key', code: '23505', attempts: 3 },
    ])
    expect(retries).toEqual([1, 2])
    // Every commit moved the watermark on from where the one before left it.
    const moves = committed.map((c) => [c.fromOffset, c.toOffset])
    expect(moves.at(-1)?.[1]).toBe(8)
    for (let i = 1; i < moves.length; i++) expect(moves[i]?.[0]).toBe(moves[i - 1]?.[1] as number)
    // The pipeline's state is rebuilt after each refused transaction, before anything is retried.
    expect(reloads()).toBeGreaterThanOrEqual(1 + 2)
  })

  test('an event that succeeds on a retry is stored, not dead-lettered', async () => {
    let failures = 1
    const { sink, ctx, retries, stored } = await setUp(
      pipeline((offset) => (offset === 0 && failures-- > 0 ? new Error('flaky') : null)),
    )
    expect(await commitItems(ctx, null, items(0, 1))).toBe(1)
    expect(stored()).toEqual([0])
    expect(sink.deadLetters).toEqual([])
    expect(retries).toEqual([1])
  })

  test('a poison event is dead-lettered at once, without retries', async () => {
    const { sink, ctx, retries, stored } = await setUp(
      pipeline((offset) => (offset === 1 ? new PoisonEventError('not an order') : null)),
    )
    expect(await commitItems(ctx, null, items(0, 3))).toBe(3)
    expect(stored()).toEqual([0, 2])
    expect(sink.deadLetters.map((l) => [l.record.offset, l.code, l.attempts])).toEqual([
      [1, 'POISON_EVENT', 1],
    ])
    expect(retries).toEqual([])
  })

  test('a record that could not be decoded is dead-lettered in the transaction of its batch', async () => {
    const { sink, ctx, stored } = await setUp(pipeline())
    const batch: BatchItem<number>[] = [
      ...items(0, 2),
      { record: record(2), ok: false, error: new Error('bad') },
    ]
    expect(await commitItems(ctx, null, batch)).toBe(3)
    expect(sink.commits).toBe(1)
    expect(stored()).toEqual([0, 1])
    expect(sink.deadLetters.map((l) => [l.record.offset, l.code])).toEqual([[2, 'HANDLE_FAILED']])
  })

  test('an unreachable sink, a fenced commit and a moved watermark are thrown as they are: nothing is dead-lettered', async () => {
    const { sink, ctx, retries } = await setUp(pipeline())
    sink.down = true
    const down = await commitItems(ctx, null, items(0, 4)).catch((e: unknown) => e)
    expect(isBatonError(down, 'SINK_UNAVAILABLE')).toBe(true)
    sink.down = false
    sink.beforeCommit = () => {
      throw new BatonError('FENCED', 'owned by epoch 2 (test)')
    }
    const fenced = await commitItems(ctx, null, items(0, 4)).catch((e: unknown) => e)
    expect(isBatonError(fenced, 'FENCED')).toBe(true)
    sink.beforeCommit = null
    const stale = await commitItems(ctx, 3, items(0, 4)).catch((e: unknown) => e)
    expect(isBatonError(stale, 'WATERMARK_MISMATCH')).toBe(true)
    expect([sink.commits, sink.deadLetters.length, retries.length]).toEqual([0, 0, 0])
  })

  test('handle and commit times are read on the context clock', async () => {
    const clock = new ManualClock(0)
    const { ctx, committed } = await setUp(
      definePipeline<number>({
        name: 'slow',
        async handle() {
          await clock.advance(30)
        },
      }) as Pipeline<number>,
    )
    await commitItems({ ...ctx, clock }, null, items(0, 1))
    expect([committed[0]?.handleMs, committed[0]?.commitMs]).toEqual([30, 0])
  })
})
