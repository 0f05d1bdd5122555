import { expect, test } from 'bun:test'
import { attempt } from './attempts.ts'
import { backoff } from './backoff.ts'
import { flush, ManualClock } from './manual-clock.ts'

const policy = { attempts: 5, backoff: backoff({ minMs: 1_000, maxMs: 8_000, jitter: 0 }) }

test('retries after 1, 2, 4 and 8 s, then gives up with the last error', async () => {
  const clock = new ManualClock()
  const tries: number[] = []
  const heard: [number, number | null][] = []
  const outcome = attempt(
    () => {
      tries.push(clock.now())
      throw new Error(`try ${tries.length}`)
    },
    policy,
    { clock, onFailure: (_, n, retryInMs) => heard.push([n, retryInMs]) },
  )
  await flush()
  await clock.advance(15_000)
  expect(await outcome).toMatchObject({
    ok: false,
    attempts: 5,
    abandoned: false,
    error: { message: 'try 5' },
  })
  expect(tries).toEqual([0, 1_000, 3_000, 7_000, 15_000])
  expect(heard).toEqual([
    [1, 1_000],
    [2, 2_000],
    [3, 4_000],
    [4, 8_000],
    [5, null],
  ])
})

test('a try that succeeds ends it', async () => {
  const clock = new ManualClock()
  let tries = 0
  const outcome = attempt(
    async () => {
      if (++tries < 3) throw new Error('not yet')
    },
    policy,
    { clock },
  )
  await flush()
  await clock.advance(3_000)
  expect(await outcome).toEqual({ ok: true })
  expect(tries).toBe(3)
})

test('abandoned before a retry: no more tries', async () => {
  const clock = new ManualClock()
  let tries = 0
  let leaving = false
  const outcome = attempt(
    () => {
      tries++
      throw new Error('down')
    },
    policy,
    { clock, abandoned: () => leaving },
  )
  await flush()
  leaving = true
  await clock.advance(1_000)
  expect(await outcome).toMatchObject({ ok: false, attempts: 1, abandoned: true })
  expect(tries).toBe(1)
})
