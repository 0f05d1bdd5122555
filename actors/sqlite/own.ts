import { BatonError, errorMessage } from '../core/errors.ts'

/** Runs one of baton's own statements: whatever makes it fail is the database's fault, not an event's. */
export function own<T>(what: string, fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    throw unavailable(what, err)
  }
}

export function unavailable(what: string, err: unknown): BatonError {
  if (err instanceof BatonError) return err
  return new BatonError(
    'SINK_UNAVAILABLE',
    `The embedded sink could not ${what}: ${errorMessage(err)}. Nothing was applied; baton retries. Check free disk space and BATON_DATA_DIR.`,
    { cause: err },
  )
}
