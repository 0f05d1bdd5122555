import { describe, expect, test } from 'bun:test'
import { ActorSystem } from './actor-system.ts'
import { type BatonError, isBatonError } from './errors.ts'
import { eventToJson } from './events.ts'
import { flush } from './manual-clock.ts'
import { testSystem } from './testing.ts'
import type { ActorContext, Behavior } from './types.ts'

function idle<M>(): Behavior<M> {
  return { receive() {} }
}

/** Spawns `children` (names) under itself on start. */
function branch(children: string[], log: string[] = [], name = ''): () => Behavior<never> {
  return () => ({
    onStart(ctx: ActorContext<never>) {
      for (const child of children) ctx.spawn(child, idle)
    },
    receive() {},
    onStop: () => {
      log.push(name)
    },
  })
}

function thrown(fn: () => unknown): BatonError {
  try {
    fn()
  } catch (error) {
    return error as BatonError
  }
  throw new Error('expected a throw')
}

describe('paths and lookup', () => {
  test('actors live at /<system>/<parent>/<name> and are found by path while alive', async () => {
    const { system } = testSystem({ name: 'node' })
    const coordinator = system.spawn<never>('coordinator', () => ({
      onStart(ctx) {
        ctx.spawn('orders', branch(['3']))
      },
      receive() {},
    }))
    expect(coordinator.path).toBe('/node/coordinator')
    const partition = system.lookup('/node/coordinator/orders/3')
    expect(partition?.path).toBe('/node/coordinator/orders/3')
    expect(system.lookup('/node/coordinator/orders/4')).toBeUndefined()
    expect(system.lookup('/node')).toBeUndefined() // the root guardian is not an actor of yours
    await partition?.stop()
    expect(system.lookup('/node/coordinator/orders/3')).toBeUndefined()
  })

  test('a taken or malformed name is refused with a typed error', () => {
    const { system } = testSystem()
    system.spawn('a', idle)
    expect(
      isBatonError(
        thrown(() => system.spawn('a', idle)),
        'ACTOR_NAME_TAKEN',
      ),
    ).toBe(true)
    for (const bad of ['', 'a/b', '..', '.hidden', 'x'.repeat(201), 'sp ace']) {
      expect(
        isBatonError(
          thrown(() => system.spawn(bad, idle)),
          'ACTOR_NAME_INVALID',
        ),
      ).toBe(true)
    }
    expect(
      isBatonError(
        thrown(() => new ActorSystem({ name: 'a/b' })),
        'ACTOR_NAME_INVALID',
      ),
    ).toBe(true)
  })

  test('bad spawn options are refused with ACTOR_OPTIONS_INVALID naming the field', () => {
    const { system } = testSystem()
    const cases = [
      { mailboxCapacity: 0 },
      { shutdownMs: -1 },
      { restart: 'sometimes' as never },
      { supervision: { intensity: -1 } },
      { supervision: { strategy: 'all-for-none' as never } },
    ]
    for (const options of cases) {
      const error = thrown(() => system.spawn('x', idle, options))
      expect(isBatonError(error, 'ACTOR_OPTIONS_INVALID')).toBe(true)
      expect(error.message).toContain(Object.keys(options)[0] as string)
    }
  })
})

describe('tree', () => {
  test('is a JSON-ready snapshot of every live actor, children in start order', async () => {
    const { system } = testSystem({ name: 'node' })
    system.spawn('coordinator', branch(['orders', 'payments']))
    const ref = system.lookup<string>('/node/coordinator/orders')
    await flush()
    const tree = JSON.parse(JSON.stringify(system.tree()))
    expect(tree.path).toBe('/node')
    const coordinator = tree.children[0]
    expect(coordinator).toMatchObject({ path: '/node/coordinator', name: 'coordinator', status: 'running' })
    expect(coordinator.children.map((c: { name: string }) => c.name)).toEqual(['orders', 'payments'])
    expect(coordinator.children[0]).toEqual({
      path: '/node/coordinator/orders',
      name: 'orders',
      status: 'running',
      mailboxDepth: 0,
      mailboxCapacity: 1000,
      processed: 0,
      failures: 0,
      restarts: 0,
      children: [],
    })
    expect(ref?.snapshot().path).toBe('/node/coordinator/orders')
  })
})

describe('shutdown', () => {
  test('stops top-level actors in reverse start order, each after its children', async () => {
    const { system, clock } = testSystem()
    const log: string[] = []
    system.spawn('first', branch([], log, 'first'))
    system.spawn('second', branch([], log, 'second'))
    system.spawn('third', branch([], log, 'third'))
    await flush()
    expect(await system.shutdown(1000)).toEqual({ notStopped: [] })
    expect(log).toEqual(['third', 'second', 'first'])
    expect(system.tree().children).toEqual([])
    expect(clock.pendingTimers).toBe(0)
    expect(await system.whenTerminated).toEqual({ notStopped: [] })
  })

  test('reports the actors that did not stop by the deadline, and leaves no timer behind', async () => {
    const { system, clock } = testSystem()
    const hang = (): Behavior<'tick'> => ({
      onStart: (ctx) => {
        ctx.scheduleOnce(60_000, 'tick')
      },
      receive() {},
      onStop: () => new Promise<void>(() => {}),
    })
    system.spawn<never>('coordinator', () => ({
      onStart(ctx) {
        ctx.spawn('ok', idle)
        ctx.spawn('stuck', hang, { shutdownMs: 60_000 })
      },
      receive() {},
    }))
    system.spawn('other', idle)
    await flush()
    const result = system.shutdown(1000)
    await clock.advance(1000)
    // children stop in reverse start order: 'ok' was still waiting for its turn behind 'stuck'
    expect((await result).notStopped).toEqual([
      '/test/coordinator',
      '/test/coordinator/ok',
      '/test/coordinator/stuck',
    ])
    expect(clock.pendingTimers).toBe(0)
    expect(system.lookup('/test/coordinator/stuck')).toBeUndefined()
  })

  test('spawning after shutdown fails with ACTOR_STOPPED; calling shutdown again gives the same result', async () => {
    const { system } = testSystem()
    const first = system.shutdown(1000)
    expect(
      isBatonError(
        thrown(() => system.spawn('late', idle)),
        'ACTOR_STOPPED',
      ),
    ).toBe(true)
    expect(system.shutdown(5)).toBe(first)
    expect(
      isBatonError(
        thrown(() => testSystem().system.shutdown(0)),
        'ACTOR_OPTIONS_INVALID',
      ),
    ).toBe(true)
  })
})

describe('events', () => {
  test('turn errors into message and code for JSON logs', () => {
    const { system } = testSystem()
    const error = thrown(() => system.spawn('', idle))
    const json = eventToJson({ type: 'actor-failed', at: 0, path: '/test/x', error, directive: 'restart' })
    expect(json.error).toEqual({ message: error.message, code: 'ACTOR_NAME_INVALID' })
    expect(json.level).toBe('error')
    expect(JSON.parse(JSON.stringify(json)).path).toBe('/test/x')
  })
})
