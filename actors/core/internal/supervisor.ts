import type { Cancellable } from '../clock.ts'
import { BatonError, errorMessage } from '../errors.ts'
import { addRestart } from '../intensity.ts'
import type { Directive, ResolvedSupervisorSpec } from '../supervision.ts'
import type { ActorRef, Behavior, SpawnOptions, StopReason } from '../types.ts'
import { ActorCell } from './actor-cell.ts'
import { withDeadline } from './deadline.ts'
import { checkActorName, resolveSpawnOptions } from './spawn-options.ts'

const resolved: Promise<void> = Promise.resolve()

/**
 * The children of one instance of an actor, and what happens when they fail: the owner's
 * {@link ResolvedSupervisorSpec} applied, as in OTP's supervisor.
 *
 * Decisions are made synchronously when a failure is reported (the decider is a pure function); the work
 * they lead to (ending instances, backoff, starting) runs as steps. With one-for-one, steps for different
 * children run side by side, so one child's slow `onStop` or long backoff never holds up another's
 * restart. With one-for-all and rest-for-one, steps run one after another, since they touch siblings.
 */
export class Supervisor {
  private readonly spec: ResolvedSupervisorSpec
  /** Start order: stops go in reverse. */
  private readonly order: ActorCell<unknown>[] = []
  private readonly byName = new Map<string, ActorCell<unknown>>()
  private restarts: readonly number[] = []
  private chain: Promise<void> = resolved
  private readonly steps = new Set<Promise<void>>()
  private readonly startTimers = new Set<Cancellable>()
  private closed = false
  private gaveUp = false

  constructor(private readonly owner: ActorCell<unknown>) {
    this.spec = owner.options.supervision
  }

  get(name: string): ActorCell<unknown> | undefined {
    return this.byName.get(name)
  }

  /** The children, in start order. */
  cells(): readonly ActorCell<unknown>[] {
    return this.order
  }

  spawn<C>(name: string, factory: () => Behavior<C>, options: SpawnOptions | undefined): ActorRef<C> {
    const parent = this.owner.path
    if (this.closed) {
      throw new BatonError(
        'ACTOR_STOPPED',
        `${parent} is stopping or restarting and cannot start child '${name}'. Spawn from its current instance.`,
      )
    }
    checkActorName(name, parent)
    if (this.byName.has(name)) {
      throw new BatonError(
        'ACTOR_NAME_TAKEN',
        `${parent} already has a child named '${name}'. Pick another name, or await stopChild('${name}') first.`,
      )
    }
    const path = `${parent}/${name}`
    const cell = new ActorCell<C>(
      this.owner.system,
      this,
      name,
      path,
      factory,
      resolveSpawnOptions(options, path),
    )
    const child = cell as ActorCell<unknown>
    this.order.push(child)
    this.byName.set(name, child)
    this.owner.system.register(child)
    cell.startInstance(false, undefined)
    return cell.ref
  }

  /** A child ended for good: it is no longer a child. */
  childTerminated(child: ActorCell<unknown>): void {
    const at = this.order.indexOf(child)
    if (at >= 0) this.order.splice(at, 1)
    if (this.byName.get(child.name) === child) this.byName.delete(child.name)
  }

  /** Instance `incarnation` of `child` failed with `error` and is suspended. */
  childFailed(child: ActorCell<unknown>, incarnation: number, error: unknown): void {
    let directive = this.decide(child, error)
    // An instance whose start failed has nothing to resume.
    if (directive === 'resume' && child.failedStarting) directive = 'restart'
    const system = this.owner.system
    system.report({ type: 'actor-failed', at: system.clock.now(), path: child.path, error, directive })
    if (this.closed || this.gaveUp) return // the owner is ending; its close stops the child
    if (!this.ownerActive()) {
      child.awaitingOwner = true // decided again if the owner is resumed; stopped with it otherwise
      return
    }
    switch (directive) {
      case 'resume':
        child.resume(incarnation)
        return
      case 'escalate':
        child.escalated = true
        this.owner.fail(error)
        return
      case 'stop':
        this.step(child, incarnation, 'failed', () =>
          child.finish({ kind: 'failed', error }, 'failed', error),
        )
        return
      case 'restart':
        if (child.options.restart === 'temporary') {
          this.step(child, incarnation, 'failed', () =>
            child.finish({ kind: 'failed', error }, 'failed', error),
          )
        } else {
          this.step(child, incarnation, 'failed', () => this.restart(child, error))
        }
        return
    }
  }

