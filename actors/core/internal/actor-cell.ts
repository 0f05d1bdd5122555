import type { Cancellable } from '../clock.ts'
import { BatonError, errorMessage } from '../errors.ts'
import type {
  ActorRef,
  ActorSnapshot,
  ActorStatus,
  Behavior,
  SpawnOptions,
  StopReason,
  Termination,
} from '../types.ts'
import { ActorContextImpl, type WatchEntry } from './actor-context.ts'
import { LocalActorRef } from './actor-ref.ts'
import type { PendingAsk } from './ask.ts'
import { withDeadline } from './deadline.ts'
import type { Runnable } from './dispatcher.ts'
import { Mailbox, type Waiter } from './mailbox.ts'
import type { ResolvedSpawnOptions } from './spawn-options.ts'
import { Supervisor } from './supervisor.ts'
import type { SystemRuntime } from './system-runtime.ts'

/**
 * Where an actor is in its life:
 * - `starting`: an instance exists, its start hooks run; mail waits.
 * - `running`: handles mail.
 * - `failed`: an instance failed; its supervisor decides (mail waits).
 * - `exiting`: it called `ctx.stop()`; its supervisor decides.
 * - `restarting`: between instances: the old one ends, backoff runs, the next starts.
 * - `stopped`: ended for good.
 */
type Phase = 'starting' | 'running' | 'failed' | 'exiting' | 'restarting' | 'stopped'

const resolved: Promise<void> = Promise.resolve()

/**
 * The runtime's side of one actor: its mailbox, its current behavior instance and everything that lives
 * as long as that instance (context, timers, children), and the lifecycle across instances.
 */
export class ActorCell<M> implements Runnable {
  readonly ref: LocalActorRef<M>
  readonly mailbox: Mailbox<M>
  phase: Phase = 'restarting'
  /** No new mail is accepted: a stop is under way, or the actor ended. */
  stopRequested = false
  /** Counts instances; work started by an older instance is recognised by a different number. */
  incarnation = 0
  processed = 0
  failures = 0
  restarts = 0
  /** The last failure failed a start hook (resuming such an instance makes no sense). */
  failedStarting = false
  /** Its failure escalated: if its supervisor's owner is resumed, so is it. */
  escalated = false
  /** It failed or exited while its supervisor's owner was suspended: decided once the owner resumes. */
  awaitingOwner = false
  /** Restarts in a row, for backoff; reset when an instance ran `resetAfterMs` without failing. */
  backoffAttempt = 0
  startedAt = 0
  /** Set while a restart waits for its backoff: the token of the supervisor's timer. */
  pendingStart: object | undefined
  /** The children of the current instance (created by its first spawn). */
  children: Supervisor | undefined

  private lastError: unknown
  private lastErrorAt: number | undefined
  private behavior: Behavior<M> | undefined
  private ctx: ActorContextImpl<M>
  private scheduled = false
  /** The promise of the `receive` or start hooks in progress, while they are asynchronous. */
  private inflight: PromiseLike<unknown> | undefined
  /** Timer messages and termination notices: bounded by live timers and watches, handled before mail. */
  private systemLane: M[] | undefined
  private timers: Set<TimerEntry<M>> | undefined
  private asks: Set<PendingAsk<M, unknown>> | undefined
  private watchers: WatchEntry[] | undefined
  private ending: Promise<void> | undefined
  private stopping: Promise<void> | undefined
  private drainWaiter: (() => void) | undefined
  private termination: Termination | undefined
  private terminatedWaiters: (() => void)[] | undefined

  constructor(
    readonly system: SystemRuntime,
    /** The supervisor that started this actor; undefined for the root guardian. */
    readonly supervisor: Supervisor | undefined,
    readonly name: string,
    readonly path: string,
    private readonly factory: () => Behavior<M>,
    readonly options: ResolvedSpawnOptions,
  ) {
    this.ref = new LocalActorRef(this)
    this.mailbox = new Mailbox<M>(options.mailboxCapacity)
    this.ctx = new ActorContextImpl(this, 0)
    this.ctx.close()
  }

  // ---- delivery: the hot path ----

  tell(msg: M): void {
    if (this.stopRequested) throw this.stoppedError()
    if (!this.mailbox.offer(msg)) throw this.fullError(false)
    this.wake()
  }

