import { isBatonError, isRetryable } from '../core/errors.ts'
import { PoisonEventError } from '../pipeline.ts'

/**
 * What a failed batch commit means, decided in this one place:
 *
 * - `fenced`: a newer epoch owns the partition. Retrying cannot help and must not happen; the actor
 *   stops and leaves the partition to its owner.
 * - `stale`: the watermark row is not where this actor thinks it is, but no newer epoch holds it (a batch
 *   of this epoch committed behind the actor's back, or the row was never claimed). Nothing was applied;
 *   the actor restarts, claims the row again and resumes from the stored watermark.
 * - `unavailable`: the sink (or checkpoint store) cannot be reached: the error's code is retryable
 *   (`isRetryable`, actors/core/errors.ts). No event is at fault, so none is dead-lettered: the batch is
 *   retried as a whole with backoff while fetching pauses.
 * - `full`: the batch would quarantine one key more than BATON_QUARANTINE_MAX_KEYS allows. Nothing was
 *   applied and no event is at fault: the actor pauses (state `quarantine-full`) until a key is released.
 * - `poison`: the pipeline said the event can never succeed. Dead-letter it at once.
 * - `event`: anything else the pipeline or the database refused (bad data, a constraint, a bug in the
 *   pipeline). Some event of the batch is at fault: isolate it, retry it, then dead-letter it.
 */
export type FailureKind = 'fenced' | 'stale' | 'unavailable' | 'full' | 'poison' | 'event'

export function classifyFailure(err: unknown): FailureKind {
  if (isBatonError(err, 'FENCED')) return 'fenced'
  if (isBatonError(err, 'WATERMARK_MISMATCH')) return 'stale'
  if (isRetryable(err)) return 'unavailable'
  if (isBatonError(err, 'QUARANTINE_FULL')) return 'full'
  if (err instanceof PoisonEventError) return 'poison'
  return 'event'
}

/** The code stored with a dead letter: ours when we have one, else the thrower's (e.g. a SQLSTATE). */
export function failureCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string' && code.length > 0) return code
  if (typeof code === 'number') return String(code)
  return 'HANDLE_FAILED'
}

/** Kinds that no retry of the same batch can cure: the caller ends the actor instance (stop or restart). */
export function endsInstance(kind: FailureKind): boolean {
  return kind === 'fenced' || kind === 'stale'
}
