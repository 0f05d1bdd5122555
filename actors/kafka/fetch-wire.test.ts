import { describe, expect, test } from 'bun:test'
import { fetchV17, Reader, ResponseError, Writer } from '@platformatic/kafka'
import fc from 'fast-check'
import { encodeFetchRequest, type FetchTopic, parseFetchResponse } from './fetch-wire.ts'
import { recordBatchBytes } from './testing.ts'

const uuid = fc.uuid()
const topics = fc.array(
  fc.record({
    topicId: uuid,
    partitions: fc.array(
      fc.record({
        partition: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        offset: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        maxBytes: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      }),
      // Past 127 partitions the array's length takes a second varint byte.
      { maxLength: 300 },
    ),
  }),
  { maxLength: 3 },
)

describe('encodeFetchRequest', () => {
  test("writes the library's Fetch v17 request byte for byte", () => {
    fc.assert(
      fc.property(
        topics,
        fc.nat(60_000),
        fc.nat(),
        fc.nat(2 ** 30),
        fc.constantFrom(0, 1),
        (ts, maxWait, minBytes, maxBytes, isolation) => {
          const ours = encodeFetchRequest(maxWait, minBytes, maxBytes, isolation, ts).buffer
          const library = fetchV17.createRequest(
            maxWait,
            minBytes,
            maxBytes,
            isolation,
            0,
            -1,
            ts.map((t) => ({
              topicId: t.topicId,
              partitions: t.partitions.map((p) => ({
                partition: p.partition,
                fetchOffset: BigInt(p.offset),
                partitionMaxBytes: p.maxBytes,
                currentLeaderEpoch: -1,
                lastFetchedEpoch: -1,
              })),
            })),
            [],
            '',
          ).buffer
          expect(ours.equals(library)).toBe(true)
        },
      ),
      { numRuns: 200 },
    )
  })

  test('refuses a topic name where a topic id belongs', () => {
    const topic: FetchTopic = { topicId: 'orders', partitions: [] }
    expect(() => encodeFetchRequest(0, 1, 1, 1, [topic])).toThrow(
      'expected a topic id (a UUID), got "orders"',
    )
  })
})

interface PartitionModel {
  partitionIndex: number
  errorCode: number
  highWatermark: bigint
  abortedTransactions: { producerId: bigint; firstOffset: bigint }[] | null
  records: Buffer | null
  /** Raw tagged fields the broker may add (diverging epoch, current leader, ...): skipped. */
  tagged: [number, Buffer][]
}

const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
const partitionModel: fc.Arbitrary<PartitionModel> = fc.record({
  partitionIndex: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  errorCode: fc.constantFrom(0, 0, 0, 1, 6),
  highWatermark: int64,
  abortedTransactions: fc.option(
    fc.array(fc.record({ producerId: int64, firstOffset: int64 }), { maxLength: 3 }),
    {
      nil: null,
    },
  ),
  records: fc.option(
    fc.uint8Array({ minLength: 1, maxLength: 300 }).map((a) => Buffer.from(a)),
    { nil: null },
  ),
  tagged: fc.array(
    fc.tuple(
      fc.nat(200),
      fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a)),
    ),
    { maxLength: 2 },
  ),
})
interface ResponseModel {
  errorCode: number
  topics: { topicId: string; partitions: PartitionModel[] }[]
}
const responseModel: fc.Arbitrary<ResponseModel> = fc.record({
  errorCode: fc.constantFrom(0, 0, 0, 7),
  topics: fc.array(fc.record({ topicId: uuid, partitions: fc.array(partitionModel, { maxLength: 160 }) }), {
    maxLength: 3,
  }),
})

/** A Fetch v17 response as a broker writes it, built with the library's field writers. */
function responseBytes(model: ResponseModel): Buffer {
  const tagged = (w: Writer, fields: [number, Buffer][]) => {
    w.appendUnsignedVarInt(fields.length)
    for (const [tag, bytes] of fields)
      w.appendUnsignedVarInt(tag).appendUnsignedVarInt(bytes.length).append(bytes)
  }
  const w = Writer.create().appendInt32(12).appendInt16(model.errorCode).appendInt32(0)
  w.appendArray(model.topics, (w, t) => {
    w.appendUUID(t.topicId).appendArray(
      t.partitions,
      (w, p) => {
        w.appendInt32(p.partitionIndex)
          .appendInt16(p.errorCode)
          .appendInt64(p.highWatermark)
          .appendInt64(p.highWatermark)
          .appendInt64(0n)
          .appendArray(p.abortedTransactions, (w, a) =>
            w.appendInt64(a.producerId).appendInt64(a.firstOffset),
          )
          .appendInt32(-1)
        if (p.records === null) w.appendUnsignedVarInt(0)
        else w.appendUnsignedVarInt(p.records.length + 1).append(p.records)
        tagged(w, p.tagged)
      },
      true,
      false,
    )
  })
  tagged(w, [[0, Buffer.from([1])]]) // node endpoints: an empty compact array
  return w.buffer
}

