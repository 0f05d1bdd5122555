import { describe, expect, test } from 'bun:test'
import { backoff } from './backoff.ts'
import { isBatonError } from './errors.ts'
import type { ActorEvent } from './events.ts'
import { flush } from './manual-clock.ts'
import type { SupervisorSpec } from './supervision.ts'
import { testSystem } from './testing.ts'
import type { ActorContext, ActorRef, Behavior, SpawnOptions, Termination } from './types.ts'

type WorkerMsg = 'fail' | 'exit' | 'count' | { type: 'get'; reply: (n: number) => void }

/** Logs its lifecycle as `<name>:<event>`; counts 'count' messages in instance state. */
function worker(name: string, log: string[]): () => Behavior<WorkerMsg> {
  return () => {
    let count = 0
    return {
      onStart: () => {
        log.push(`${name}:start`)
      },
      onStop: (_ctx, reason) => {
        log.push(`${name}:stop:${reason.kind}`)
      },
      receive(msg, ctx) {
        if (msg === 'fail') throw new Error(`${name} failed`)
        if (msg === 'exit') ctx.stop()
        else if (msg === 'count') count++
        else msg.reply(count)
      },
    }
  }
}

type ParentMsg = { type: 'ended'; termination: Termination }

/** A supervisor that spawns `children` in order on every start and records the terminations it watches. */
function parent(
  log: string[],
  children: [string, SpawnOptions?][],
  ended: Termination[] = [],
): () => Behavior<ParentMsg> {
  return () => ({
    onStart(ctx: ActorContext<ParentMsg>) {
      log.push('parent:start')
      for (const [name, options] of children) {
        const child = ctx.spawn(name, worker(name, log), options)
        ctx.watch(child, (termination) => ({ type: 'ended', termination }))
      }
    },
    onStop: (_ctx, reason) => {
      log.push(`parent:stop:${reason.kind}`)
    },
    receive(msg) {
      ended.push(msg.termination)
    },
  })
}

function spawnFamily(
  supervision: SupervisorSpec,
  children: [string, SpawnOptions?][],
  extra: Partial<SpawnOptions> = {},
) {
  const kit = testSystem()
  const log: string[] = []
  const ended: Termination[] = []
  const ref = kit.system.spawn('p', parent(log, children, ended), { supervision, ...extra })
  const child = (name: string) => kit.system.lookup<WorkerMsg>(`/test/p/${name}`) as ActorRef<WorkerMsg>
  return { ...kit, log, ended, ref, child }
}

const count = (ref: ActorRef<WorkerMsg>) => ref.ask<number>((reply) => ({ type: 'get', reply }))

describe('strategies', () => {
  test('one-for-one restarts only the failed child', async () => {
    const { log, child } = spawnFamily({ strategy: 'one-for-one' }, [['a'], ['b'], ['c']])
    child('a').tell('count')
    child('c').tell('count')
    log.length = 0
    child('b').tell('fail')
    await flush()
    expect(log).toEqual(['b:stop:restart', 'b:start'])
    expect(await count(child('a'))).toBe(1)
    expect(await count(child('c'))).toBe(1)
  })

  test('one-for-all stops every child in reverse start order, then starts them all in order', async () => {
    const { log, child } = spawnFamily({ strategy: 'one-for-all' }, [['a'], ['b'], ['c']])
    child('a').tell('count')
    await flush()
    log.length = 0
    child('b').tell('fail')
    await flush()
    expect(log).toEqual([
      'c:stop:restart',
      'b:stop:restart',
      'a:stop:restart',
      'a:start',
      'b:start',
      'c:start',
    ])
    expect(await count(child('a'))).toBe(0) // its state reset too
    expect(child('a').snapshot().restarts).toBe(1)
  })

  test('rest-for-one restarts the failed child and those started after it', async () => {
    const { log, child } = spawnFamily({ strategy: 'rest-for-one' }, [['a'], ['b'], ['c']])
    await flush()
    log.length = 0
    child('b').tell('fail')
    await flush()
    expect(log).toEqual(['c:stop:restart', 'b:stop:restart', 'b:start', 'c:start'])
    expect(child('a').snapshot().restarts).toBe(0)
  })

  test('a temporary sibling caught in a one-for-all restart is stopped, not restarted', async () => {
    const { log, child, ended } = spawnFamily({ strategy: 'one-for-all' }, [
      ['a', { restart: 'temporary' }],
      ['b'],
    ])
    await flush()
    log.length = 0
    child('b').tell('fail')
    await flush()
    expect(log).toEqual(['b:stop:restart', 'a:stop:stopped', 'b:start'])
    expect(ended.map((t) => [t.name, t.reason])).toEqual([['a', 'stopped']])
  })
})

