import type { Backoff } from './backoff.ts'
import { BatonError } from './errors.ts'

/**
 * Which children restart when one fails (OTP's strategies):
 * - `one-for-one`: only the failed child.
 * - `one-for-all`: every child: all stop in reverse start order, then all start again in start order.
 * - `rest-for-one`: the failed child and those started after it, the same way.
 */
export type Strategy = 'one-for-one' | 'one-for-all' | 'rest-for-one'

/**
 * When a child is restarted (OTP's restart kinds):
 *
 * | how the child ended                                       | permanent | transient | temporary |
 * |-----------------------------------------------------------|-----------|-----------|-----------|
 * | failed, and the decider said `restart`                    | restarted | restarted | removed   |
 * | exited on its own (`ctx.stop()`)                          | restarted | removed   | removed   |
 * | failed, and the decider said `stop`                       | removed   | removed   | removed   |
 * | stopped from outside (`ref.stop()`, `ctx.stopChild`, its parent stopping, shutdown) | removed | removed | removed |
 */
export type RestartKind = 'permanent' | 'transient' | 'temporary'

/**
 * What a supervisor does with a failed child:
 * - `resume`: keep the child's state and go on with its next message (the failed one is dropped).
 * - `restart`: a fresh instance from the factory, subject to the restart kind, intensity and backoff.
 * - `stop`: stop the child for good; watchers see a `failed` termination.
 * - `escalate`: the supervisor fails with the same error, and its own supervisor decides.
 */
export type Directive = 'resume' | 'restart' | 'stop' | 'escalate'

/** The failed child, as a decider sees it. */
export interface FailedChild {
  readonly path: string
  readonly name: string
  /** How many times it was restarted before this failure. */
  readonly restarts: number
}

/**
 * Maps a child's failure to a directive. Called synchronously in the supervisor, once per failure; it
 * must not throw (a throwing decider counts as `escalate`) and should not block.
 *
 * @example
 * const decider: Decider = (error) => (isBatonError(error, 'FENCED') ? 'stop' : 'restart')
 */
export type Decider = (error: unknown, child: FailedChild) => Directive

/**
 * How an actor supervises its children: plain data, every default written down in {@link supervisorDefaults}.
 * A supervisor that restarts children more than `intensity` times within `periodMs` gives up: it stops its
 * children (in reverse start order) and fails with SUPERVISOR_INTENSITY_EXCEEDED, which its own
 * supervisor handles like any other failure.
 */
export interface SupervisorSpec {
  strategy?: Strategy
  /**
   * Restarts allowed within `periodMs` before the supervisor gives up. `Infinity`: it never gives up, for
   * children whose failures are transient by nature (a service that is down); then a `backoff` is required,
   * which bounds the rate of restarts instead.
   */
  intensity?: number
  periodMs?: number
  /** Delay between a failure and the restart; none (restart at once) by default. */
  backoff?: Backoff
  decider?: Decider
}

export type ResolvedSupervisorSpec = Readonly<Required<Omit<SupervisorSpec, 'backoff'>>> & {
  readonly backoff: Backoff | undefined
}

/** Restarts the child on every error: OTP's behaviour, and the default. */
export const restartOnError: Decider = () => 'restart'

/**
 * The defaults: one-for-one; at most 3 restarts within 5 s (Elixir's defaults; OTP's 1 restart is too
 * strict for actors that talk to databases); no backoff; restart on every error.
 */
export const supervisorDefaults: ResolvedSupervisorSpec = Object.freeze({
  strategy: 'one-for-one',
  intensity: 3,
  periodMs: 5_000,
  backoff: undefined,
  decider: restartOnError,
})

const strategies: readonly Strategy[] = ['one-for-one', 'one-for-all', 'rest-for-one']

/** Merges `spec` over the defaults once and checks it; throws ACTOR_OPTIONS_INVALID naming the field. */
export function resolveSupervisorSpec(
  spec: SupervisorSpec | undefined,
  where: string,
): ResolvedSupervisorSpec {
  if (spec === undefined) return supervisorDefaults
  const resolved = Object.freeze({
    strategy: spec.strategy ?? supervisorDefaults.strategy,
    intensity: spec.intensity ?? supervisorDefaults.intensity,
    periodMs: spec.periodMs ?? supervisorDefaults.periodMs,
    backoff: spec.backoff ?? supervisorDefaults.backoff,
    decider: spec.decider ?? supervisorDefaults.decider,
  })
  const fail = (problem: string) => {
    throw new BatonError('ACTOR_OPTIONS_INVALID', `${where}: supervision.${problem}`)
  }
  if (!strategies.includes(resolved.strategy))
    fail(`strategy must be one of ${strategies.join(', ')}, got '${resolved.strategy}'`)
  if (resolved.intensity === Number.POSITIVE_INFINITY) {
    if (resolved.backoff === undefined)
      fail('intensity Infinity needs a backoff: without one a failing child restarts in a tight loop')
  } else if (!Number.isInteger(resolved.intensity) || resolved.intensity < 0) {
    fail(`intensity must be a whole number >= 0 or Infinity, got ${resolved.intensity}`)
  }
  if (!(resolved.periodMs > 0)) fail(`periodMs must be positive, got ${resolved.periodMs}`)
  if (typeof resolved.decider !== 'function') fail('decider must be a function (error, child) => directive')
  return resolved
}
