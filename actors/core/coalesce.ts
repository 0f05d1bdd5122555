import { BatonError } from './errors.ts'

export interface CoalesceOptions<K> {
  /** Most keys in one batched call (default 1000): bounds one statement or request. */
  readonly maxBatch?: number
  /**
   * A key's identity. Calls for a key already waiting go to another batch, so that one batch holds each
   * key once (a statement may not touch one row twice). Default: every call is distinct.
   */
  readonly identity?: (key: K) => string
}

interface Call<K, V> {
  readonly key: K
  readonly resolve: (value: V) => void
  readonly reject: (error: unknown) => void
}

/**
 * Turns a batched call into a per-key one: the calls made in the same tick (before the event loop turns,
 * e.g. the `onStart` of thousands of partition actors spawned at once) are gathered into one call of
 * `run`, so the per-partition API stays and the round trips do not grow with the partitions.
 *
 * `run` gets the keys and answers with one result per key, in the same order; an `Error` among the results
 * rejects that key's call only; `run` throwing rejects every call of its batch.
 *
 * @example
 * const storedEpoch = coalesce((keys: PartitionKey[]) => epochsOf(keys), { identity: keyString })
 * await Promise.all(partitions.map(storedEpoch)) // one query
 */
export function coalesce<K, V>(
  run: (keys: readonly K[]) => Promise<readonly (V | Error)[]>,
  options: CoalesceOptions<K> = {},
): (key: K) => Promise<V> {
  const maxBatch = options.maxBatch ?? 1000
  let waiting: Call<K, V>[] = []

  const send = (batch: Call<K, V>[]) => {
    Promise.resolve()
      .then(() => run(batch.map((call) => call.key)))
      .then(
        (results) => {
          if (results.length !== batch.length) {
            const error = new BatonError(
              'INTERNAL',
              `A batched call answered ${results.length} results for ${batch.length} keys; it must answer one per key.`,
            )
            for (const call of batch) call.reject(error)
            return
          }
          batch.forEach((call, i) => {
            const result = results[i] as V | Error
            if (result instanceof Error) call.reject(result)
            else call.resolve(result)
          })
        },
        (error) => {
          for (const call of batch) call.reject(error)
        },
      )
  }

  const flush = () => {
    let calls = waiting
    waiting = []
    while (calls.length > 0) {
      const batch: Call<K, V>[] = []
      const later: Call<K, V>[] = []
      const ids = new Set<string>()
      for (const call of calls) {
        const id = options.identity?.(call.key)
        if (batch.length >= maxBatch || (id !== undefined && ids.has(id))) later.push(call)
        else {
          batch.push(call)
          if (id !== undefined) ids.add(id)
        }
      }
      send(batch)
      calls = later
    }
  }

  return (key) =>
    new Promise<V>((resolve, reject) => {
      // The end of this tick, not a time: nothing waits on a clock, and the promise chains of this tick
      // (each actor's step up to its call) have all run by then.
      if (waiting.length === 0) setImmediate(flush)
      waiting.push({ key, resolve, reject })
    })
}
