import { errorMessage } from './errors.ts'
import type { Directive } from './supervision.ts'
import type { Termination } from './types.ts'

/**
 * What the actor system reports: each failure once, structured, naming the actor. `at` is the system
 * clock's reading. Metrics and logs subscribe through the system's `onEvent` option.
 */
export type ActorEvent =
  /** `receive` or a start hook failed; `directive` is what its supervisor decided. */
  | { type: 'actor-failed'; at: number; path: string; error: unknown; directive: Directive }
  /**
   * `supervisor` decided to restart `path` (after `delayMs` of backoff) because `cause` failed or exited:
   * the same actor, or a sibling under one-for-all / rest-for-one. One decision counts once towards the
   * supervisor's intensity, however many children it restarts.
   */
  | { type: 'actor-restarting'; at: number; path: string; supervisor: string; cause: string; delayMs: number }
  /** `path` (a supervisor) restarted children more than `intensity` times within `periodMs` and gives up. */
  | {
      type: 'intensity-exceeded'
      at: number
      path: string
      child: string
      restarts: number
      intensity: number
      periodMs: number
      error: unknown
    }
  /** An actor ended other than by a clean stop: it failed, was abandoned, or left mail unhandled. */
  | { type: 'actor-terminated'; at: number; path: string; termination: Termination }
  /** An actor did not stop within its deadline and was abandoned. */
  | { type: 'actor-killed'; at: number; path: string; deadlineMs: number }
  /** A callback the runtime calls failed: `onStop`, a watch's message builder, or a decider. */
  | { type: 'callback-failed'; at: number; path: string; callback: string; error: unknown }
  /** The top-level supervisor gave up: the system shuts down. */
  | { type: 'system-failed'; at: number; path: string; error: unknown }

/** The default `onEvent`: one JSON line on stderr per event. */
export function writeEventToStderr(event: ActorEvent): void {
  process.stderr.write(`${JSON.stringify(eventToJson(event))}\n`)
}

/** The event with errors turned into `{ message, code }`, ready for JSON. */
export function eventToJson(event: ActorEvent): Record<string, unknown> {
  const json: Record<string, unknown> = {
    ...event,
    level: event.type === 'actor-restarting' ? 'info' : 'error',
  }
  if ('error' in event) json.error = errorToJson(event.error)
  if (event.type === 'actor-terminated' && event.termination.error !== undefined) {
    json.termination = { ...event.termination, error: errorToJson(event.termination.error) }
  }
  return json
}

function errorToJson(error: unknown): { message: string; code?: string } {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' ? { message: errorMessage(error), code } : { message: errorMessage(error) }
}
