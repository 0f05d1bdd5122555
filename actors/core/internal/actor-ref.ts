import type { ActorRef, ActorSnapshot, AskOptions } from '../types.ts'
import type { ActorCell } from './actor-cell.ts'
import { ask } from './ask.ts'

/** The ActorRef handed out for an actor of this process: a thin handle on its cell. */
export class LocalActorRef<M> implements ActorRef<M> {
  /** @internal the runtime's side of the actor; not part of the API. */
  readonly cell: ActorCell<M>

  constructor(cell: ActorCell<M>) {
    this.cell = cell
  }

  get path(): string {
    return this.cell.path
  }

  tell(msg: M): void {
    this.cell.tell(msg)
  }

  send(msg: M): Promise<void> {
    return this.cell.send(msg)
  }

  ask<R>(make: (reply: (value: R) => void) => M, options?: AskOptions): Promise<R> {
    return ask(this.cell, make, options)
  }

  stop(): Promise<void> {
    return this.cell.stop()
  }

  snapshot(): ActorSnapshot {
    return this.cell.snapshot()
  }

  get mailboxDepth(): number {
    return this.cell.mailbox.size
  }

  get mailboxCapacity(): number {
    return this.cell.mailbox.capacity
  }

  toString(): string {
    return `ActorRef(${this.cell.path})`
  }

  toJSON(): string {
    return this.cell.path
  }
}
