import { describe, expect, test } from 'bun:test'
import { type BatonError, isBatonError } from './errors.ts'
import { exhaustive } from './exhaustive.ts'
import { flush } from './manual-clock.ts'
import { testSystem } from './testing.ts'
import type { ActorRef, Behavior, StopReason, Termination } from './types.ts'

type CounterMsg = { type: 'add'; n: number } | { type: 'get'; reply: (total: number) => void }

function counter(): Behavior<CounterMsg> {
  let total = 0
  return {
    receive(msg) {
      switch (msg.type) {
        case 'add':
          total += msg.n
          return
        case 'get':
          msg.reply(total)
          return
        default:
          return exhaustive(msg)
      }
    },
  }
}

/** Records what it receives; `fail` throws, `slow` holds the actor until `release` is called. */
function recorder(log: unknown[], gate?: { release?: () => void }): Behavior<string> {
  return {
    receive(msg) {
      if (msg === 'fail') throw new Error('asked to fail')
      if (msg === 'slow' && gate) {
        return new Promise<void>((resolve) => {
          gate.release = () => {
            log.push(msg)
            resolve()
          }
        })
      }
      log.push(msg)
    },
  }
}

async function rejection(promise: Promise<unknown>): Promise<BatonError> {
  try {
    await promise
  } catch (error) {
    return error as BatonError
  }
  throw new Error('expected a rejection')
}

function thrown(fn: () => unknown): BatonError {
  try {
    fn()
  } catch (error) {
    return error as BatonError
  }
  throw new Error('expected a throw')
}

