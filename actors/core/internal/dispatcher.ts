/** Something with messages to handle: an actor. `run` handles up to `budget` and returns how many it did. */
export interface Runnable {
  run(budget: number): number
}

/**
 * Runs actors that have mail, one after another, on a microtask: a message costs a queue push and a
 * function call, never a promise or a timer.
 *
 * Fairness: an actor handles at most `throughput` messages per turn, then goes to the back of the line.
 * Microtasks starve timers and I/O, so after `yieldAfter` messages within one event-loop turn (two actors
 * playing ping-pong would otherwise never let go) the rest waits for the next turn (`setImmediate`).
 */
export class Dispatcher {
  private ready: (Runnable | undefined)[] = []
  private head = 0
  private pending = false
  private handledThisTurn = 0
  private turnResetPending = false

  constructor(
    private readonly throughput = 512,
    private readonly yieldAfter = 20_000,
  ) {}

  /** Queues `actor` to run; the caller makes sure it is not queued twice. */
  schedule(actor: Runnable): void {
    this.ready.push(actor)
    if (this.pending) return
    this.pending = true
    if (this.handledThisTurn >= this.yieldAfter) setImmediate(this.drain)
    else queueMicrotask(this.drain)
  }

  private readonly drain = (): void => {
    const ready = this.ready
    while (this.head < ready.length) {
      if (this.handledThisTurn >= this.yieldAfter) {
        ready.splice(0, this.head)
        this.head = 0
        setImmediate(this.drain)
        return
      }
      const actor = ready[this.head] as Runnable
      ready[this.head++] = undefined
      this.handledThisTurn += actor.run(this.throughput)
      if (!this.turnResetPending) {
        this.turnResetPending = true
        setImmediate(this.resetTurn)
      }
    }
    ready.length = 0
    this.head = 0
    this.pending = false
  }

  private readonly resetTurn = (): void => {
    this.turnResetPending = false
    this.handledThisTurn = 0
  }
}
