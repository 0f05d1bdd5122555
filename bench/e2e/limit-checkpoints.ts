import Redis from 'ioredis'
import type { PartitionKey } from '../../actors/ports.ts'
import { createRedisCheckpoints } from '../../actors/redis/checkpoints.ts'

/** The checkpoint store's ceiling: baton's own fenced checkpoint script, as fast as Redis answers. */
export interface CheckpointLimit {
  readonly checkpointsPerSec: number
}

/**
 * Writes checkpoints through `createRedisCheckpoints` (the Lua script a partition actor runs after each
 * commit) for `seconds`: one writer per partition, each waiting for its answer before the next write,
 * as the actors do. Deletes its keys afterwards.
 */
export async function checkpointLimit(
  redisUrl: string,
  partitions: number,
  group: string,
  seconds: number,
): Promise<CheckpointLimit> {
  const prefix = 'baton-bench:'
  // No gathering window: each writer waits for its answer, which a 5 ms window would make the figure.
  const checkpoints = await createRedisCheckpoints({ url: redisUrl, prefix, coalesceMs: 0 })
  const keys: PartitionKey[] = Array.from({ length: partitions }, (_, partition) => ({
    group,
    topic: 'bench',
    partition,
  }))
  try {
    const epochs = await Promise.all(keys.map((key) => checkpoints.nextEpoch(key)))
    let writes = 0
    const until = performance.now() + seconds * 1000
    const started = performance.now()
    await Promise.all(
      keys.map(async (key, i) => {
        for (let offset = 1; performance.now() < until; offset++) {
          if (!(await checkpoints.write(key, epochs[i] as number, offset)))
            throw new Error(`checkpoint of ${key.topic}/${key.partition} refused`)
          writes++
        }
      }),
    )
    return { checkpointsPerSec: writes / ((performance.now() - started) / 1000) }
  } finally {
    await checkpoints.close()
    const redis = new Redis(redisUrl, { lazyConnect: true })
    await redis.connect()
    await redis.del(...keys.flatMap((key) => Object.values(checkpoints.keysOf(key))))
    redis.disconnect()
  }
}
