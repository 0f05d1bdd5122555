import { createAPI, fetchV17, type Reader, ResponseError, readKnownTaggedFields } from '@platformatic/kafka'

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

/**
 * Fetch v17 as the client library sends it (its request writer), with a response parser of our own that
 * differs from the library's in one thing: it leaves each partition's records as bytes, for
 * `decodePartition` to read without the library's per-record objects. The fields it does not need it
 * reads and drops; like the library's, it throws a ResponseError carrying the response when any error
 * code is set, so a caller can handle partition errors one by one.
 */
export const fetchRecordBytes = createAPI<Parameters<typeof fetchV17.createRequest>, FetchResponse>(
  1,
  17,
  fetchV17.createRequest,
  parseResponse,
)

function parseResponse(_correlationId: number, apiKey: number, apiVersion: number, reader: Reader) {
  const errors: [string, [number, null]][] = []
  reader.readInt32() // throttle time
  const errorCode = reader.readInt16()
  if (errorCode !== 0) errors.push(['', [errorCode, null]])
  reader.readInt32() // session id
  const response: FetchResponse = {
    errorCode,
    responses: reader.readArray((r, i) => ({
      topicId: r.readUUID(),
      partitions: r.readArray(
        (r, j) => {
          const partitionIndex = r.readInt32()
          const partitionError = r.readInt16()
          const highWatermark = r.readInt64()
          r.readInt64() // last stable offset
          r.readInt64() // log start offset
          const abortedTransactions = r.readNullableArray((r) => ({
            producerId: r.readInt64(),
            firstOffset: r.readInt64(),
          }))
          r.readInt32() // preferred read replica
          if (partitionError !== 0) errors.push([`/responses/${i}/partitions/${j}`, [partitionError, null]])
          // COMPACT_RECORDS: length + 1, 0 for null.
          const size = r.readUnsignedVarInt() - 1
          const records = size > 0 ? r.buffer.slice(r.position, r.position + size) : null
          if (size > 0) r.skip(size)
          readKnownTaggedFields(r, {})
          return { partitionIndex, errorCode: partitionError, highWatermark, abortedTransactions, records }
          // Each partition ends with its tagged fields, read just above.
        },
        true,
        false,
      ),
    })),
  }
  readKnownTaggedFields(reader, {})
  if (errors.length > 0) throw new ResponseError(apiKey, apiVersion, Object.fromEntries(errors), response)
  return response
}
