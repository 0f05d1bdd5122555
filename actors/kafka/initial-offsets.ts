import { type Consumer, ListOffsetTimestamps } from '@platformatic/kafka'
import { coalesce } from '../core/coalesce.ts'
import { BatonError } from '../core/errors.ts'
import { type TopicPartition, tpString } from '../ports.ts'
import { describeKafkaError, isUnreachable } from './kafka-errors.ts'

/**
 * Where each partition starts when no progress was ever stored for it: the group's committed offset, else
 * the earliest retained offset. The partitions asked for in the same tick (a node taking thousands at
 * once) are answered by one OffsetFetch, and one ListOffsets for those without a committed offset, rather
 * than two requests per partition. Throws SOURCE_UNAVAILABLE; the partition actor retries.
 */
export function initialOffsets(client: Consumer, groupId: string): (tp: TopicPartition) => Promise<number> {
  return coalesce(
    async (tps: readonly TopicPartition[]) => {
      try {
        const committed = await client.listCommittedOffsets({ topics: byTopic(tps) })
        const offsetOf = (tp: TopicPartition) => committed.get(tp.topic)?.[tp.partition] ?? -1n
        const unset = tps.filter((tp) => offsetOf(tp) < 0n)
        const earliest =
          unset.length === 0
            ? new Map<string, bigint[]>()
            : await client.listOffsets({
                topics: [...new Set(unset.map((tp) => tp.topic))],
                partitions: Object.fromEntries(byTopic(unset).map((t) => [t.topic, t.partitions])),
                timestamp: ListOffsetTimestamps.EARLIEST,
              })
        return tps.map((tp) => {
          const offset = offsetOf(tp)
          return Number(offset >= 0n ? offset : (earliest.get(tp.topic)?.[tp.partition] ?? 0n))
        })
      } catch (err) {
        const which = tps.length === 1 ? tpString(tps[0] as TopicPartition) : `${tps.length} partitions`
        throw new BatonError(
          'SOURCE_UNAVAILABLE',
          `Could not read where ${which} start(s) (group '${groupId}' offsets, then the earliest offset): ` +
            `${describeKafkaError(err)}. ${isUnreachable(err) ? 'Kafka is unreachable; ' : ''}the partition actor retries.`,
          { cause: err },
        )
      }
    },
    { identity: tpString },
  )
}

function byTopic(tps: readonly TopicPartition[]): { topic: string; partitions: number[] }[] {
  const topics = new Map<string, number[]>()
  for (const { topic, partition } of tps) {
    const partitions = topics.get(topic)
    if (partitions) partitions.push(partition)
    else topics.set(topic, [partition])
  }
  return [...topics].map(([topic, partitions]) => ({ topic, partitions }))
}