describe('tell', () => {
  test('messages are handled one at a time, in the order told', async () => {
    const { system } = testSystem()
    const log: unknown[] = []
    const ref = system.spawn('r', () => recorder(log))
    for (let i = 0; i < 100; i++) ref.tell(`m${i}`)
    expect(log).toEqual([]) // told, not yet handled: handling happens on a microtask
    await flush()
    expect(log).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`))
  })

  test('an async handler holds the actor until it settles', async () => {
    const { system } = testSystem()
    const log: unknown[] = []
    const gate: { release?: () => void } = {}
    const ref = system.spawn('r', () => recorder(log, gate))
    ref.tell('slow')
    ref.tell('after')
    await flush()
    expect(log).toEqual([])
    expect(ref.mailboxDepth).toBe(1)
    gate.release?.()
    await flush()
    expect(log).toEqual(['slow', 'after'])
    expect(ref.snapshot().processed).toBe(2)
  })

  test('throws MAILBOX_FULL at once when the mailbox is full, and the mailbox never grows past capacity', async () => {
    const { system } = testSystem()
    const log: unknown[] = []
    const ref = system.spawn('r', () => recorder(log), { mailboxCapacity: 3 })
    for (let i = 0; i < 3; i++) ref.tell(`m${i}`)
    const error = thrown(() => ref.tell('m3'))
    expect(isBatonError(error, 'MAILBOX_FULL')).toBe(true)
    expect(error.message).toContain('/test/r')
    expect(ref.mailboxDepth).toBe(3)
    await flush()
    ref.tell('m3')
    await flush()
    expect(log).toEqual(['m0', 'm1', 'm2', 'm3'])
  })

  test('throws ACTOR_STOPPED once a stop was requested', async () => {
    const { system } = testSystem()
    const ref = system.spawn('r', () => recorder([]))
    const stopping = ref.stop()
    expect(
      isBatonError(
        thrown(() => ref.tell('x')),
        'ACTOR_STOPPED',
      ),
    ).toBe(true)
    await stopping
    expect(
      isBatonError(
        thrown(() => ref.tell('x')),
        'ACTOR_STOPPED',
      ),
    ).toBe(true)
  })

  test('a handler that returns a value other than a promise is treated as synchronous', async () => {
    const { system } = testSystem()
    const seen: number[] = []
    // the type forbids it, but a JavaScript caller or a cast can still return a number
    const ref = system.spawn<number>('r', () => ({ receive: (m) => seen.push(m) as unknown as undefined }))
    ref.tell(1)
    ref.tell(2)
    await flush()
    expect(seen).toEqual([1, 2])
  })
})

describe('send', () => {
  test('waits for room instead of failing, and keeps the order', async () => {
    const { system } = testSystem()
    const log: unknown[] = []
    const gate: { release?: () => void } = {}
    const ref = system.spawn('r', () => recorder(log, gate), { mailboxCapacity: 2 })
    ref.tell('slow')
    await flush() // 'slow' is being handled, the mailbox is empty
    await ref.send('a')
    await ref.send('b')
    let cSent = false
    const c = ref.send('c').then(() => {
      cSent = true
    })
    await flush()
    expect(cSent).toBe(false)
    expect(
      isBatonError(
        thrown(() => ref.tell('d')),
        'MAILBOX_FULL',
      ),
    ).toBe(true) // c waits: d must not overtake it
    gate.release?.()
    await c
    await flush()
    expect(log).toEqual(['slow', 'a', 'b', 'c'])
  })

  test('a waiting send rejects ACTOR_STOPPED when the actor stops', async () => {
    const { system } = testSystem()
    const gate: { release?: () => void } = {}
    const ref = system.spawn('r', () => recorder([], gate), { mailboxCapacity: 1 })
    ref.tell('slow')
    await flush()
    ref.tell('queued')
    const waiting = rejection(ref.send('waiting'))
    const stopping = ref.stop()
    expect(isBatonError(await waiting, 'ACTOR_STOPPED')).toBe(true)
    gate.release?.()
    await stopping
    expect(isBatonError(await rejection(ref.send('late')), 'ACTOR_STOPPED')).toBe(true)
  })

  test('rejects MAILBOX_FULL when as many senders as the capacity already wait', async () => {
    const { system } = testSystem()
    const ref = system.spawn('r', () => recorder([], {}), { mailboxCapacity: 1 })
    ref.tell('slow')
    await flush()
    ref.tell('queued')
    void ref.send('w1')
    expect(isBatonError(await rejection(ref.send('w2')), 'MAILBOX_FULL')).toBe(true)
  })
})

describe('ask', () => {
  test('resolves with the reply', async () => {
    const { system } = testSystem()
    const ref = system.spawn('counter', counter)
    ref.tell({ type: 'add', n: 2 })
    ref.tell({ type: 'add', n: 3 })
    expect(await ref.ask<number>((reply) => ({ type: 'get', reply }))).toBe(5)
  })

  test('rejects ASK_TIMEOUT when no reply comes in time, and ignores a late reply', async () => {
    const { system, clock } = testSystem()
    let kept: ((n: number) => void) | undefined
    const ref = system.spawn<{ reply: (n: number) => void }>('silent', () => ({
      receive(msg) {
        kept = msg.reply
      },
    }))
    const asked = rejection(ref.ask<number>((reply) => ({ reply }), { timeoutMs: 1000 }))
    await clock.advance(999)
    expect(kept).toBeDefined()
    await clock.advance(1)
    const error = await asked
    expect(isBatonError(error, 'ASK_TIMEOUT')).toBe(true)
    expect(error.message).toContain('1000 ms')
    kept?.(1) // ignored
    expect(clock.pendingTimers).toBe(0)
  })

  test('rejects ASK_ABORTED when its signal aborts, with the reason as cause', async () => {
    const { system, clock } = testSystem()
    const ref = system.spawn<{ reply: (n: number) => void }>('silent', () => ({ receive() {} }))
    const controller = new AbortController()
    const asked = rejection(ref.ask<number>((reply) => ({ reply }), { signal: controller.signal }))
    controller.abort('client went away')
    const error = await asked
    expect(isBatonError(error, 'ASK_ABORTED')).toBe(true)
    expect(error.cause).toBe('client went away')
    expect(clock.pendingTimers).toBe(0)
    const already = await rejection(ref.ask<number>((reply) => ({ reply }), { signal: controller.signal }))
    expect(isBatonError(already, 'ASK_ABORTED')).toBe(true)
  })

  test('waits for mailbox room within its timeout, and leaves the line when it times out', async () => {
    const { system, clock } = testSystem()
    const gate: { release?: () => void } = {}
    const log: unknown[] = []
    const ref = system.spawn<string | { reply: (n: number) => void }>(
      'r',
      () => ({
        receive(msg) {
          if (typeof msg !== 'string') return msg.reply(42)
          return recorder(log, gate).receive(msg, undefined as never)
        },
      }),
      { mailboxCapacity: 1 },
    )
    ref.tell('slow')
    await flush()
    ref.tell('queued')
    const timedOut = rejection(ref.ask<number>((reply) => ({ reply }), { timeoutMs: 100 }))
    await clock.advance(100)
    expect(isBatonError(await timedOut, 'ASK_TIMEOUT')).toBe(true)
    const answered = ref.ask<number>((reply) => ({ reply }), { timeoutMs: 100 })
    gate.release?.()
    expect(await answered).toBe(42)
    expect(log).toEqual(['slow', 'queued'])
  })

  test('rejects ACTOR_STOPPED when the actor ends before replying, or has ended', async () => {
    const { system } = testSystem()
    const ref = system.spawn<{ reply: (n: number) => void }>('silent', () => ({ receive() {} }))
    const asked = rejection(ref.ask<number>((reply) => ({ reply })))
    await ref.stop()
    expect(isBatonError(await asked, 'ACTOR_STOPPED')).toBe(true)
    expect(isBatonError(await rejection(ref.ask<number>((reply) => ({ reply }))), 'ACTOR_STOPPED')).toBe(true)
  })
})

describe('lifecycle', () => {
  test('hooks run in order: onStart, messages, then onStop with the reason', async () => {
    const { system } = testSystem()
    const log: string[] = []
    const ref = system.spawn<string>('r', () => ({
      onStart: () => {
        log.push('start')
      },
      receive: (msg) => {
        log.push(msg)
      },
      onStop: (_ctx, reason) => {
        log.push(`stop:${reason.kind}`)
      },
    }))
    ref.tell('a')
    await ref.stop()
    expect(log).toEqual(['start', 'a', 'stop:stopped'])
    expect(ref.snapshot().status).toBe('stopped')
  })

  test('an async onStart holds messages until it completes', async () => {
    const { system } = testSystem()
    const log: string[] = []
    let finishStart: () => void = () => {}
    const ref = system.spawn<string>('r', () => ({
      onStart: () =>
        new Promise<void>((resolve) => {
          finishStart = resolve
        }),
      receive: (msg) => {
        log.push(msg)
      },
    }))
    ref.tell('a')
    await flush()
    expect(log).toEqual([])
    expect(ref.snapshot().status).toBe('starting')
    finishStart()
    await flush()
    expect(log).toEqual(['a'])
  })

  test('a restart gives a fresh instance: onStop(restart), then onRestart(error), then onStart; mail survives', async () => {
    const { system } = testSystem()
    const log: string[] = []
    const ref = system.spawn<string>('r', () => {
      let seen = 0
      return {
        onStart: () => {
          log.push('start')
        },
        onRestart: (error) => {
          log.push(`restart:${(error as Error).message}`)
        },
        onStop: (_ctx, reason: StopReason) => {
          log.push(`stop:${reason.kind}:${reason.kind === 'restart' ? (reason.error as Error).message : ''}`)
        },
        receive: (msg) => {
          if (msg === 'fail') throw new Error('boom')
          seen++
          log.push(`${msg}#${seen}`)
        },
      }
    })
    ref.tell('a')
    ref.tell('fail')
    ref.tell('b')
    await flush()
    expect(log).toEqual(['start', 'a#1', 'stop:restart:boom', 'restart:boom', 'start', 'b#1'])
    const snapshot = ref.snapshot()
    expect(snapshot).toMatchObject({ status: 'running', processed: 2, failures: 1, restarts: 1 })
    expect(snapshot.lastError).toEqual({ message: 'boom', at: new Date(0).toISOString() })
  })

  test('ctx.signal is aborted when the instance ends', async () => {
    const { system } = testSystem()
    const signals: AbortSignal[] = []
    const ref = system.spawn<string>('r', () => ({
      receive(msg, ctx) {
        signals.push(ctx.signal)
        if (msg === 'fail') throw new Error('boom')
      },
    }))
    ref.tell('fail')
    ref.tell('ok')
    await flush()
    expect(signals.map((s) => s.aborted)).toEqual([true, false])
    await ref.stop()
    expect(signals[1]?.aborted).toBe(true)
  })

  test('a stop first handles every message already accepted', async () => {
    const { system } = testSystem()
    const log: unknown[] = []
    const ref = system.spawn('r', () => recorder(log))
    for (let i = 0; i < 5; i++) ref.tell(`m${i}`)
    await ref.stop()
    expect(log).toEqual(['m0', 'm1', 'm2', 'm3', 'm4'])
  })
})

