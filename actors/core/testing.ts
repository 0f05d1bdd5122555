import { ActorSystem, type ActorSystemOptions } from './actor-system.ts'
import type { ActorEvent } from './events.ts'
import { ManualClock } from './manual-clock.ts'

export interface TestSystem {
  system: ActorSystem
  clock: ManualClock
  /** Every event the system reported, in order. */
  events: ActorEvent[]
}

/**
 * An actor system for tests: a {@link ManualClock} at 0, events collected instead of printed, and no
 * jitter (`random` returns 0), so backoff delays are exact.
 *
 * @example
 * const { system, clock, events } = testSystem()
 * const ref = system.spawn('worker', worker)
 * await clock.advance(100)
 */
export function testSystem(options: Partial<ActorSystemOptions> = {}): TestSystem {
  const clock = new ManualClock()
  const events: ActorEvent[] = []
  const system = new ActorSystem({
    name: 'test',
    clock,
    random: () => 0,
    onEvent: (event) => events.push(event),
    ...options,
  })
  return { system, clock, events }
}
