import { BatonError } from './core/errors.ts'

/**
 * Kafka's default partitioner, so that a key lands on the same partition number in embedded and cluster
 * mode: `toPositive(murmur2(keyBytes)) % partitions`, exactly as the Java client's
 * `BuiltInPartitioner.partitionForKey` computes it. Keys are hashed as their UTF-8 bytes, which is what
 * Kafka's `StringSerializer` sends.
 */

/** The seed Kafka's `Utils.murmur2` starts from. */
const KAFKA_MURMUR2_SEED = 0x9747b28c

/**
 * Kafka's `Utils.murmur2`: the 32-bit MurmurHash2 of the bytes (strings: their UTF-8 bytes), as a
 * signed 32-bit integer like Java's `int`. Bun's built-in `murmur32v2` is the same algorithm (checked
 * against vectors computed with Kafka's own jar in partitioner.test.ts); it answers unsigned, hence `| 0`.
 *
 * @example murmur2('foobar') // -790332482, as in Kafka's UtilsTest
 */
export function murmur2(data: string | Uint8Array): number {
  return Bun.hash.murmur32v2(data, KAFKA_MURMUR2_SEED) | 0
}

/** Kafka's `Utils.toPositive`: clears the sign bit (not `Math.abs`, which would map -2^31 to itself). */
export function toPositive(n: number): number {
  return n & 0x7fffffff
}

/** The partition Kafka's default partitioner picks for a keyed record. `partitions` must be at least 1. */
export function partitionForKey(key: string | Uint8Array, partitions: number): number {
  return toPositive(murmur2(key)) % partitions
}

/**
 * Picks partitions for one topic: by key hash when there is a key, round-robin otherwise. Kafka's
 * producer now sends keyless records to a "sticky" partition per batch; baton spreads them one by one
 * instead, because an embedded append is already one batch and one record per partition in turn keeps
 * the partitions' actors equally busy.
 */
export class Partitioner {
  readonly partitions: number
  private nextKeyless: number

  /** `start` is where the round-robin begins (tests pin it; callers usually leave it at 0). */
  constructor(partitions: number, start = 0) {
    if (!Number.isInteger(partitions) || partitions < 1) {
      throw new BatonError(
        'CONFIG_INVALID',
        `A topic needs a whole number of partitions, at least 1; got ${partitions}. Check BATON_PARTITIONS.`,
      )
    }
    this.partitions = partitions
    this.nextKeyless = toPositive(start) % partitions
  }

  /** The partition for a record with this key; `null`, `undefined` (no key) take the next one in turn. */
  partition(key: string | Uint8Array | null | undefined): number {
    if (key !== null && key !== undefined) return partitionForKey(key, this.partitions)
    const partition = this.nextKeyless
    this.nextKeyless = (partition + 1) % this.partitions
    return partition
  }
}
