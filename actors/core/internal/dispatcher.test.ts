import { expect, test } from 'bun:test'
import { testSystem } from '../testing.ts'
import type { ActorRef } from '../types.ts'
import { Dispatcher, type Runnable } from './dispatcher.ts'

test('actors take turns: each handles at most `throughput` messages before the next one runs', async () => {
  const dispatcher = new Dispatcher(2, 1_000)
  const log: string[] = []
  const actor = (name: string, mail: number): Runnable => {
    let left = mail
    const self: Runnable = {
      run(budget) {
        const n = Math.min(budget, left)
        left -= n
        log.push(`${name}${n}`)
        if (left > 0) dispatcher.schedule(self)
        return n
      },
    }
    return self
  }
  dispatcher.schedule(actor('a', 5))
  dispatcher.schedule(actor('b', 3))
  await Promise.resolve()
  expect(log).toEqual(['a2', 'b2', 'a2', 'b1', 'a1'])
})

test('two actors playing ping-pong forever do not starve timers and I/O', async () => {
  const { system } = testSystem()
  type Ball = { type: 'ball'; peer: ActorRef<Ball> }
  let hits = 0
  const player = () => ({
    receive(msg: Ball, ctx: { self: ActorRef<Ball> }) {
      hits++
      msg.peer.tell({ type: 'ball', peer: ctx.self })
    },
  })
  const ping = system.spawn<Ball>('ping', player)
  const pong = system.spawn<Ball>('pong', player)
  ping.tell({ type: 'ball', peer: pong })
  // a macrotask gets its turn although the actors never run out of mail
  await new Promise<void>((resolve) => setImmediate(resolve))
  expect(hits).toBeGreaterThan(0)
  const before = hits
  await new Promise<void>((resolve) => setImmediate(resolve))
  expect(hits).toBeGreaterThan(before)
  const stopped = system.shutdown(1000)
  await stopped
})
