import { type Clock, realClock } from './clock.ts'
import { BatonError } from './errors.ts'
import { type ActorEvent, writeEventToStderr } from './events.ts'
import { ActorCell } from './internal/actor-cell.ts'
import { checkActorName, spawnDefaults } from './internal/spawn-options.ts'
import { SystemRuntime } from './internal/system-runtime.ts'
import { resolveSupervisorSpec, type SupervisorSpec } from './supervision.ts'
import type { ActorRef, ActorTreeNode, Behavior, SpawnOptions } from './types.ts'

export interface ActorSystemOptions {
  /** The first segment of every path: a system named `node` holds `/node/coordinator/orders/3`. */
  name: string
  /** Default: {@link realClock}. Tests pass a ManualClock. */
  clock?: Clock
  /** How the top-level actors (those from `system.spawn`) are supervised. */
  supervision?: SupervisorSpec
  /** Where failures, restarts and abandoned actors are reported; default: one JSON line each on stderr. */
  onEvent?: (event: ActorEvent) => void
  /** Source of backoff jitter, [0, 1); default Math.random. */
  random?: () => number
  /** The deadline of the shutdown that follows a failure of the top-level supervisor; default 10000 ms. */
  failureShutdownMs?: number
}

export interface ShutdownResult {
  /** Paths of the actors that had not stopped by their deadline and were abandoned, sorted. */
  notStopped: string[]
}

export interface SystemTermination extends ShutdownResult {
  /** Set when the system shut itself down because its top-level supervisor failed. */
  failure?: unknown
}

/**
 * A tree of supervised actors under one root, addressed by path.
 *
 * The root guardian supervises the top-level actors with `options.supervision`. If it gives up (too many
 * restarts, or a failure escalated to it), the system reports `system-failed`, shuts down, and
 * `whenTerminated` resolves with the failure: a node process exits non-zero on it.
 *
 * @example
 * const system = new ActorSystem({ name: 'node' })
 * const coordinator = system.spawn('coordinator', coordinatorBehavior, { supervision: { strategy: 'one-for-one' } })
 * system.lookup('/node/coordinator') // the same actor
 * const { notStopped } = await system.shutdown(10_000)
 */
export class ActorSystem {
  readonly name: string
  readonly clock: Clock
  /** The root's path, `/<name>`. */
  readonly path: string
  /** Resolves once the system has shut down, on request or after a failure. */
  readonly whenTerminated: Promise<SystemTermination>

  private readonly runtime: SystemRuntime
  private readonly root: ActorCell<never>
  private readonly failureShutdownMs: number
  private shuttingDown: Promise<ShutdownResult> | undefined
  private failure: unknown
  private resolveTerminated: (result: SystemTermination) => void = () => {}

  constructor(options: ActorSystemOptions) {
    checkActorName(options.name, 'the actor system')
    this.name = options.name
    this.clock = options.clock ?? realClock
    this.path = `/${options.name}`
    this.failureShutdownMs = options.failureShutdownMs ?? 10_000
    this.whenTerminated = new Promise((resolve) => {
      this.resolveTerminated = resolve
    })
    this.runtime = new SystemRuntime(
      this,
      this.clock,
      options.random ?? Math.random,
      options.onEvent ?? writeEventToStderr,
      (error) => this.guardianFailed(error),
    )
    const rootOptions = Object.freeze({
      ...spawnDefaults,
      mailboxCapacity: 1,
      shutdownMs: Number.POSITIVE_INFINITY,
      supervision: resolveSupervisorSpec(options.supervision, `actor system ${options.name}`),
    })
    this.root = new ActorCell<never>(this.runtime, undefined, options.name, this.path, guardian, rootOptions)
    this.runtime.register(this.root as ActorCell<unknown>)
    this.root.startInstance(false, undefined)
  }

  /**
   * Starts a top-level actor at `/<system>/<name>`, supervised by the root guardian.
   * Throws ACTOR_STOPPED once the system is shutting down, ACTOR_NAME_TAKEN, ACTOR_NAME_INVALID,
   * ACTOR_OPTIONS_INVALID.
   */
  spawn<M>(name: string, factory: () => Behavior<M>, options?: SpawnOptions): ActorRef<M> {
    if (this.shuttingDown !== undefined || this.root.stopRequested) {
      throw new BatonError(
        'ACTOR_STOPPED',
        `The actor system ${this.name} is shutting down; it cannot spawn '${name}'.`,
      )
    }
    return this.root.spawnChild(name, factory, options)
  }

  /** The actor at `path` (e.g. `/node/coordinator/orders/3`), while it has not ended. */
  lookup<M>(path: string): ActorRef<M> | undefined {
    const cell = this.runtime.lookup(path)
    if (cell === undefined || cell === (this.root as ActorCell<unknown>)) return undefined
    return cell.ref as unknown as ActorRef<M>
  }

  /** Every live actor as a tree of snapshots, children in start order (GET /v1/actors serves it). */
  tree(): ActorTreeNode {
    return treeOf(this.root as ActorCell<unknown>)
  }

  /**
   * Stops every actor, gracefully: top-level actors in reverse start order, each stopping its children
   * first (see {@link ActorRef.stop}). Whatever has not stopped after `deadlineMs` (or its own, shorter
   * `shutdownMs`) is abandoned: its timers are cancelled, its mail dropped, its asks rejected, and its path
   * listed in `notStopped`. Afterwards no actor handles a message and no actor timer is pending. Calling it
   * again returns the same result.
   */
  shutdown(deadlineMs: number): Promise<ShutdownResult> {
    if (this.shuttingDown === undefined) {
      if (!(deadlineMs > 0)) {
        throw new BatonError(
          'ACTOR_OPTIONS_INVALID',
          `shutdown of ${this.name}: deadlineMs must be positive (Infinity for no limit), got ${deadlineMs}`,
        )
      }
      this.shuttingDown = this.runShutdown(deadlineMs)
    }
    return this.shuttingDown
  }

  private async runShutdown(deadlineMs: number): Promise<ShutdownResult> {
    const killed = this.runtime.collectKilled()
    await this.root.stopWithin(deadlineMs)
    const notStopped = [...new Set(killed.filter((path) => path !== this.path))].sort()
    const result: ShutdownResult = { notStopped }
    this.resolveTerminated(this.failure === undefined ? result : { ...result, failure: this.failure })
    return result
  }

  private guardianFailed(error: unknown): void {
    if (this.failure !== undefined || this.shuttingDown !== undefined) return
    this.failure = error
    this.runtime.report({ type: 'system-failed', at: this.clock.now(), path: this.path, error })
    void this.shutdown(this.failureShutdownMs)
  }
}

/** The root's own behavior: it only supervises. */
function guardian(): Behavior<never> {
  return { receive() {} }
}

function treeOf(cell: ActorCell<unknown>): ActorTreeNode {
  const children = cell.children?.cells() ?? []
  return { ...cell.snapshot(), children: children.map(treeOf) }
}
