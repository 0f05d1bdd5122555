import { expect, test } from 'bun:test'
import { coalesce } from './coalesce.ts'

test('calls made in the same tick become one batched call, each caller getting its own result', async () => {
  const batches: number[][] = []
  const double = coalesce(async (keys: readonly number[]) => {
    batches.push([...keys])
    return keys.map((k) => k * 2)
  })
  const results = await Promise.all(Array.from({ length: 10_000 }, (_, i) => double(i)))
  expect(results).toEqual(Array.from({ length: 10_000 }, (_, i) => i * 2))
  // 10,000 calls, batches of at most 1000 (the default): 10 calls of `run`, not 10,000.
  expect(batches.map((b) => b.length)).toEqual(Array(10).fill(1000))
})

test('calls in a later tick make a batch of their own', async () => {
  const batches: number[][] = []
  const same = coalesce(async (keys: readonly number[]) => {
    batches.push([...keys])
    return keys
  })
  await Promise.all([same(1), same(2)])
  await same(3)
  expect(batches).toEqual([[1, 2], [3]])
})

test('an Error among the results rejects that call only; a failed batch rejects all of its calls', async () => {
  let fail = false
  const check = coalesce(async (keys: readonly number[]) => {
    if (fail) throw new Error('down')
    return keys.map((k) => (k < 0 ? new Error(`negative ${k}`) : k))
  })
  const [ok, bad] = await Promise.allSettled([check(1), check(-1)])
  expect(ok).toEqual({ status: 'fulfilled', value: 1 })
  expect(bad).toMatchObject({ status: 'rejected', reason: { message: 'negative -1' } })
  fail = true
  const all = await Promise.allSettled([check(1), check(2)])
  expect(all.map((r) => r.status)).toEqual(['rejected', 'rejected'])
})

test('a key already waiting goes to another batch, so that a batch holds each key once', async () => {
  const batches: string[][] = []
  const claim = coalesce(
    async (keys: readonly string[]) => {
      batches.push([...keys])
      return keys
    },
    { identity: (k) => k, maxBatch: 3 },
  )
  await Promise.all(['a', 'b', 'a', 'c', 'd'].map(claim))
  expect(batches).toEqual([
    ['a', 'b', 'c'],
    ['a', 'd'],
  ])
})

test('a batch that answers the wrong number of results fails its calls with INTERNAL', async () => {
  const broken = coalesce(async () => [1])
  const results = await Promise.allSettled([broken(1), broken(2)])
  expect(results.map((r) => r.status === 'rejected' && (r.reason as { code: string }).code)).toEqual([
    'INTERNAL',
    'INTERNAL',
  ])
})
