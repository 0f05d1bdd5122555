import type { ActorSystem } from '../actor-system.ts'
import type { Clock } from '../clock.ts'
import type { ActorEvent } from '../events.ts'
import type { ActorCell } from './actor-cell.ts'
import { Dispatcher } from './dispatcher.ts'

/** What every actor of one system shares: its clock, dispatcher, registry of paths and event sink. */
export class SystemRuntime {
  readonly dispatcher = new Dispatcher()
  private readonly cells = new Map<string, ActorCell<unknown>>()
  private killed: string[] | undefined

  constructor(
    readonly system: ActorSystem,
    readonly clock: Clock,
    readonly random: () => number,
    private readonly onEvent: (event: ActorEvent) => void,
    private readonly onGuardianFailed: (error: unknown) => void,
  ) {}

  report(event: ActorEvent): void {
    try {
      this.onEvent(event)
    } catch {
      // A broken event sink must not break supervision; there is nowhere left to report it.
    }
  }

  register(cell: ActorCell<unknown>): void {
    this.cells.set(cell.path, cell)
  }

  unregister(cell: ActorCell<unknown>): void {
    if (this.cells.get(cell.path) === cell) this.cells.delete(cell.path)
  }

  lookup(path: string): ActorCell<unknown> | undefined {
    return this.cells.get(path)
  }

  /** An actor did not stop within `deadlineMs` and is being abandoned. */
  noteKilled(path: string, deadlineMs: number): void {
    this.killed?.push(path)
    this.report({ type: 'actor-killed', at: this.clock.now(), path, deadlineMs })
  }

  /** From now on, the paths of abandoned actors are collected into the returned list (for shutdown). */
  collectKilled(): string[] {
    this.killed ??= []
    return this.killed
  }

  /** The root guardian failed: the top-level supervisor gave up, or a top-level failure escalated. */
  guardianFailed(error: unknown): void {
    this.onGuardianFailed(error)
  }
}