describe('restart kinds', () => {
  test('permanent: restarted after a failure and after exiting on its own', async () => {
    const { log, child } = spawnFamily({}, [['w', { restart: 'permanent' }]])
    await flush()
    log.length = 0
    child('w').tell('fail')
    await flush()
    child('w').tell('exit')
    await flush()
    expect(log).toEqual(['w:stop:restart', 'w:start', 'w:stop:restart', 'w:start'])
  })

  test('transient: restarted after a failure, removed after exiting on its own', async () => {
    const { log, child, ended, system } = spawnFamily({}, [['w', { restart: 'transient' }]])
    await flush()
    log.length = 0
    child('w').tell('fail')
    await flush()
    const w = child('w')
    w.tell('exit')
    w.tell('count') // queued behind the exit: dropped, and counted
    await flush()
    expect(log).toEqual(['w:stop:restart', 'w:start', 'w:stop:exited'])
    expect(ended).toEqual([{ path: '/test/p/w', name: 'w', reason: 'stopped', dropped: 1 }])
    expect(system.lookup('/test/p/w')).toBeUndefined()
  })

  test('temporary: removed after a failure, with the error in its termination', async () => {
    const { log, child, ended } = spawnFamily({}, [['w', { restart: 'temporary' }]])
    await flush()
    log.length = 0
    child('w').tell('fail')
    await flush()
    expect(log).toEqual(['w:stop:failed'])
    expect(ended).toHaveLength(1)
    expect(ended[0]).toMatchObject({ reason: 'failed', dropped: 0 })
    expect(((ended[0] as Termination).error as Error).message).toBe('w failed')
  })
})

describe('decider', () => {
  test('resume keeps the instance and its state; the failed message is dropped', async () => {
    const { log, child, events } = spawnFamily({ decider: () => 'resume' }, [['w']])
    child('w').tell('count')
    child('w').tell('fail')
    child('w').tell('count')
    expect(await count(child('w'))).toBe(2)
    expect(log).toEqual(['parent:start', 'w:start'])
    const failed = events.find((e) => e.type === 'actor-failed')
    expect(failed).toMatchObject({ path: '/test/p/w', directive: 'resume' })
    expect(child('w').snapshot()).toMatchObject({ failures: 1, restarts: 0 })
  })

  test('stop ends the child for good, as failed', async () => {
    const { log, child, ended } = spawnFamily({ decider: () => 'stop' }, [['w']])
    await flush()
    log.length = 0
    child('w').tell('fail')
    await flush()
    expect(log).toEqual(['w:stop:failed'])
    expect(ended[0]).toMatchObject({ name: 'w', reason: 'failed' })
  })

  test('escalate fails the parent with the same error; its supervisor restarts it, and its children with it', async () => {
    const { log, child, ref } = spawnFamily({ decider: () => 'escalate' }, [['a'], ['b']])
    await flush()
    log.length = 0
    child('b').tell('fail')
    await flush()
    expect(log).toEqual([
      'b:stop:failed',
      'a:stop:stopped',
      'parent:stop:restart',
      'parent:start',
      'a:start',
      'b:start',
    ])
    expect(ref.snapshot()).toMatchObject({ restarts: 1, lastError: { message: 'b failed' } })
  })

  test('a decider that throws counts as escalate, and is reported', async () => {
    const { child, ref, events } = spawnFamily(
      {
        decider: () => {
          throw new Error('bad decider')
        },
      },
      [['w']],
    )
    child('w').tell('fail')
    await flush()
    expect(ref.snapshot().restarts).toBe(1)
    expect(events.find((e) => e.type === 'callback-failed')).toMatchObject({
      path: '/test/p',
      callback: 'decider',
    })
  })
})