  send(msg: M): Promise<void> {
    if (this.stopRequested) return Promise.reject(this.stoppedError())
    if (this.mailbox.offer(msg)) {
      this.wake()
      return resolved
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter<M> = { msg, admit: resolve, reject, done: false }
      if (!this.mailbox.wait(waiter)) reject(this.fullError(true))
    })
  }

  /** Queues `msg` without throwing: how `ask` delivers. */
  offer(msg: M): 'accepted' | 'full' | 'stopped' {
    if (this.stopRequested) return 'stopped'
    if (!this.mailbox.offer(msg)) return 'full'
    this.wake()
    return 'accepted'
  }

  /** Handles up to `budget` messages, synchronously while handlers return nothing. */
  run(budget: number): number {
    this.scheduled = false
    if (this.phase !== 'running' || this.inflight !== undefined) return 0
    const behavior = this.behavior as Behavior<M>
    const ctx = this.ctx
    const mailbox = this.mailbox
    let n = 0
    while (n < budget) {
      let msg: M
      const lane = this.systemLane
      if (lane !== undefined && lane.length > 0) msg = lane.shift() as M
      else if (mailbox.size > 0) msg = mailbox.shift()
      else break
      n++
      let result: unknown
      try {
        result = behavior.receive(msg, ctx)
      } catch (error) {
        this.failAskOf(msg, error)
        this.fail(error)
        return n
      }
      if (result !== undefined && isThenable(result)) {
        this.awaitHandler(result, msg)
        return n
      }
      this.processed++
      if (this.phase !== 'running') return n
    }
    if (this.hasMail()) this.wake()
    else if (this.drainWaiter !== undefined) this.checkDrained()
    return n
  }

  private wake(): void {
    if (this.scheduled || this.phase !== 'running' || this.inflight !== undefined) return
    this.scheduled = true
    this.system.dispatcher.schedule(this)
  }

  private hasMail(): boolean {
    return this.mailbox.size > 0 || (this.systemLane !== undefined && this.systemLane.length > 0)
  }

  private awaitHandler(result: PromiseLike<unknown>, msg: M): void {
    const incarnation = this.incarnation
    this.inflight = result
    result.then(
      () => this.handlerSettled(incarnation, result, undefined, false),
      (error) => {
        this.failAskOf(msg, error)
        this.handlerSettled(incarnation, result, error, true)
      },
    )
  }

  /**
   * An ask whose message failed its handler gets that error at once: whatever the supervisor decides,
   * this message will not be handled again, so waiting for the ask's timeout would only hide the cause.
   */
  private failAskOf(msg: M, error: unknown): void {
    if (this.asks === undefined) return
    for (const pending of this.asks) {
      if (pending.msg === msg) {
        pending.fail(error)
        return
      }
    }
  }

  private handlerSettled(
    incarnation: number,
    result: PromiseLike<unknown>,
    error: unknown,
    failed: boolean,
  ): void {
    if (this.inflight === result) this.inflight = undefined
    if (this.phase === 'stopped') return
    if (incarnation !== this.incarnation) {
      if (failed) this.reportCallbackFailed('receive (after its instance ended)', error)
      return
    }
    if (failed) {
      this.fail(error)
      return
    }
    this.processed++
    this.afterWork(incarnation)
  }

  /** Picks up after a handler or start hook of instance `incarnation` finished without failing. */
  private afterWork(incarnation: number): void {
    if (this.phase === 'running') {
      if (this.hasMail()) this.wake()
      else this.checkDrained()
    } else if (this.phase === 'exiting') {
      this.exitIfIdle(incarnation)
    }
  }

  /** A message for this actor from the runtime (timer, termination notice): not bounded by capacity. */
  deliverSystem(msg: M): void {
    if (this.phase === 'stopped') return
    if (this.systemLane === undefined) this.systemLane = []
    this.systemLane.push(msg)
    this.wake()
  }

  // ---- lifecycle of instances ----

  /** Creates and starts a new instance: the first one, or the next after a restart. */
  startInstance(restart: boolean, error: unknown): void {
    if (this.stopRequested) return // stopped while waiting for its start
    const incarnation = ++this.incarnation
    if (restart) this.restarts++
    this.phase = 'starting'
    this.escalated = false
    this.awaitingOwner = false
    const ctx = new ActorContextImpl(this, incarnation)
    this.ctx = ctx
    this.startedAt = this.system.clock.now()
    let hooks: unknown
    try {
      const behavior = this.factory()
      this.behavior = behavior
      if (restart && behavior.onRestart !== undefined) {
        hooks = behavior.onRestart(error, ctx)
        hooks = isThenable(hooks)
          ? Promise.resolve(hooks).then(() => behavior.onStart?.(ctx))
          : behavior.onStart?.(ctx)
      } else {
        hooks = behavior.onStart?.(ctx)
      }
    } catch (failure) {
      this.fail(failure)
      return
    }
    if (hooks === undefined || !isThenable(hooks)) {
      this.started(incarnation)
      return
    }
    const pending = hooks
    this.inflight = pending
    pending.then(
      () => {
        if (this.inflight === pending) this.inflight = undefined
        this.started(incarnation)
      },
      (failure) => {
        if (this.inflight === pending) this.inflight = undefined
        if (incarnation === this.incarnation) this.fail(failure)
        else this.reportCallbackFailed('onStart (after its instance ended)', failure)
      },
    )
  }

  private started(incarnation: number): void {
    if (incarnation !== this.incarnation) return
    if (this.phase === 'starting') {
      this.phase = 'running'
      this.afterWork(incarnation)
    } else if (this.phase === 'exiting') {
      this.exitIfIdle(incarnation)
    }
  }

  /** The current instance failed: suspend it and hand the decision to the supervisor. */
  fail(error: unknown): void {
    if (this.phase === 'stopped') return
    this.failures++
    this.lastError = error
    this.lastErrorAt = this.system.clock.now()
    if (this.phase === 'failed' || this.phase === 'restarting') return // its supervisor is on it already
    this.failedStarting = this.phase === 'starting'
    this.phase = 'failed'
    if (this.stopRequested) {
      this.checkDrained() // the stop under way ends it as failed
      return
    }
    if (this.supervisor === undefined) this.system.guardianFailed(error)
    else this.supervisor.childFailed(this as ActorCell<unknown>, this.incarnation, error)
  }

  lastFailure(): unknown {
    return this.lastError
  }

  /** The supervisor's `resume`: the same instance goes on with its next message. */
  resume(incarnation: number): void {
    if (incarnation !== this.incarnation || this.phase !== 'failed' || this.stopRequested) return
    this.phase = 'running'
    this.children?.ownerResumed()
    if (this.hasMail()) this.wake()
  }

  /** `ctx.stop()`: the instance is done once its current message is. */
  requestExit(incarnation: number): void {
    if (incarnation !== this.incarnation || (this.phase !== 'running' && this.phase !== 'starting')) return
    this.phase = 'exiting'
    queueMicrotask(() => this.exitIfIdle(incarnation))
  }

  private exitIfIdle(incarnation: number): void {
    if (incarnation !== this.incarnation || this.phase !== 'exiting' || this.inflight !== undefined) return
    if (this.stopRequested) this.checkDrained()
    else if (this.supervisor !== undefined)
      this.supervisor.childExited(this as ActorCell<unknown>, incarnation)
  }

  /** The supervisor's first step of a restart: stop handling mail and forget any earlier pending start. */
  beginRestart(): void {
    this.phase = 'restarting'
    this.pendingStart = undefined
  }

  /**
   * Ends the current instance: no more timers, spawns or watches for it; its in-flight handler finishes;
   * its children stop in reverse start order; then its `onStop`. The mailbox is left alone.
   */
  endInstance(reason: StopReason): Promise<void> {
    if (this.ending !== undefined) return this.ending
    const ending = this.runEnd(this.behavior, this.ctx, reason).finally(() => {
      if (this.ending === ending) this.ending = undefined
    })
    this.ending = ending
    return ending
  }

  private async runEnd(behavior: Behavior<M> | undefined, ctx: ActorContextImpl<M>, reason: StopReason) {
    ctx.close()
    this.cancelTimers()
    this.systemLane = undefined
    if (this.inflight !== undefined) await settled(this.inflight)
    const children = this.children
    if (children !== undefined) {
      await children.close()
      if (this.children === children) this.children = undefined
    }
    if (this.phase === 'stopped') return // abandoned meanwhile
    if (behavior?.onStop !== undefined) {
      try {
        await behavior.onStop(ctx, reason)
      } catch (error) {
        this.reportCallbackFailed('onStop', error)
      }
    }
    if (this.behavior === behavior) this.behavior = undefined
  }

  /** The instance did not end within the deadline: leave it to finish on its own, with its children killed. */
  abandonInstance(): void {
    this.system.noteKilled(`${this.path} (instance ${this.incarnation})`, this.options.shutdownMs)
    this.children?.kill()
    this.children = undefined
    this.behavior = undefined
    this.inflight = undefined
    this.ending = undefined
  }

  // ---- ending for good ----

  /** Stops for good, gracefully (see {@link ActorRef.stop}), within the actor's `shutdownMs`. */
  stop(): Promise<void> {
    return this.stopWithin(this.options.shutdownMs)
  }

  stopWithin(deadlineMs: number): Promise<void> {
    if (this.stopping === undefined) {
      if (this.phase === 'stopped') return resolved
      this.closeIntake()
      this.stopping = this.settleWithin(this.stopGracefully(), deadlineMs)
    }
    return this.stopping
  }

  /**
   * Ends for good without handling the remaining mail, after a failure the supervisor will not restart
   * from or a `ctx.stop()` exit; within the actor's `shutdownMs`.
   */
  finish(reason: StopReason, as: 'stopped' | 'failed', error?: unknown): Promise<void> {
    if (this.stopping === undefined) {
      if (this.phase === 'stopped') return resolved
      this.closeIntake()
      const work = this.endInstance(reason).then(() => this.terminate(as, error))
      this.stopping = this.settleWithin(work, this.options.shutdownMs)
    }
    return this.stopping
  }

  private closeIntake(): void {
    this.stopRequested = true
    this.pendingStart = undefined
    this.mailbox.rejectWaiters(this.stoppedError())
    this.cancelTimers()
  }

  private async settleWithin(work: Promise<void>, deadlineMs: number): Promise<void> {
    work.catch((error) => this.reportCallbackFailed('stop', error))
    if (!(await withDeadline(this.whenTerminated(), this.system.clock, deadlineMs))) this.kill(deadlineMs)
  }

  private async stopGracefully(): Promise<void> {
    if (this.phase === 'starting' || this.phase === 'running') {
      await new Promise<void>((resolve) => {
        this.drainWaiter = resolve
        this.checkDrained()
      })
    }
    if (this.phase === 'stopped') return
    const failed = this.phase === 'failed'
    const error = this.lastError
    await this.endInstance(failed ? { kind: 'failed', error } : { kind: 'stopped' })
    this.terminate(failed ? 'failed' : 'stopped', failed ? error : undefined)
  }

  /** Wakes a graceful stop once every accepted message is handled, or handling became impossible. */
  private checkDrained(): void {
    const waiter = this.drainWaiter
    if (waiter === undefined) return
    if (this.phase === 'starting') return
    if (this.phase === 'running' && (this.inflight !== undefined || this.hasMail())) return
    this.drainWaiter = undefined
    waiter()
  }

  /** Its deadline passed: abandon it and everything under it. Whatever its code still does is ignored. */
  kill(deadlineMs: number): void {
    if (this.phase === 'stopped') return
    this.system.noteKilled(this.path, deadlineMs)
    this.children?.kill()
    this.terminate('killed')
  }

  private terminate(reason: Termination['reason'], error?: unknown): void {
    if (this.phase === 'stopped') return
    this.phase = 'stopped'
    this.stopRequested = true
    this.pendingStart = undefined
    this.ctx.close()
    this.cancelTimers()
    this.systemLane = undefined
    this.inflight = undefined
    this.behavior = undefined
    const stopped = this.stoppedError()
    this.mailbox.rejectWaiters(stopped)
    const dropped = this.mailbox.clear()
    const asks = this.asks
    this.asks = undefined
    if (asks !== undefined) for (const pending of asks) pending.fail(stopped)
    const termination: Termination =
      error === undefined
        ? { path: this.path, name: this.name, reason, dropped }
        : { path: this.path, name: this.name, reason, error, dropped }
    this.termination = termination
    this.supervisor?.childTerminated(this as ActorCell<unknown>)
    this.system.unregister(this as ActorCell<unknown>)
    if (reason !== 'stopped' || dropped > 0) {
      this.system.report({
        type: 'actor-terminated',
        at: this.system.clock.now(),
        path: this.path,
        termination,
      })
    }
    const watchers = this.watchers
    this.watchers = undefined
    if (watchers !== undefined) for (const entry of watchers) entry.notify(termination)
    const waiters = this.terminatedWaiters
    this.terminatedWaiters = undefined
    if (waiters !== undefined) for (const wake of waiters) wake()
  }

  /** Resolves once the actor has ended for good. */
  whenTerminated(): Promise<void> {
    if (this.phase === 'stopped') return resolved
    return new Promise((resolve) => {
      if (this.terminatedWaiters === undefined) this.terminatedWaiters = []
      this.terminatedWaiters.push(resolve)
    })
  }

  // ---- what the context offers ----

  spawnChild<C>(name: string, factory: () => Behavior<C>, options: SpawnOptions | undefined): ActorRef<C> {
    if (this.children === undefined) this.children = new Supervisor(this as ActorCell<unknown>)
    return this.children.spawn(name, factory, options)
  }

  scheduleOnce(delayMs: number, msg: M): Cancellable {
    if (this.timers === undefined) this.timers = new Set()
    const entry = new TimerEntry(this, msg)
    this.timers.add(entry)
    entry.handle = this.system.clock.schedule(delayMs, () => entry.fire())
    return entry
  }

  /** @internal for TimerEntry: true when `entry` was still pending. */
  takeTimer(entry: TimerEntry<M>): boolean {
    return this.timers?.delete(entry) ?? false
  }

  private cancelTimers(): void {
    const timers = this.timers
    this.timers = undefined
    if (timers !== undefined) for (const entry of timers) entry.handle?.cancel()
  }

  addWatcher(entry: WatchEntry): void {
    if (this.termination !== undefined) {
      entry.notify(this.termination)
      return
    }
    if (this.watchers === undefined) this.watchers = []
    this.watchers.push(entry)
  }

  removeWatcher(entry: WatchEntry): void {
    const at = this.watchers?.indexOf(entry) ?? -1
    if (at >= 0) this.watchers?.splice(at, 1)
  }

  registerAsk(pending: PendingAsk<M, unknown>): void {
    if (this.asks === undefined) this.asks = new Set()
    this.asks.add(pending)
  }

  unregisterAsk(pending: PendingAsk<M, unknown>): void {
    this.asks?.delete(pending)
  }

  // ---- inspection and errors ----

  status(): ActorStatus {
    if (this.phase === 'stopped') return 'stopped'
    if (this.stopRequested || this.phase === 'exiting') return 'stopping'
    return this.phase
  }

  snapshot(): ActorSnapshot {
    const snapshot: ActorSnapshot = {
      path: this.path,
      name: this.name,
      status: this.status(),
      mailboxDepth: this.mailbox.size,
      mailboxCapacity: this.mailbox.capacity,
      processed: this.processed,
      failures: this.failures,
      restarts: this.restarts,
    }
    if (this.lastErrorAt !== undefined) {
      const code = (this.lastError as { code?: unknown } | null)?.code
      snapshot.lastError = {
        message: errorMessage(this.lastError),
        ...(typeof code === 'string' ? { code } : {}),
        at: new Date(this.lastErrorAt).toISOString(),
      }
    }
    return snapshot
  }

  stoppedError(): BatonError {
    return new BatonError(
      'ACTOR_STOPPED',
      `Actor ${this.path} is stopped or stopping and accepts no more messages. ` +
        'Look it up again by path (it may have been replaced), or stop sending to it.',
    )
  }

  fullError(waitersToo: boolean): BatonError {
    const n = this.mailbox.capacity
    return new BatonError(
      'MAILBOX_FULL',
      waitersToo
        ? `Mailbox of ${this.path} is full (${n} messages) and ${n} senders already wait for room. Await each send() before the next.`
        : `Mailbox of ${this.path} is full (${n} messages): the actor is slower than its senders. Use send() to wait for room, or raise mailboxCapacity.`,
    )
  }

  private reportCallbackFailed(callback: string, error: unknown): void {
    this.system.report({
      type: 'callback-failed',
      at: this.system.clock.now(),
      path: this.path,
      callback,
      error,
    })
  }
}

/** A `ctx.scheduleOnce` timer: delivers its message unless cancelled or its instance ended first. */
class TimerEntry<M> implements Cancellable {
  handle: Cancellable | undefined

  constructor(
    private readonly cell: ActorCell<M>,
    private readonly msg: M,
  ) {}

  fire(): void {
    if (this.cell.takeTimer(this)) this.cell.deliverSystem(this.msg)
  }

  cancel(): void {
    if (this.cell.takeTimer(this)) this.handle?.cancel()
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function'
}

function settled(work: PromiseLike<unknown>): Promise<void> {
  return Promise.resolve(work).then(noop, noop)
}

function noop(): void {}
