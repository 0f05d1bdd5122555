import { createAPI, ResponseError, Writer } from '@platformatic/kafka'

/** One partition of a Fetch v17 response, its records left as the bytes the broker sent. */
export interface FetchedPartition {
  readonly partitionIndex: number
  readonly errorCode: number
  readonly highWatermark: bigint
  readonly abortedTransactions: { producerId: bigint; firstOffset: bigint }[] | null
  /** The partition's record batches, undecoded (record-batches.ts reads them); null when there are none. */
  readonly records: Buffer | null
}

export interface FetchResponse {
  readonly errorCode: number
  readonly responses: { readonly topicId: string; readonly partitions: FetchedPartition[] }[]
}

/** The partitions of one topic to fetch, each from `offset` on and at most `maxBytes` of it. */
export interface FetchTopic {
  readonly topicId: string
  readonly partitions: readonly { partition: number; offset: number; maxBytes: number }[]
}

/**
 * Fetch v17 with a request writer and a response parser of our own. The library's build a Buffer per
 * field and read each field by walking the list of socket chunks from the start; with 4,096 partitions a
 * fetch names, that was a quarter of the node's CPU (20 ms to write one request, 25 ms to read one
 * response). These write into one buffer and read the chunks in one pass, and leave each partition's
 * records as bytes, for `decodePartition` to read without the library's per-record objects. Like the
 * library's, the parser throws a ResponseError carrying the response when any error code is set, so a
 * caller can handle partition errors one by one.
 */
export const fetchRecordBytes = createAPI<Parameters<typeof encodeFetchRequest>, FetchResponse>(
  1,
  17,
  encodeFetchRequest,
  (_correlationId, apiKey, apiVersion, reader) =>
    parseFetchResponse(apiKey, apiVersion, reader.buffer.buffers, reader.position),
)

const PARTITION_BYTES = 4 + 4 + 8 + 4 + 8 + 4 + 1

/**
 * A full Fetch v17 request (no fetch session, KIP-227: id 0, epoch -1), no forgotten topics, no rack.
 * Exported for the test that holds it to the library's writer byte for byte.
 */
export function encodeFetchRequest(
  maxWaitMs: number,
  minBytes: number,
  maxBytes: number,
  isolationLevel: number,
  topics: readonly FetchTopic[],
): Writer {
  let size = 4 + 4 + 4 + 1 + 4 + 4 + uvarintSize(topics.length + 1) + 1 + 1 + 1
  for (const t of topics)
    size += 16 + uvarintSize(t.partitions.length + 1) + t.partitions.length * PARTITION_BYTES + 1
  const out = Buffer.allocUnsafe(size)
  let at = out.writeInt32BE(maxWaitMs, 0)
  at = out.writeInt32BE(minBytes, at)
  at = out.writeInt32BE(maxBytes, at)
  at = out.writeInt8(isolationLevel, at)
  at = out.writeInt32BE(0, at) // session id
  at = out.writeInt32BE(-1, at) // session epoch
  at = writeUvarint(out, at, topics.length + 1)
  for (const t of topics) {
    at = writeUuid(out, at, t.topicId)
    at = writeUvarint(out, at, t.partitions.length + 1)
    for (const p of t.partitions) {
      at = out.writeInt32BE(p.partition, at)
      at = out.writeInt32BE(-1, at) // current leader epoch
      at = writeInt64(out, at, p.offset)
      at = out.writeInt32BE(-1, at) // last fetched epoch
      at = writeInt64(out, at, -1) // log start offset (consumers send -1)
      at = out.writeInt32BE(p.maxBytes, at)
      at = out.writeUInt8(0, at) // tagged fields
    }
    at = out.writeUInt8(0, at) // the topic's tagged fields
  }
  at = out.writeUInt8(1, at) // forgotten topics: empty compact array
  at = out.writeUInt8(1, at) // rack id: empty compact string
  out.writeUInt8(0, at) // tagged fields
  return Writer.create().append(out)
}

function uvarintSize(n: number): number {
  let size = 1
  while (n >= 0x80) {
    n = Math.floor(n / 0x80)
    size++
  }
  return size
}

function writeUvarint(out: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n & 0x7f) | 0x80
    n = Math.floor(n / 0x80)
  }
  out[at++] = n
  return at
}

/** An offset (exact below 2^53, or -1) as a signed 64-bit big-endian integer. */
function writeInt64(out: Buffer, at: number, n: number): number {
  const high = Math.floor(n / 4294967296)
  out.writeInt32BE(high, at)
  out.writeUInt32BE(n - high * 4294967296, at + 4)
  return at + 8
}

function writeUuid(out: Buffer, at: number, uuid: string): number {
  const hex = uuid.replaceAll('-', '')
  // Buffer.write stops at the first character that is not hex: a topic name passed as an id would
  // leave the rest of the request misaligned.
  if (hex.length !== 32 || out.write(hex, at, 16, 'hex') !== 16)
    throw new RangeError(`expected a topic id (a UUID), got ${JSON.stringify(uuid)}`)
  return at + 16
}

/**
 * Parses a Fetch v17 response from the chunks it arrived in (`start` bytes into the first), dropping the
 * fields a consumer does not use (last stable offset, log start offset, preferred replica, tagged fields).
 * Exported for tests.
 */
