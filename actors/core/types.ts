import type { ActorSystem } from './actor-system.ts'
import type { Cancellable, Clock } from './clock.ts'
import type { RestartKind, SupervisorSpec } from './supervision.ts'

/**
 * What an actor does: a closed protocol `M` (a discriminated union) handled one message at a time.
 * A factory creates a fresh Behavior on every start and restart, so state kept in it (closures or
 * fields) resets with each restart.
 *
 * Every hook runs inside the actor: never at the same time as another hook or `receive` of the same
 * actor. A hook or `receive` that returns a promise holds the actor until it settles; one that returns
 * nothing lets the next message through at once (no promise is made for it).
 *
 * @example
 * type CounterMsg = { type: 'add'; n: number } | { type: 'get'; reply: (total: number) => void }
 * const counter = (): Behavior<CounterMsg> => {
 *   let total = 0
 *   return {
 *     receive(msg) {
 *       switch (msg.type) {
 *         case 'add': total += msg.n; return
 *         case 'get': msg.reply(total); return
 *         default: return exhaustive(msg)
 *       }
 *     },
 *   }
 * }
 * const ref = system.spawn('counter', counter)
 * ref.tell({ type: 'add', n: 2 })
 * const total = await ref.ask<number>((reply) => ({ type: 'get', reply }))
 */
export interface Behavior<M> {
  /** Handles one message. A throw or a rejected promise is a failure, which the supervisor decides about. */
  receive(msg: M, ctx: ActorContext<M>): void | Promise<void>
  /** Runs before the first message of every instance (also after a restart, after `onRestart`). */
  onStart?(ctx: ActorContext<M>): void | Promise<void>
  /**
   * Runs once when an instance ends, after its children have stopped and its timers were cancelled:
   * before a restart (`reason.kind === 'restart'`, with the failure) and when the actor stops for good.
   * Errors thrown here are reported and otherwise ignored.
   */
  onStop?(ctx: ActorContext<M>, reason: StopReason): void | Promise<void>
  /** Runs on the fresh instance that replaces a failed one, with that failure, before `onStart`. */
  onRestart?(error: unknown, ctx: ActorContext<M>): void | Promise<void>
}

/** Why an actor instance is ending, as `onStop` sees it. */
export type StopReason =
  /** Stopped from outside: `ref.stop()`, `ctx.stopChild`, its parent stopping, or shutdown. */
  | { readonly kind: 'stopped' }
  /** It called `ctx.stop()` and is not restarted (restart kind transient or temporary). */
  | { readonly kind: 'exited' }
  /** A fresh instance follows. `error` is the failure; undefined when a permanent actor exited on its own. */
  | { readonly kind: 'restart'; readonly error: unknown }
  /** It failed and is not restarted (the decider said stop, or restart kind temporary). */
  | { readonly kind: 'failed'; readonly error: unknown }

/** Options of {@link ActorRef.ask}. */
export interface AskOptions {
  /** How long to wait for the reply, including any wait for mailbox room; default 5000. `Infinity`: no limit. */
  timeoutMs?: number
  /** Aborting it rejects the ask with ASK_ABORTED (and takes a waiting message back out of line). */
  signal?: AbortSignal
}

/**
 * The handle to an actor. It stays valid across restarts (the mailbox survives them) and is safe to keep.
 *
 * Delivery: messages from one sender are handled in the order sent. Every message accepted into the
 * mailbox is handled, unless the actor ends abnormally first (it failed and was not restarted, exited with
 * `ctx.stop()`, or was abandoned at a shutdown deadline): then the unhandled messages are counted in its
 * {@link Termination}, and pending asks reject with ACTOR_STOPPED.
 */
export interface ActorRef<M> {
  readonly path: string
  /**
   * Queues `msg` and returns at once. Throws BatonError MAILBOX_FULL when the mailbox is full (or senders
   * are already waiting for room), ACTOR_STOPPED once the actor is stopping or stopped.
   */
  tell(msg: M): void
  /**
   * Queues `msg`, waiting for room when the mailbox is full: backpressure. Resolves once the message is in
   * the mailbox (not once it is handled). Rejects ACTOR_STOPPED when the actor stops first, MAILBOX_FULL
   * when as many senders as the mailbox capacity are already waiting (await each send to never see it).
   */
  send(msg: M): Promise<void>
  /**
   * Request-reply: `make` builds the message around a `reply` callback, which the actor (or anyone it hands
   * the callback to) calls once; later calls are ignored. Waits for mailbox room like `send`.
   * Rejects ASK_TIMEOUT, ASK_ABORTED, or ACTOR_STOPPED if the actor ends before replying.
   *
   * @example
   * const status = await ref.ask<Status>((reply) => ({ type: 'status', reply }), { timeoutMs: 1000 })
   */
  ask<R>(make: (reply: (value: R) => void) => M, options?: AskOptions): Promise<R>
  /**
   * Stops the actor for good, gracefully: no new messages are accepted; those already accepted are handled;
   * then its children stop (in reverse start order), then its `onStop` runs. An actor not done within its
   * `shutdownMs` is abandoned (reported, its remaining mail dropped). Resolves when it has ended, either
   * way; never rejects. Calling it again returns the same promise. An actor must not await its own stop.
   */
  stop(): Promise<void>
  snapshot(): ActorSnapshot
  /** Messages waiting in the mailbox (not counting senders waiting for room). */
  readonly mailboxDepth: number
  readonly mailboxCapacity: number
}

