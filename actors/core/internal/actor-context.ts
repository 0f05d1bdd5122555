import type { ActorSystem } from '../actor-system.ts'
import type { Cancellable, Clock } from '../clock.ts'
import { BatonError } from '../errors.ts'
import type { ActorContext, ActorRef, Behavior, SpawnOptions, Termination } from '../types.ts'
import type { ActorCell } from './actor-cell.ts'
import { LocalActorRef } from './actor-ref.ts'

const resolved: Promise<void> = Promise.resolve()
const noTimer: Cancellable = Object.freeze({ cancel() {} })

/** One watch: `watcher`'s instance `ctx` wants `toMessage(termination)` when `target` ends. */
export class WatchEntry {
  constructor(
    private readonly ctx: ActorContextImpl<unknown>,
    readonly target: ActorCell<unknown>,
    public toMessage: (termination: Termination) => unknown,
  ) {}

  notify(termination: Termination): void {
    this.ctx.deliverTermination(this, termination)
  }
}

/** The context of one instance of an actor; closed when the instance ends. */
export class ActorContextImpl<M> implements ActorContext<M> {
  closed = false
  private controller: AbortController | undefined
  private watching: Map<ActorCell<unknown>, WatchEntry> | undefined

  constructor(
    private readonly cell: ActorCell<M>,
    readonly incarnation: number,
  ) {}

  get self(): ActorRef<M> {
    return this.cell.ref
  }

  get path(): string {
    return this.cell.path
  }

  get name(): string {
    return this.cell.name
  }

  get system(): ActorSystem {
    return this.cell.system.system
  }

  get clock(): Clock {
    return this.cell.system.clock
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController()
      if (this.closed) this.controller.abort(this.endedError())
    }
    return this.controller.signal
  }

  spawn<C>(name: string, factory: () => Behavior<C>, options?: SpawnOptions): ActorRef<C> {
    if (this.closed) {
      throw new BatonError(
        'ACTOR_STOPPED',
        `${this.cell.path} cannot spawn '${name}': this instance of the actor has ended (it is restarting or stopping). Spawn children from onStart or receive of the current instance.`,
      )
    }
    return this.cell.spawnChild(name, factory, options)
  }

  child<C>(name: string): ActorRef<C> | undefined {
    return this.cell.children?.get(name)?.ref as ActorRef<C> | undefined
  }

  stopChild(name: string): Promise<void> {
    return this.cell.children?.get(name)?.stop() ?? resolved
  }

  scheduleOnce(delayMs: number, msg: M): Cancellable {
    if (this.closed) return noTimer
    return this.cell.scheduleOnce(delayMs, msg)
  }

  watch<T>(ref: ActorRef<T>, toMessage: (termination: Termination) => M): void {
    if (this.closed) return
    const target = cellOf(ref)
    if (this.watching === undefined) this.watching = new Map()
    const existing = this.watching.get(target)
    if (existing !== undefined) {
      existing.toMessage = toMessage
      return
    }
    const entry = new WatchEntry(this as ActorContextImpl<unknown>, target, toMessage)
    this.watching.set(target, entry)
    target.addWatcher(entry)
  }

  unwatch<T>(ref: ActorRef<T>): void {
    const target = cellOf(ref)
    const entry = this.watching?.get(target)
    if (entry === undefined) return
    this.watching?.delete(target)
    target.removeWatcher(entry)
  }

  stop(): void {
    this.cell.requestExit(this.incarnation)
  }

  /** @internal a watched actor ended. */
  deliverTermination(entry: WatchEntry, termination: Termination): void {
    if (this.closed || this.watching?.get(entry.target) !== entry) return
    this.watching.delete(entry.target)
    let msg: M
    try {
      msg = entry.toMessage(termination) as M
    } catch (error) {
      this.cell.system.report({
        type: 'callback-failed',
        at: this.cell.system.clock.now(),
        path: this.cell.path,
        callback: `watch of ${termination.path}`,
        error,
      })
      return
    }
    this.cell.deliverSystem(msg)
  }

  /** The instance ended: abort its signal and drop its watches. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.controller?.abort(this.endedError())
    const watching = this.watching
    this.watching = undefined
    if (watching !== undefined) for (const [target, entry] of watching) target.removeWatcher(entry)
  }

  private endedError(): BatonError {
    return new BatonError('ACTOR_STOPPED', `This instance of ${this.cell.path} has ended (restart or stop).`)
  }
}

function cellOf<T>(ref: ActorRef<T>): ActorCell<unknown> {
  if (ref instanceof LocalActorRef) return ref.cell as ActorCell<unknown>
  throw new BatonError(
    'ACTOR_NOT_FOUND',
    `Cannot watch ${ref.path}: only actors of this process can be watched. Use the ref from spawn or system.lookup.`,
  )
}