/** `bytes` cut at the given points, as a socket hands a response over in chunks. */
function chunked(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const chunks: Buffer[] = []
  let from = 0
  for (const p of [...points, bytes.length]) {
    chunks.push(bytes.subarray(from, p))
    from = p
  }
  return chunks
}

describe('parseFetchResponse', () => {
  test('reads every field a consumer uses, however the response is cut into chunks', () => {
    fc.assert(
      fc.property(responseModel, fc.array(fc.nat(), { maxLength: 40 }), (model, cuts) => {
        const expected = {
          errorCode: model.errorCode,
          responses: model.topics.map((t) => ({
            topicId: t.topicId,
            partitions: t.partitions.map(({ tagged: _, ...p }) => p),
          })),
        }
        const failed =
          model.errorCode !== 0 || model.topics.some((t) => t.partitions.some((p) => p.errorCode !== 0))
        let parsed: unknown
        try {
          parsed = parseFetchResponse(1, 17, chunked(responseBytes(model), cuts), 0)
        } catch (err) {
          if (!(err instanceof ResponseError)) throw err
          expect(failed).toBe(true)
          parsed = err.response
        }
        expect(parsed).toEqual(expected)
      }),
      { numRuns: 300 },
    )
  })

  test("agrees with the library's parser on a response holding record batches", () => {
    const records = recordBatchBytes([
      {
        firstOffset: 40n,
        length: 0,
        partitionLeaderEpoch: 0,
        magic: 2,
        crc: 0,
        attributes: 0,
        lastOffsetDelta: 1,
        firstTimestamp: 1_000n,
        maxTimestamp: 1_001n,
        producerId: -1n,
        producerEpoch: -1,
        firstSequence: -1,
        records: [0, 1].map((i) => ({
          length: 0,
          attributes: 0,
          timestampDelta: BigInt(i),
          offsetDelta: i,
          key: Buffer.from(`k${i}`),
          value: Buffer.from(`{"n":${i}}`),
          headers: [],
        })),
      },
    ])
    const partition = (partitionIndex: number, withRecords: boolean): PartitionModel => ({
      partitionIndex,
      errorCode: 0,
      highWatermark: 42n,
      abortedTransactions: partitionIndex === 1 ? [{ producerId: 9n, firstOffset: 40n }] : null,
      records: withRecords ? records : null,
      tagged: partitionIndex === 2 ? [[1, Buffer.from([0, 0, 0, 1, 0, 0, 0, 3])]] : [],
    })
    const bytes = responseBytes({
      errorCode: 0,
      topics: [
        {
          topicId: '6c2a4f0e-8a51-4e7e-9d0b-6a1f3c2d5e7f',
          partitions: [0, 1, 2].map((p) => partition(p, p !== 1)),
        },
      ],
    })
    const ours = parseFetchResponse(1, 17, chunked(bytes, [7, 50, 51, 90]), 0)
    const library = fetchV17.parseResponse(0, 1, 17, Reader.from(bytes))
    const topic = library.responses[0]
    expect(ours.responses.map((t) => t.topicId)).toEqual([topic?.topicId as string])
    expect(
      ours.responses[0]?.partitions.map((p) => [p.partitionIndex, p.highWatermark, p.abortedTransactions]),
    ).toEqual(topic?.partitions.map((p) => [p.partitionIndex, p.highWatermark, p.abortedTransactions]) ?? [])
    expect(ours.responses[0]?.partitions.map((p) => p.records?.equals(records) ?? null)).toEqual([
      true,
      null,
      true,
    ])
    expect(topic?.partitions[2]?.currentLeader).toEqual({ leaderId: 1, leaderEpoch: 3 })
  })

  test('says so when a response ends in the middle of a field', () => {
    const bytes = responseBytes({ errorCode: 0, topics: [] })
    expect(() => parseFetchResponse(1, 17, [bytes.subarray(0, 9)], 0)).toThrow(
      'a Fetch response ended in the middle of a field',
    )
  })
})