  /** Instance `incarnation` of `child` called `ctx.stop()` and is idle. */
  childExited(child: ActorCell<unknown>, incarnation: number): void {
    if (this.closed || this.gaveUp) return
    if (!this.ownerActive()) {
      child.awaitingOwner = true
      return
    }
    if (child.options.restart === 'permanent') {
      this.step(child, incarnation, 'exiting', () => this.restart(child, undefined))
    } else {
      this.step(child, incarnation, 'exiting', () => child.finish({ kind: 'exited' }, 'stopped'))
    }
  }

  /**
   * The owner was resumed after failing: the children whose failure it escalated resume with it; those
   * that failed while it was suspended get their decision now.
   */
  ownerResumed(): void {
    this.gaveUp = false
    for (const child of [...this.order]) {
      if (child.escalated) {
        child.escalated = false
        child.resume(child.incarnation)
      } else if (child.awaitingOwner) {
        child.awaitingOwner = false
        if (child.phase === 'failed') this.childFailed(child, child.incarnation, child.lastFailure())
        else if (child.phase === 'exiting') this.childExited(child, child.incarnation)
      }
    }
  }

  /**
   * The owner's instance ends: no more supervision; children stop in reverse start order, each within its
   * `shutdownMs`, after any restart in progress has settled.
   */
  async close(): Promise<void> {
    this.closed = true
    this.cancelStartTimers()
    await Promise.all(this.steps)
    await this.stopAll()
  }

  /** The owner is abandoned at a deadline: so is every child, at once. */
  kill(): void {
    this.closed = true
    this.cancelStartTimers()
    for (const child of [...this.order].reverse()) child.kill(child.options.shutdownMs)
  }

  private decide(child: ActorCell<unknown>, error: unknown): Directive {
    try {
      return this.spec.decider(error, { path: child.path, name: child.name, restarts: child.restarts })
    } catch (failure) {
      const system = this.owner.system
      system.report({
        type: 'callback-failed',
        at: system.clock.now(),
        path: this.owner.path,
        callback: 'decider',
        error: failure,
      })
      return 'escalate'
    }
  }

  /**
   * Runs `work` for `child` on a later microtask, unless by then the child has moved on from instance
   * `incarnation` in `phase` (another decision got there first).
   */
  private step(
    child: ActorCell<unknown>,
    incarnation: number,
    phase: 'failed' | 'exiting',
    work: () => Promise<void>,
  ) {
    const serial = this.spec.strategy !== 'one-for-one'
    const run = (): Promise<void> | undefined => {
      if (this.closed || this.gaveUp) return
      if (child.incarnation !== incarnation || child.phase !== phase || child.stopRequested) return
      if (!this.ownerActive()) {
        child.awaitingOwner = true
        return
      }
      return work()
    }
    const done = (serial ? this.chain : resolved).then(run).then(undefined, (error) => {
      const system = this.owner.system
      system.report({
        type: 'callback-failed',
        at: system.clock.now(),
        path: this.owner.path,
        callback: 'supervision',
        error,
      })
    })
    if (serial) this.chain = done
    this.steps.add(done)
    done.then(() => this.steps.delete(done))
  }

