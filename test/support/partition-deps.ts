import { backoff } from '../../actors/core/index.ts'
import { noObserver } from '../../actors/partition/observer.ts'
import type { PartitionActorDeps } from '../../actors/partition/partition-actor.ts'
import { PartitionStats } from '../../actors/partition/stats.ts'

/**
 * A partition actor's dependencies for tests on memory ports: what the test names, over defaults that
 * keep a test fast (batches of 20, 50 ms, one retry 1 ms apart, no dead-letter publishing, no metrics).
 */
export function testPartitionDeps<E>(
  deps: Pick<PartitionActorDeps<E>, 'key' | 'pipeline' | 'sink' | 'checkpoints' | 'openFeed'> &
    Partial<PartitionActorDeps<E>>,
): PartitionActorDeps<E> {
  return {
    deadLetters: null,
    limits: { maxEvents: 20, maxBytes: 1_000_000, maxWaitMs: 50 },
    maxRetries: 1,
    retry: backoff({ minMs: 1, maxMs: 1, jitter: 0 }),
    stats: new PartitionStats(),
    observer: noObserver,
    ...deps,
  }
}