describe('intensity', () => {
  test('more than `intensity` restarts within `periodMs`: children stop in reverse order, the supervisor fails', async () => {
    const { log, child, ref, events, clock } = spawnFamily({ intensity: 2, periodMs: 1000 }, [['a'], ['b']])
    await flush()
    log.length = 0
    child('b').tell('fail')
    await clock.advance(400)
    child('b').tell('fail')
    await clock.advance(400)
    expect(events.filter((e) => e.type === 'actor-restarting')).toHaveLength(2)
    child('b').tell('fail') // third within 1000 ms
    await flush()
    const exceeded = events.find((e) => e.type === 'intensity-exceeded')
    expect(exceeded).toMatchObject({
      path: '/test/p',
      child: '/test/p/b',
      restarts: 3,
      intensity: 2,
      periodMs: 1000,
    })
    // the parent gave up: its children stopped (b failed, a stopped), then it failed and was restarted by the root
    expect(log.slice(4)).toEqual([
      'b:stop:failed',
      'a:stop:stopped',
      'parent:stop:restart',
      'parent:start',
      'a:start',
      'b:start',
    ])
    const snapshot = ref.snapshot()
    expect(snapshot.restarts).toBe(1)
    expect(snapshot.lastError?.code).toBe('SUPERVISOR_INTENSITY_EXCEEDED')
  })

  test('restarts spread wider than the period never add up to giving up', async () => {
    const { child, events, clock } = spawnFamily({ intensity: 1, periodMs: 1000 }, [['w']])
    for (let i = 0; i < 10; i++) {
      child('w').tell('fail')
      await clock.advance(1000)
    }
    expect(events.filter((e) => e.type === 'intensity-exceeded')).toHaveLength(0)
    expect(child('w').snapshot().restarts).toBe(10)
  })

  test('intensity Infinity never gives up: a child failing for an hour is restarted throughout, spaced by the backoff', async () => {
    const spec = {
      intensity: Number.POSITIVE_INFINITY,
      backoff: backoff({ minMs: 100, maxMs: 5_000, jitter: 0 }),
    }
    const { child, events, clock } = spawnFamily(spec, [['w']])
    await flush()
    // Fails as soon as it is up again, for an hour of virtual time.
    for (let elapsed = 0; elapsed < 3_600_000; elapsed += 1_000) {
      if (child('w').snapshot().status === 'running') child('w').tell('fail')
      await clock.advance(1_000)
    }
    expect(events.filter((e) => e.type === 'intensity-exceeded')).toHaveLength(0)
    const restarts = events.filter((e) => e.type === 'actor-restarting')
    // Capped at 5 s apart: about 720 restarts in the hour, never a tight loop.
    expect(restarts.length).toBeGreaterThan(600)
    expect(restarts.length).toBeLessThan(800)
    expect(restarts.every((e) => e.type !== 'actor-restarting' || e.delayMs <= 5_000)).toBe(true)
    // And it runs again once the cause is gone.
    await clock.advance(5_000)
    child('w').tell('count')
    expect(await count(child('w'))).toBe(1)
  })

  test('intensity Infinity without a backoff is refused: it would restart in a tight loop', () => {
    const { system } = testSystem()
    expect(() =>
      system.spawn('p', parent([], []), { supervision: { intensity: Number.POSITIVE_INFINITY } }),
    ).toThrow(/intensity Infinity needs a backoff/)
  })

  test('a supervisor that gave up is visible to its own parent: a decider can stop it, and a watch reports why', async () => {
    const { system } = testSystem()
    const log: string[] = []
    const ended: Termination[] = []
    system.spawn<ParentMsg>(
      'coordinator',
      () => ({
        onStart(ctx) {
          const partition = ctx.spawn('orders-3', parent(log, [['batcher']]), {
            supervision: { intensity: 0 },
          })
          ctx.watch(partition, (termination) => ({ type: 'ended', termination }))
        },
        receive(msg) {
          ended.push(msg.termination)
        },
      }),
      {
        supervision: {
          decider: (error) => (isBatonError(error, 'SUPERVISOR_INTENSITY_EXCEEDED') ? 'stop' : 'restart'),
        },
      },
    )
    await flush()
    system.lookup<WorkerMsg>('/test/coordinator/orders-3/batcher')?.tell('fail')
    await flush()
    expect(ended).toHaveLength(1)
    expect(ended[0]).toMatchObject({ path: '/test/coordinator/orders-3', reason: 'failed' })
    expect(isBatonError(ended[0]?.error, 'SUPERVISOR_INTENSITY_EXCEEDED')).toBe(true)
    expect(((ended[0] as Termination).error as Error).cause).toMatchObject({ message: 'batcher failed' })
    expect(system.lookup('/test/coordinator/orders-3')).toBeUndefined()
  })

  test('when the top-level supervisor gives up, the system shuts down and reports the failure', async () => {
    const { system, events } = testSystem({ supervision: { intensity: 0 } })
    const w = system.spawn('w', worker('w', []))
    w.tell('fail')
    const terminated = await system.whenTerminated
    expect(isBatonError(terminated.failure, 'SUPERVISOR_INTENSITY_EXCEEDED')).toBe(true)
    expect(terminated.notStopped).toEqual([])
    expect(events.some((e) => e.type === 'system-failed')).toBe(true)
  })
})