  private async restart(child: ActorCell<unknown>, error: unknown): Promise<void> {
    const system = this.owner.system
    const clock = system.clock
    const now = clock.now()
    // An unlimited supervisor keeps no restart times: with thousands of children they would only grow.
    if (this.spec.intensity !== Number.POSITIVE_INFINITY) {
      this.restarts = addRestart(this.restarts, now, this.spec.periodMs)
      if (this.restarts.length > this.spec.intensity) return this.giveUp(child, error)
    }

    const group = this.groupOf(child)
    const restarting = group.filter((c) => c === child || c.options.restart !== 'temporary')
    const delayMs = this.backoffDelay(child, now)
    const token = {}
    for (const c of restarting) {
      c.beginRestart()
      c.pendingStart = token
      system.report({
        type: 'actor-restarting',
        at: now,
        path: c.path,
        supervisor: this.owner.path,
        cause: child.path,
        delayMs,
      })
    }
    const reason: StopReason = { kind: 'restart', error }
    for (let i = group.length - 1; i >= 0; i--) {
      const c = group[i] as ActorCell<unknown>
      if (restarting.includes(c)) await this.endWithin(c, reason)
      else await c.stop() // a temporary sibling is not restarted
      if (this.closed) return
    }

    // Start in start order; a sibling stopped or restarted again meanwhile no longer carries this token.
    const startAll = () => {
      for (const c of restarting) {
        if (c.pendingStart !== token) continue
        c.pendingStart = undefined
        c.startInstance(true, error)
      }
    }
    const remainingMs = delayMs - (clock.now() - now)
    if (remainingMs <= 0) {
      startAll()
      return
    }
    const timer = clock.schedule(remainingMs, () => {
      this.startTimers.delete(timer)
      startAll()
    })
    this.startTimers.add(timer)
  }

  /** The children a failure of `child` restarts (or, if temporary, stops), in start order. */
  private groupOf(child: ActorCell<unknown>): ActorCell<unknown>[] {
    const alive = (c: ActorCell<unknown>) => c === child || (c.phase !== 'stopped' && !c.stopRequested)
    switch (this.spec.strategy) {
      case 'one-for-one':
        return [child]
      case 'one-for-all':
        return this.order.filter(alive)
      case 'rest-for-one':
        return this.order.slice(Math.max(0, this.order.indexOf(child))).filter(alive)
    }
  }

  private async endWithin(child: ActorCell<unknown>, reason: StopReason): Promise<void> {
    const clock = this.owner.system.clock
    if (!(await withDeadline(child.endInstance(reason), clock, child.options.shutdownMs)))
      child.abandonInstance()
  }

  private backoffDelay(child: ActorCell<unknown>, now: number): number {
    const backoff = this.spec.backoff
    if (backoff === undefined) return 0
    if (now - child.startedAt >= backoff.resetAfterMs) child.backoffAttempt = 0
    return backoff.delayMs(child.backoffAttempt++, this.owner.system.random)
  }

  /** Too many restarts: stop every child, then fail, so that the owner's supervisor decides. */
  private async giveUp(child: ActorCell<unknown>, error: unknown): Promise<void> {
    this.gaveUp = true
    const { intensity, periodMs } = this.spec
    const system = this.owner.system
    system.report({
      type: 'intensity-exceeded',
      at: system.clock.now(),
      path: this.owner.path,
      child: child.path,
      restarts: this.restarts.length,
      intensity,
      periodMs,
      error,
    })
    this.cancelStartTimers()
    await this.stopAll()
    const last = error === undefined ? 'it exited' : errorMessage(error)
    this.owner.fail(
      new BatonError(
        'SUPERVISOR_INTENSITY_EXCEEDED',
        `${this.owner.path} gave up supervising: ${this.restarts.length} restarts within ${periodMs} ms is more than its intensity of ${intensity} ` +
          `(last: ${child.path}: ${last}). Its children are stopped and its own supervisor decides what happens next. ` +
          'Fix the failing child, or raise supervision.intensity / periodMs.',
        { cause: error },
      ),
    )
  }

  private async stopAll(): Promise<void> {
    for (const child of [...this.order].reverse()) await child.stop()
  }

  /** A failed, exiting or ending owner makes no decisions: its own fate decides its children's. */
  private ownerActive(): boolean {
    return this.owner.phase === 'running' || this.owner.phase === 'starting'
  }

  private cancelStartTimers(): void {
    for (const timer of this.startTimers) timer.cancel()
    this.startTimers.clear()
  }
}