describe('timers', () => {
  type TickMsg = { type: 'start'; ms: number } | { type: 'tick' } | { type: 'cancel' } | { type: 'fail' }

  function ticker(log: number[], clockNow: () => number): Behavior<TickMsg> {
    let timer: { cancel(): void } | undefined
    return {
      receive(msg, ctx) {
        switch (msg.type) {
          case 'start':
            timer = ctx.scheduleOnce(msg.ms, { type: 'tick' })
            return
          case 'tick':
            log.push(clockNow())
            return
          case 'cancel':
            timer?.cancel()
            return
          case 'fail':
            throw new Error('boom')
          default:
            return exhaustive(msg)
        }
      },
    }
  }

  test('scheduleOnce delivers its message after the delay, as the clock advances', async () => {
    const { system, clock } = testSystem()
    const log: number[] = []
    const ref = system.spawn('t', () => ticker(log, () => clock.now()))
    ref.tell({ type: 'start', ms: 250 })
    await clock.advance(249)
    expect(log).toEqual([])
    await clock.advance(1)
    expect(log).toEqual([250])
  })

  test('a cancelled timer does not deliver', async () => {
    const { system, clock } = testSystem()
    const log: number[] = []
    const ref = system.spawn('t', () => ticker(log, () => clock.now()))
    ref.tell({ type: 'start', ms: 100 })
    ref.tell({ type: 'cancel' })
    await clock.advance(1000)
    expect(log).toEqual([])
    expect(clock.pendingTimers).toBe(0)
  })

  test('timers are cancelled by a restart and by a stop', async () => {
    const { system, clock } = testSystem()
    const log: number[] = []
    const ref = system.spawn('t', () => ticker(log, () => clock.now()))
    ref.tell({ type: 'start', ms: 100 })
    ref.tell({ type: 'fail' })
    await clock.advance(1000)
    expect(log).toEqual([])
    ref.tell({ type: 'start', ms: 100 })
    await flush()
    await ref.stop()
    expect(clock.pendingTimers).toBe(0)
  })
})

