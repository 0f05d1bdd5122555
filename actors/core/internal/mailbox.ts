import { RingBuffer } from './ring-buffer.ts'

/** A sender waiting for mailbox room (`send` or `ask` on a full mailbox). */
export interface Waiter<M> {
  readonly msg: M
  /** The message is in the mailbox now. */
  admit(): void
  /** The message will never get in (the actor stopped). */
  reject(error: unknown): void
  /** Admitted, rejected or cancelled: the mailbox no longer holds it. */
  done: boolean
}

/**
 * A bounded mailbox: at most `capacity` messages, plus at most `capacity` senders waiting for room, each
 * holding one message. While anyone waits, the mailbox counts as full for everyone else, so a waiting
 * message is never overtaken and per-sender order holds whichever call each message came through.
 */
export class Mailbox<M> {
  private readonly queue: RingBuffer<M>
  private waiters: RingBuffer<Waiter<M>> | undefined
  private liveWaiters = 0

  constructor(readonly capacity: number) {
    this.queue = new RingBuffer<M>(capacity)
  }

  get size(): number {
    return this.queue.size
  }

  get waiting(): number {
    return this.liveWaiters
  }

  /** Queues `msg` if there is room and nobody is waiting for room; false otherwise. */
  offer(msg: M): boolean {
    if (this.liveWaiters > 0) return false
    return this.queue.push(msg)
  }

  /** Puts `waiter` in line for room; false when the line is full too. */
  wait(waiter: Waiter<M>): boolean {
    if (this.waiters === undefined) this.waiters = new RingBuffer<Waiter<M>>(this.capacity)
    if (this.waiters.isFull) this.compactWaiters()
    if (!this.waiters.push(waiter)) return false
    this.liveWaiters++
    return true
  }

  /** Takes `waiter` out of line (its ask timed out or was aborted); it stays queued until skipped. */
  cancel(waiter: Waiter<M>): void {
    if (waiter.done) return
    waiter.done = true
    this.liveWaiters--
  }

  /** Removes the oldest message, letting the first waiter in. The caller checks `size > 0` first. */
  shift(): M {
    const msg = this.queue.shift() as M
    if (this.liveWaiters > 0) this.admitNext()
    return msg
  }

  /** Rejects every waiter with `error`; returns how many there were. */
  rejectWaiters(error: unknown): number {
    const waiters = this.waiters
    if (waiters === undefined) return 0
    let n = 0
    waiters.drain((w) => {
      if (w.done) return
      w.done = true
      n++
      w.reject(error)
    })
    this.liveWaiters = 0
    return n
  }

  /** Empties the mailbox; returns how many messages were dropped. */
  clear(): number {
    return this.queue.drain()
  }

  private admitNext(): void {
    const waiters = this.waiters as RingBuffer<Waiter<M>>
    for (let w = waiters.shift(); w !== undefined; w = waiters.shift()) {
      if (w.done) continue
      w.done = true
      this.liveWaiters--
      this.queue.push(w.msg)
      w.admit()
      return
    }
  }

  private compactWaiters(): void {
    const waiters = this.waiters as RingBuffer<Waiter<M>>
    const live: Waiter<M>[] = []
    waiters.drain((w) => {
      if (!w.done) live.push(w)
    })
    for (const w of live) waiters.push(w)
  }
}