export function parseFetchResponse(
  apiKey: number,
  apiVersion: number,
  chunks: readonly Buffer[],
  start: number,
): FetchResponse {
  const r = new ChunkReader(chunks, start)
  const errors: [string, [number, null]][] = []
  r.skip(4) // throttle time
  const errorCode = r.int16()
  if (errorCode !== 0) errors.push(['', [errorCode, null]])
  r.skip(4) // session id
  const responses: { topicId: string; partitions: FetchedPartition[] }[] = []
  for (let i = 0, topics = r.uvarint() - 1; i < topics; i++) {
    const topicId = r.uuid()
    const partitions: FetchedPartition[] = []
    for (let j = 0, count = r.uvarint() - 1; j < count; j++) {
      const partitionIndex = r.int32()
      const partitionError = r.int16()
      const highWatermark = r.int64()
      r.skip(16) // last stable offset, log start offset
      let abortedTransactions: { producerId: bigint; firstOffset: bigint }[] | null = null
      const aborted = r.uvarint() - 1
      if (aborted >= 0) {
        abortedTransactions = []
        for (let k = 0; k < aborted; k++) {
          abortedTransactions.push({ producerId: r.int64(), firstOffset: r.int64() })
          r.skipTaggedFields()
        }
      }
      r.skip(4) // preferred read replica
      if (partitionError !== 0) errors.push([`/responses/${i}/partitions/${j}`, [partitionError, null]])
      // COMPACT_RECORDS: length + 1, 0 for null.
      const size = r.uvarint() - 1
      const records = size > 0 ? r.bytes(size) : null
      r.skipTaggedFields()
      partitions.push({
        partitionIndex,
        errorCode: partitionError,
        highWatermark,
        abortedTransactions,
        records,
      })
    }
    r.skipTaggedFields()
    responses.push({ topicId, partitions })
  }
  r.skipTaggedFields()
  const response: FetchResponse = { errorCode, responses }
  if (errors.length > 0) throw new ResponseError(apiKey, apiVersion, Object.fromEntries(errors), response)
  return response
}

/**
 * Reads big-endian fields from a list of chunks as if they were one buffer. A field inside one chunk is
 * read in place; one across a boundary is gathered byte by byte. Records inside one chunk are a view of
 * it, as the library's were (so a partition's records hold at most the chunks they came in, never the
 * whole response).
 */
class ChunkReader {
  readonly #chunks: readonly Buffer[]
  #index = 0
  #chunk: Buffer
  #at: number
  readonly #scratch = Buffer.allocUnsafe(8)

  constructor(chunks: readonly Buffer[], start: number) {
    this.#chunks = chunks
    this.#chunk = chunks[0] ?? Buffer.alloc(0)
    this.#at = 0
    this.skip(start)
  }

  int16(): number {
    return this.#fits(2) ? this.#chunk.readInt16BE(this.#advance(2)) : this.#gather(2).readInt16BE(0)
  }

  int32(): number {
    return this.#fits(4) ? this.#chunk.readInt32BE(this.#advance(4)) : this.#gather(4).readInt32BE(0)
  }

  int64(): bigint {
    return this.#fits(8) ? this.#chunk.readBigInt64BE(this.#advance(8)) : this.#gather(8).readBigInt64BE(0)
  }

  uvarint(): number {
    let result = 0
    let factor = 1
    for (;;) {
      const b = this.#byte()
      result += (b & 0x7f) * factor
      if ((b & 0x80) === 0) return result
      factor *= 128
      if (factor > 2 ** 35) throw new RangeError('a Fetch response has a varint longer than 5 bytes')
    }
  }

  uuid(): string {
    const hex = (
      this.#fits(16) ? this.#chunk.subarray(this.#advance(16), this.#at) : this.bytes(16)
    ).toString('hex')
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
  }

  /** `size` bytes: a view when they lie in one chunk, a copy when they span several. */
  bytes(size: number): Buffer {
    if (this.#fits(size)) {
      const from = this.#advance(size)
      return this.#chunk.subarray(from, from + size)
    }
    const out = Buffer.allocUnsafe(size)
    let written = 0
    while (written < size) {
      this.#settle()
      const take = Math.min(size - written, this.#chunk.length - this.#at)
      this.#chunk.copy(out, written, this.#at, this.#at + take)
      this.#at += take
      written += take
    }
    return out
  }

  skip(size: number): void {
    while (size > 0) {
      this.#settle()
      const take = Math.min(size, this.#chunk.length - this.#at)
      this.#at += take
      size -= take
    }
  }

  skipTaggedFields(): void {
    for (let i = 0, count = this.uvarint(); i < count; i++) {
      this.uvarint() // tag
      this.skip(this.uvarint())
    }
  }

  #fits(size: number): boolean {
    return this.#at + size <= this.#chunk.length
  }

  #advance(size: number): number {
    const from = this.#at
    this.#at += size
    return from
  }

  /** Moves past exhausted chunks; throws at the end of the last one, as a truncated response is. */
  #settle(): void {
    while (this.#at >= this.#chunk.length) {
      const next = this.#chunks[++this.#index]
      if (!next) throw new RangeError('a Fetch response ended in the middle of a field')
      this.#chunk = next
      this.#at = 0
    }
  }

  #byte(): number {
    this.#settle()
    return this.#chunk[this.#at++] as number
  }

  #gather(size: number): Buffer {
    for (let i = 0; i < size; i++) this.#scratch[i] = this.#byte()
    return this.#scratch
  }
}
