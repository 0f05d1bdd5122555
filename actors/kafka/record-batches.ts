import { compressionsAlgorithmsByBitmask, IS_COMPRESSED } from '@platformatic/kafka'
import { NO_HEADERS } from '../ports.ts'
import { batchCrcMatches } from './batch-crc.ts'

/** The header of one record batch (message format v2), in plain numbers. */
export interface BatchHeader {
  readonly firstOffset: number
  readonly lastOffsetDelta: number
  readonly attributes: number
  readonly firstTimestamp: number
  readonly maxTimestamp: number
  /** -1 for a producer that is neither idempotent nor transactional. */
  readonly producerId: number
  readonly recordCount: number
}

/**
 * Called for each record of a batch, in order. `key` and `value` are views of the fetch response (no
 * copy); headers are decoded as UTF-8 (a null value as the empty string), `NO_HEADERS` when there are none.
 */
export type RecordVisitor = (
  offsetDelta: number,
  timestampDelta: number,
  key: Buffer | null,
  value: Buffer | null,
  headers: Readonly<Record<string, string>>,
) => void

/** One record batch: its header, and its records on demand (decompressing them if need be). */
export interface RecordBatch extends BatchHeader {
  forEachRecord(visit: RecordVisitor): void
  /** Whether its bytes still match the CRC-32C the producer computed (computed on each call). */
  crcMatches(): boolean
}

/** Batch offset (8 bytes) and length (4): what must be there to know whether a whole batch follows. */
const BATCH_HEAD = 12
/** From the end of the length field to the first record: epoch, magic, crc, attributes … record count. */
const BATCH_HEADER_REST = 49

/**
 * Reads the record batches (message format v2, the only one Kafka 4 speaks) of one partition straight
 * from the bytes of a fetch response. The client library's reader made six objects per record (a record,
 * a BigInt time delta, a header array, buffer views) through a chunked buffer, a sixth of the node's CPU;
 * here a record costs its two views and the visitor's own object. A batch cut off at the end (the broker
 * fills a response up to its size limit) is left out: the next fetch starts at it.
 */
export function readBatches(bytes: Buffer): RecordBatch[] {
  const batches: RecordBatch[] = []
  let at = 0
  while (bytes.length - at >= BATCH_HEAD) {
    const length = bytes.readInt32BE(at + 8)
    // A length below the header's is damaged (the length lies outside the CRC); the caller sees no whole batch.
    if (length < BATCH_HEADER_REST || bytes.length - at - BATCH_HEAD < length) break
    const start = at + BATCH_HEAD
    const end = start + length
    const attributes = bytes.readInt16BE(start + 9)
    const recordCount = bytes.readInt32BE(start + 45)
    const body = bytes.subarray(start + BATCH_HEADER_REST, end)
    batches.push({
      firstOffset: int64(bytes, at),
      attributes,
      lastOffsetDelta: bytes.readInt32BE(start + 11),
      firstTimestamp: int64(bytes, start + 15),
      maxTimestamp: int64(bytes, start + 23),
      producerId: int64(bytes, start + 31),
      recordCount,
      forEachRecord: (visit) => readRecords(decompress(body, attributes), recordCount, visit),
      crcMatches: () => batchCrcMatches(bytes, start, end),
    })
    at = end
  }
  return batches
}

/** The base offset of the first batch in `bytes`, null when not even that is there. */
export function firstBatchOffset(bytes: Buffer): number | null {
  return bytes.length >= 8 ? int64(bytes, 0) : null
}

function decompress(body: Buffer, attributes: number): Buffer {
  const compression = attributes & IS_COMPRESSED
  if (compression === 0) return body
  const algorithm = compressionsAlgorithmsByBitmask[compression]
  if (!algorithm) throw new Error(`a record batch has an unknown compression (attribute bits ${compression})`)
  return algorithm.decompressSync(body)
}

/** Where a parse is in its buffer: one object per batch, not per field. */
interface Cursor {
  at: number
}

/** Each record: length, attributes, time delta, offset delta, key, value, headers (varints and bytes). */
function readRecords(bytes: Buffer, count: number, visit: RecordVisitor): void {
  const c: Cursor = { at: 0 }
  for (let i = 0; i < count && c.at < bytes.length; i++) {
    const length = varint(bytes, c)
    const end = c.at + length
    c.at++ // attributes: unused in format v2
    const timestampDelta = varlong(bytes, c)
    const offsetDelta = varint(bytes, c)
    const key = varBytes(bytes, c)
    const value = varBytes(bytes, c)
    const headerCount = varint(bytes, c)
    let headers: Readonly<Record<string, string>> = NO_HEADERS
    if (headerCount > 0) {
      const decoded: Record<string, string> = {}
      for (let h = 0; h < headerCount; h++) {
        const name = varBytes(bytes, c)
        const text = varBytes(bytes, c)
        if (!name) continue
        const key = name.toString('utf8')
        // An assignment to '__proto__' would set the prototype and drop the header: define it instead.
        if (key === '__proto__')
          Object.defineProperty(decoded, key, {
            value: text?.toString('utf8') ?? '',
            enumerable: true,
            writable: true,
            configurable: true,
          })
        else decoded[key] = text?.toString('utf8') ?? ''
      }
      headers = decoded
    }
    visit(offsetDelta, timestampDelta, key, value, headers)
    // Fields a later format version might append are skipped rather than misread.
    c.at = end
  }
}

/** A signed 64-bit big-endian integer as a number: exact for offsets, times and producer ids (< 2^53). */
function int64(bytes: Buffer, at: number): number {
  return bytes.readInt32BE(at) * 4294967296 + bytes.readUInt32BE(at + 4)
}

/** A zigzag varint (at most 5 bytes); moves the cursor past it. */
function varint(bytes: Buffer, c: Cursor): number {
  let result = 0
  let shift = 0
  let b: number
  do {
    b = bytes[c.at++] as number
    result |= (b & 0x7f) << shift
    shift += 7
  } while (b & 0x80 && shift < 35)
  return (result >>> 1) ^ -(result & 1)
}

/** A zigzag varlong as a number (exact below 2^53, as any time delta is); moves the cursor past it. */
function varlong(bytes: Buffer, c: Cursor): number {
  let result = 0
  let factor = 1
  let b: number
  do {
    b = bytes[c.at++] as number
    result += (b & 0x7f) * factor
    factor *= 128
  } while (b & 0x80 && factor < 2 ** 70)
  return result % 2 === 0 ? result / 2 : -(result + 1) / 2
}

/** Length-prefixed bytes (varint length, -1 for null) as a view; moves the cursor past them. */
function varBytes(bytes: Buffer, c: Cursor): Buffer | null {
  const length = varint(bytes, c)
  if (length < 0) return null
  const start = c.at
  c.at += length
  return bytes.subarray(start, c.at)
}
