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
    const body = algorithm ? compress(compression as Compression, records.buffer) : records.buffer
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

/**
 * @platformatic/wasm-utils copies inputs into a view of its WebAssembly memory and renews the view only
 * for a longer input. When the memory grows (for an output), JavaScriptCore detaches the old view, whose
 * length then reads 0: every non-empty input renews it, but an empty one is written into the detached view
 * and throws "ArrayBuffer has been detached". Brokers never send an empty compressed batch, so only this
 * writer (fast-check's empty batches) meets it: the empty body of each codec is made once, at load, while
 * the view is fresh.
 */
const emptyBodies = new Map<Compression, Buffer>(
  (Object.keys(compressionsAlgorithms) as Compression[]).map((name) => [
    name,
    compressionsAlgorithms[name].compressSync(Buffer.alloc(0)),
  ]),
)

function compress(compression: Compression, data: Buffer): Buffer {
  if (data.length === 0) return emptyBodies.get(compression) as Buffer
  return compressionsAlgorithms[compression].compressSync(data)
}
