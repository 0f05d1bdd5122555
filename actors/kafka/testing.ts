/** Helpers shared by this folder's tests: record batches as the bytes a broker sends. */
import { compressionsAlgorithms, crc32c, type RecordsBatch, Writer } from '@platformatic/kafka'

export type Compression = keyof typeof compressionsAlgorithms

/**
 * The bytes of `batches` in the record batch format (v2) of a fetch response, with the library's own
 * writer: offsets, lengths, attributes, times, producer and records as given (`length` and `crc` are
 * computed, not taken; the CRC-32C is real, as a broker sends it). `compression` compresses each batch's records and sets its attribute bits.
 */
export function recordBatchBytes(batches: readonly RecordsBatch[], compression?: Compression): Buffer {
  const all = Writer.create()
  for (const batch of batches) {
    const records = Writer.create()
    for (const r of batch.records) {
      const record = Writer.create()
        .appendInt8(r.attributes)
        .appendVarInt64(r.timestampDelta)
        .appendVarInt(r.offsetDelta)
        .appendVarIntBytes(r.key)
        .appendVarIntBytes(r.value)
        .appendVarIntArray(r.headers, (w, [name, value]) =>
          w.appendVarIntBytes(name).appendVarIntBytes(value),
        )
        .prependVarIntLength()
      records.appendFrom(record)
    }
    const algorithm = compression ? compressionsAlgorithms[compression] : undefined
    const body = algorithm ? algorithm.compressSync(records.buffer) : records.buffer
    const covered = Writer.create()
      .appendInt16(batch.attributes | (algorithm?.bitmask ?? 0))
      .appendInt32(batch.lastOffsetDelta)
      .appendInt64(batch.firstTimestamp)
      .appendInt64(batch.maxTimestamp)
      .appendInt64(batch.producerId)
      .appendInt16(batch.producerEpoch)
      .appendInt32(batch.firstSequence)
      .appendInt32(batch.records.length)
      .append(body)
    // The library's own CRC-32C, not the checker's: a fault in one is not hidden by the same fault in the other.
    const rest = Writer.create()
      .appendInt32(batch.partitionLeaderEpoch)
      .appendInt8(batch.magic)
      .appendUnsignedInt32(crc32c(covered.buffer))
      .appendFrom(covered)
    all.appendInt64(batch.firstOffset).appendInt32(rest.length).appendFrom(rest)
  }
  return all.buffer
}