describe('watch', () => {
  type WatcherMsg = { type: 'watch'; target: ActorRef<string> } | { type: 'ended'; termination: Termination }

  test('a watcher receives a message of its own protocol when the watched actor ends', async () => {
    const { system } = testSystem()
    const ended: Termination[] = []
    const watched = system.spawn('watched', () => recorder([]))
    const watcher = system.spawn<WatcherMsg>('watcher', () => ({
      receive(msg, ctx) {
        if (msg.type === 'watch') {
          ctx.watch(msg.target, (termination) => ({ type: 'ended', termination }))
        } else {
          ended.push(msg.termination)
        }
      },
    }))
    watcher.tell({ type: 'watch', target: watched })
    await flush()
    watched.tell('a')
    await watched.stop()
    await flush()
    expect(ended).toEqual([{ path: '/test/watched', name: 'watched', reason: 'stopped', dropped: 0 }])
    // watching an actor that has ended already delivers at once
    watcher.tell({ type: 'watch', target: watched })
    await flush()
    expect(ended).toHaveLength(2)
  })

  test('watches end with the watcher instance: a restarted watcher is not notified', async () => {
    const { system } = testSystem()
    const ended: string[] = []
    const watched = system.spawn('watched', () => recorder([]))
    const watcher = system.spawn<'watch' | 'fail' | 'ended'>('watcher', () => ({
      receive(msg, ctx) {
        if (msg === 'watch') ctx.watch(watched, () => 'ended')
        else if (msg === 'fail') throw new Error('boom')
        else ended.push(msg)
      },
    }))
    watcher.tell('watch')
    watcher.tell('fail')
    await flush()
    await watched.stop()
    await flush()
    expect(ended).toEqual([])
  })
})

describe('an ask whose message fails its handler', () => {
  type Msg =
    | { type: 'boom'; sync: boolean; reply: (v: number) => void }
    | { type: 'ok'; reply: (v: number) => void }
  const failing = (): Behavior<Msg> => ({
    receive(msg) {
      if (msg.type === 'ok') return msg.reply(1)
      if (msg.sync) throw new Error('sync handler failed')
      return Promise.reject(new Error('async handler failed'))
    },
  })

  test('is rejected with that error at once, not after its timeout; the restarted actor answers again', async () => {
    const { system } = testSystem()
    const ref = system.spawn<Msg>('failing', failing)
    for (const sync of [true, false]) {
      const asked = ref.ask<number>((reply) => ({ type: 'boom', sync, reply }), {
        timeoutMs: Number.POSITIVE_INFINITY,
      })
      const rejected = expect(asked).rejects.toThrow(sync ? 'sync handler failed' : 'async handler failed')
      await flush()
      await rejected
    }
    await flush()
    expect(await ref.ask<number>((reply) => ({ type: 'ok', reply }))).toBe(1)
    await system.shutdown(1_000)
  })
})