/**
 * The actor's view of itself and the runtime, valid for one instance: once the instance ends (restart or
 * stop) `spawn` throws ACTOR_STOPPED, and `scheduleOnce` and `watch` do nothing.
 */
export interface ActorContext<M> {
  readonly self: ActorRef<M>
  readonly path: string
  readonly name: string
  readonly system: ActorSystem
  readonly clock: Clock
  /** Aborted when this instance ends (restart or stop): pass it to I/O started by the actor. */
  readonly signal: AbortSignal
  /**
   * Starts a child supervised by this actor (by its `supervision` spec) at `<path>/<name>`. It starts at
   * once: its factory and `onStart` are called in spawn order. Throws ACTOR_NAME_TAKEN while a child of that
   * name exists (await `stopChild` before reusing a name), ACTOR_NAME_INVALID, ACTOR_OPTIONS_INVALID.
   */
  spawn<C>(name: string, factory: () => Behavior<C>, options?: SpawnOptions): ActorRef<C>
  child<C>(name: string): ActorRef<C> | undefined
  /** Stops a child for good (see {@link ActorRef.stop}); resolves at once when there is no such child. */
  stopChild(name: string): Promise<void>
  /**
   * Delivers `msg` to this actor after `delayMs`, ahead of mail already queued. Cancelled automatically
   * when this instance ends; cancelling after delivery does nothing.
   */
  scheduleOnce(delayMs: number, msg: M): Cancellable
  /**
   * When `ref`'s actor ends for good, this actor receives `toMessage(termination)`, ahead of queued mail
   * (immediately if it has already ended). A restart is not an end. Watching a child is how a parent
   * learns that the child was stopped after failing (e.g. its own supervisor gave up).
   */
  watch<T>(ref: ActorRef<T>, toMessage: (termination: Termination) => M): void
  unwatch<T>(ref: ActorRef<T>): void
  /**
   * This actor is done (a normal exit, after the current message): a permanent actor is restarted, others
   * end and their remaining mail is dropped (counted in the termination).
   */
  stop(): void
}

/** Options of a spawned actor; all optional, defaults written here. */
export interface SpawnOptions {
  /** Bound of the mailbox; default 1000. */
  mailboxCapacity?: number
  /** See {@link RestartKind}; default 'permanent'. */
  restart?: RestartKind
  /** How long its stop may take (handling queued mail, stopping its children, `onStop`); default 5000. */
  shutdownMs?: number
  /** How it supervises its own children; see {@link SupervisorSpec}. */
  supervision?: SupervisorSpec
}

/** `failed`: its supervisor is deciding; `restarting`: between instances (stopping one, backoff, starting the next). */
export type ActorStatus = 'starting' | 'running' | 'failed' | 'restarting' | 'stopping' | 'stopped'

/** What an actor is doing, as JSON-ready data (it backs GET /v1/actors). */
export interface ActorSnapshot {
  path: string
  name: string
  status: ActorStatus
  mailboxDepth: number
  mailboxCapacity: number
  /** Messages handled without failure, over all instances. */
  processed: number
  /** Failures of `receive` and of the start hooks, over all instances. */
  failures: number
  restarts: number
  lastError?: { message: string; code?: string; at: string }
}

export interface ActorTreeNode extends ActorSnapshot {
  children: ActorTreeNode[]
}

/** How an actor ended for good, as watchers receive it. */
export interface Termination {
  readonly path: string
  readonly name: string
  /**
   * `stopped`: from outside, or by its own `ctx.stop()`; `failed`: after a failure it was not restarted
   * from (the error is in `error`, SUPERVISOR_INTENSITY_EXCEEDED when it was a supervisor that gave up);
   * `killed`: it did not stop within its deadline and was abandoned.
   */
  readonly reason: 'stopped' | 'failed' | 'killed'
  readonly error?: unknown
  /** Messages accepted into its mailbox but never handled. */
  readonly dropped: number
}
