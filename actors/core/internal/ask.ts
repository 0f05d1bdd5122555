import type { Cancellable } from '../clock.ts'
import { BatonError } from '../errors.ts'
import type { AskOptions } from '../types.ts'
import type { ActorCell } from './actor-cell.ts'
import type { Waiter } from './mailbox.ts'

export const defaultAskTimeoutMs = 5_000

/** One ask in flight, registered with the asked actor so that its end rejects the ask at once. */
export class PendingAsk<M, R> {
  private done = false
  private timer: Cancellable | undefined
  private waiter: Waiter<M> | undefined
  private signal: AbortSignal | undefined
  /** The message this ask put in the mailbox: a failure while handling it fails the ask at once. */
  msg: M | undefined
  private readonly onAbort = () => this.fail(abortedError(this.cell.path, this.signal?.reason))

  constructor(
    private readonly cell: ActorCell<M>,
    private readonly resolve: (value: R) => void,
    private readonly reject: (error: unknown) => void,
  ) {}

  start(make: (reply: (value: R) => void) => M, options: AskOptions | undefined): void {
    const timeoutMs = options?.timeoutMs ?? defaultAskTimeoutMs
    const signal = options?.signal
    if (!(timeoutMs > 0)) {
      const problem = `ask ${this.cell.path}: timeoutMs must be positive (Infinity for no limit), got ${timeoutMs}`
      this.fail(new BatonError('ACTOR_OPTIONS_INVALID', problem))
    } else if (signal?.aborted) {
      this.fail(abortedError(this.cell.path, signal.reason))
    } else {
      try {
        this.enqueue(make((value) => this.reply(value)))
      } catch (error) {
        this.fail(error)
      }
    }
    if (this.done) return // failed, or `make` replied on the spot
    this.cell.registerAsk(this as PendingAsk<M, unknown>)
    if (timeoutMs !== Number.POSITIVE_INFINITY) {
      this.timer = this.cell.system.clock.schedule(timeoutMs, () => this.fail(this.timeoutError(timeoutMs)))
    }
    if (signal !== undefined) {
      this.signal = signal
      signal.addEventListener('abort', this.onAbort, { once: true })
    }
  }

  private enqueue(msg: M): void {
    if (this.done) return
    this.msg = msg
    const offered = this.cell.offer(msg)
    if (offered === 'stopped') {
      this.fail(this.cell.stoppedError())
    } else if (offered === 'full') {
      const waiter: Waiter<M> = { msg, admit: noop, reject: (error) => this.fail(error), done: false }
      if (this.cell.mailbox.wait(waiter)) this.waiter = waiter
      else this.fail(this.cell.fullError(true))
    }
  }

  reply(value: R): void {
    if (this.settle()) this.resolve(value)
  }

  fail(error: unknown): void {
    if (this.settle()) this.reject(error)
  }

  /** Marks the ask done and releases what it holds; false when it was done already. */
  private settle(): boolean {
    if (this.done) return false
    this.done = true
    this.timer?.cancel()
    if (this.waiter !== undefined) this.cell.mailbox.cancel(this.waiter)
    this.signal?.removeEventListener('abort', this.onAbort)
    this.cell.unregisterAsk(this as PendingAsk<M, unknown>)
    return true
  }

  private timeoutError(timeoutMs: number): BatonError {
    const { status, mailboxDepth } = this.cell.snapshot()
    return new BatonError(
      'ASK_TIMEOUT',
      `No reply from ${this.cell.path} within ${timeoutMs} ms (status ${status}, ${mailboxDepth} messages queued). ` +
        'The actor may be busy or restarting, or its handler did not call reply: check its snapshot, or raise timeoutMs.',
    )
  }
}

/** {@link ActorRef.ask} for a local actor. */
export function ask<M, R>(
  cell: ActorCell<M>,
  make: (reply: (value: R) => void) => M,
  options: AskOptions | undefined,
): Promise<R> {
  return new Promise<R>((resolve, reject) => new PendingAsk<M, R>(cell, resolve, reject).start(make, options))
}

function abortedError(path: string, reason: unknown): BatonError {
  return new BatonError('ASK_ABORTED', `The ask to ${path} was aborted by its signal before a reply came.`, {
    cause: reason,
  })
}

function noop(): void {}
