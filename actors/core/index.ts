/**
 * The actor core: supervised actors with bounded mailboxes, an actor system addressed by paths, and a
 * clock that tests control. It imports nothing from Kafka, PostgreSQL or Redis. The machinery lives in
 * `internal/` and is not part of the API.
 */
export {
  ActorSystem,
  type ActorSystemOptions,
  type ShutdownResult,
  type SystemTermination,
} from './actor-system.ts'
export { type Backoff, type BackoffOptions, backoff, type Retries, retries } from './backoff.ts'
export { type Cancellable, type Clock, every, realClock, sleep } from './clock.ts'
export { type ActorEvent, eventToJson, writeEventToStderr } from './events.ts'
export { exhaustive } from './exhaustive.ts'
export { addRestart } from './intensity.ts'
export { defaultAskTimeoutMs } from './internal/ask.ts'
export { withDeadline } from './internal/deadline.ts'
export { spawnDefaults } from './internal/spawn-options.ts'
export { flush, ManualClock } from './manual-clock.ts'
export {
  type Decider,
  type Directive,
  type FailedChild,
  type RestartKind,
  restartOnError,
  type Strategy,
  type SupervisorSpec,
  supervisorDefaults,
} from './supervision.ts'
export type {
  ActorContext,
  ActorRef,
  ActorSnapshot,
  ActorStatus,
  ActorTreeNode,
  AskOptions,
  Behavior,
  SpawnOptions,
  StopReason,
  Termination,
} from './types.ts'
