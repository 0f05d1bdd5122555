import { Admin } from '@platformatic/kafka'
import Redis from 'ioredis'
import { clientOptions } from '../../actors/kafka/kafka-client.ts'
import { createRedisCheckpoints } from '../../actors/redis/checkpoints.ts'

/**
 * Forgets the consumer groups a run used: deletes them from Kafka (their committed offsets) and the
 * epochs and checkpoints baton keeps for them in Redis. Best effort: a group still closing is left alone.
 */
export async function forgetGroups(
  brokers: readonly string[],
  redisUrl: string,
  groups: readonly { readonly group: string; readonly topic: string }[],
  partitions: number,
): Promise<void> {
  const admin = new Admin(clientOptions('baton-bench-cleanup', brokers))
  await admin.deleteGroups({ groups: groups.map((g) => g.group) }).catch(() => {})
  await admin.close().catch(() => {})
  // baton's key names, from the checkpoint store itself, deleted with a plain client.
  const checkpoints = await createRedisCheckpoints({ url: redisUrl })
  const keys = groups.flatMap(({ group, topic }) =>
    Array.from({ length: partitions }, (_, partition) =>
      Object.values(checkpoints.keysOf({ group, topic, partition })),
    ).flat(),
  )
  await checkpoints.close()
  const redis = new Redis(redisUrl, { lazyConnect: true })
  await redis.connect()
  if (keys.length > 0) await redis.del(...keys)
  redis.disconnect()
}