describe('backoff', () => {
  test('restarts wait an exponentially growing delay; mail sent meanwhile is kept and handled after', async () => {
    const { child, clock, events } = spawnFamily(
      { backoff: backoff({ minMs: 100, maxMs: 1000, jitter: 0 }), intensity: 10, periodMs: 60_000 },
      [['w']],
    )
    const w = child('w')
    const delays = () => events.flatMap((e: ActorEvent) => (e.type === 'actor-restarting' ? [e.delayMs] : []))
    w.tell('fail')
    await flush()
    expect(w.snapshot().status).toBe('restarting')
    w.tell('count')
    w.tell('count')
    await clock.advance(99)
    expect(w.snapshot().status).toBe('restarting')
    expect(w.mailboxDepth).toBe(2)
    await clock.advance(1)
    expect(w.snapshot().status).toBe('running')
    expect(await count(w)).toBe(2)
    w.tell('fail')
    await clock.advance(200)
    w.tell('fail')
    await clock.advance(400)
    expect(delays()).toEqual([100, 200, 400])
    expect(w.snapshot().restarts).toBe(3)
  })

  test('an instance that ran for resetAfterMs starts the backoff over', async () => {
    const { child, clock, events } = spawnFamily(
      { backoff: backoff({ minMs: 100, maxMs: 1000, jitter: 0 }).withResetAfter(5000), intensity: 10 },
      [['w']],
    )
    child('w').tell('fail')
    await clock.advance(100)
    child('w').tell('fail')
    await clock.advance(200)
    await clock.advance(5000)
    child('w').tell('fail')
    await clock.advance(100)
    const delays = events.flatMap((e) => (e.type === 'actor-restarting' ? [e.delayMs] : []))
    expect(delays).toEqual([100, 200, 100])
  })

  test('stopping an actor during its backoff cancels the restart and drops its mail, counted', async () => {
    const { child, clock, ended } = spawnFamily({ backoff: backoff({ minMs: 100, maxMs: 100 }) }, [['w']])
    const w = child('w')
    w.tell('fail')
    await flush()
    w.tell('count')
    await w.stop()
    await clock.advance(1000)
    expect(w.snapshot()).toMatchObject({ status: 'stopped', restarts: 0 })
    expect(ended).toEqual([{ path: '/test/p/w', name: 'w', reason: 'stopped', dropped: 1 }])
    expect(clock.pendingTimers).toBe(0)
  })
})

describe('stopping', () => {
  test('a parent stops its children first, in reverse start order, then runs its own onStop', async () => {
    const { log, ref } = spawnFamily({}, [['a'], ['b'], ['c']])
    await flush()
    log.length = 0
    await ref.stop()
    expect(log).toEqual(['c:stop:stopped', 'b:stop:stopped', 'a:stop:stopped', 'parent:stop:stopped'])
  })

  test('a child that does not stop within its shutdownMs is abandoned, and the parent goes on', async () => {
    const { system, clock, events } = testSystem()
    const log: string[] = []
    const ref = system.spawn('p', () => ({
      onStart(ctx: ActorContext<never>) {
        ctx.spawn('quick', worker('quick', log))
        ctx.spawn<never>('stuck', () => ({ receive() {}, onStop: () => new Promise<void>(() => {}) }), {
          shutdownMs: 300,
        })
      },
      receive() {},
      onStop: () => {
        log.push('parent:stop')
      },
    }))
    await flush()
    let stopped = false
    const stopping = ref.stop().then(() => {
      stopped = true
    })
    await clock.advance(299)
    expect(stopped).toBe(false)
    await clock.advance(1)
    await stopping
    expect(log).toEqual(['quick:start', 'quick:stop:stopped', 'parent:stop'])
    expect(events.find((e) => e.type === 'actor-killed')).toMatchObject({
      path: '/test/p/stuck',
      deadlineMs: 300,
    })
    expect(clock.pendingTimers).toBe(0)
  })

  test('stopChild stops one child for good; the name can be used again afterwards', async () => {
    const { system } = testSystem()
    const log: string[] = []
    const ref = system.spawn<'swap'>('p', () => ({
      onStart: (ctx) => {
        ctx.spawn('w', worker('w1', log))
      },
      async receive(_msg, ctx) {
        await ctx.stopChild('w')
        ctx.spawn('w', worker('w2', log))
        await ctx.stopChild('nobody') // no such child: nothing to do
      },
    }))
    ref.tell('swap')
    await flush()
    expect(log).toEqual(['w1:start', 'w1:stop:stopped', 'w2:start'])
  })
})
