import { crc32c } from '@node-rs/crc32'

/**
 * Where a record batch's CRC sits and where the bytes it covers begin, counted from the end of the batch's
 * length field: partition leader epoch (4), magic (1), crc (4), then attributes … the last record. Kafka
 * leaves the offset, length, leader epoch and magic out of the CRC, so that a broker can rewrite them
 * without recomputing it.
 */
const CRC_AT = 5
const COVERED_FROM = 9

/**
 * Whether the record batch in `bytes[start, end)` (`start`: just after its length field) has the CRC-32C
 * it carries, as Kafka's Java consumer (`check.crcs`) and franz-go verify it. The checksum runs natively
 * (@node-rs/crc32, SSE 4.2 / ARMv8 CRC instructions): about 6 GB/s on 64 KiB batches under Bun, 4x a
 * slicing-by-8 table in JavaScript (README, Performance).
 */
export function batchCrcMatches(bytes: Buffer, start: number, end: number): boolean {
  return crc32c(bytes.subarray(start + COVERED_FROM, end)) === bytes.readUInt32BE(start + CRC_AT)
}
