import { describe, expect, test } from 'bun:test'
import { type KafkaRecord, Reader, type RecordsBatch, readRecordsBatches } from '@platformatic/kafka'
import fc from 'fast-check'
import { NO_HEADERS } from '../ports.ts'
import { readBatches } from './record-batches.ts'
import { type Compression, recordBatchBytes } from './testing.ts'

const bytes = fc.option(
  fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
  { nil: null },
)
const record = fc.record({
  length: fc.constant(0),
  attributes: fc.constant(0),
  timestampDelta: fc.bigInt({ min: 0n, max: 2n ** 40n }),
  // Deltas within a batch are small; the library reads those of 2^30 and more as negative.
  offsetDelta: fc.integer({ min: 0, max: 2 ** 24 }),
  key: bytes,
  value: bytes,
  headers: fc.array(
    fc.tuple(
      fc.string().map((s) => Buffer.from(s)),
      bytes,
    ),
    { maxLength: 3 },
  ),
}) as fc.Arbitrary<KafkaRecord>
const batch = fc.record({
  firstOffset: fc.bigInt({ min: 0n, max: 2n ** 52n }),
  length: fc.constant(0),
  partitionLeaderEpoch: fc.integer({ min: 0, max: 1000 }),
  magic: fc.constant(2),
  crc: fc.constant(0),
  attributes: fc.constantFrom(0, 1 << 3, 1 << 4, (1 << 4) | (1 << 5)),
  lastOffsetDelta: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  firstTimestamp: fc.bigInt({ min: 0n, max: 2n ** 50n }),
  maxTimestamp: fc.bigInt({ min: 0n, max: 2n ** 50n }),
  producerId: fc.bigInt({ min: -1n, max: 2n ** 52n }),
  producerEpoch: fc.integer({ min: -1, max: 100 }),
  firstSequence: fc.integer({ min: -1, max: 1000 }),
  records: fc.array(record, { maxLength: 5 }),
}) as fc.Arbitrary<RecordsBatch>

/** What readBatches gives, in the shape of the library's reader, to compare the two. */
function viaReadBatches(data: Buffer) {
  return readBatches(data).map((b) => {
    const records: unknown[] = []
    b.forEachRecord((offsetDelta, timestampDelta, key, value, headers) =>
      records.push({ offsetDelta, timestampDelta, key, value, headers }),
    )
    const { forEachRecord: _, crcMatches: __, ...header } = b
    return { ...header, records }
  })
}

/** The library's reading of the same bytes, in readBatches' terms (numbers, decoded headers). */
function viaLibrary(data: Buffer) {
  return readRecordsBatches(Reader.from(data)).map((b) => ({
    firstOffset: Number(b.firstOffset),
    attributes: b.attributes,
    lastOffsetDelta: b.lastOffsetDelta,
    firstTimestamp: Number(b.firstTimestamp),
    maxTimestamp: Number(b.maxTimestamp),
    producerId: Number(b.producerId),
    recordCount: b.records.length,
    records: b.records.map((r) => ({
      offsetDelta: r.offsetDelta,
      timestampDelta: Number(r.timestampDelta),
      key: r.key,
      value: r.value,
      headers:
        r.headers.length === 0
          ? NO_HEADERS
          : Object.fromEntries(r.headers.map(([n, v]) => [n?.toString('utf8'), v?.toString('utf8') ?? ''])),
    })),
  }))
}

describe('readBatches', () => {
  // The library's reader is the reference: the same bytes must read the same, field by field.
  for (const compression of [undefined, 'gzip', 'snappy', 'lz4', 'zstd'] as (Compression | undefined)[]) {
    test(`reads what the library reads (${compression ?? 'uncompressed'})`, () => {
      fc.assert(
        fc.property(fc.array(batch, { maxLength: 4 }), (batches) => {
          const data = recordBatchBytes(batches, compression)
          expect(viaReadBatches(data)).toEqual(viaLibrary(data))
        }),
        { numRuns: compression ? 30 : 200 },
      )
    })
  }

  test("a header named '__proto__' is read as a header, not dropped (fast-check seed 1513621331)", () => {
    const data = recordBatchBytes([
      {
        firstOffset: 0n,
        length: 0,
        partitionLeaderEpoch: 0,
        magic: 2,
        crc: 0,
        attributes: 0,
        lastOffsetDelta: 0,
        firstTimestamp: 0n,
        maxTimestamp: 0n,
        producerId: 0n,
        producerEpoch: 0,
        firstSequence: 0,
        records: [
          {
            length: 0,
            attributes: 0,
            timestampDelta: 0n,
            offsetDelta: 0,
            key: null,
            value: null,
            headers: [
              [Buffer.from('__proto__'), null],
              [Buffer.from('trace'), Buffer.from('t-1')],
            ],
          },
        ],
      } as unknown as RecordsBatch,
    ])
    const [headers] = viaReadBatches(data).flatMap((b) => b.records as { headers: Record<string, string> }[])
    expect(Object.keys(headers?.headers ?? {})).toEqual(['__proto__', 'trace'])
    expect(Object.getPrototypeOf(headers?.headers)).toBe(Object.prototype)
    expect(viaReadBatches(data)).toEqual(viaLibrary(data))
  })

  test('leaves out a batch cut off at the end of the response', () => {
    fc.assert(
      fc.property(fc.array(batch, { minLength: 1, maxLength: 3 }), fc.nat(), (batches, cut) => {
        const data = recordBatchBytes(batches)
        const last = recordBatchBytes(batches.slice(-1)).length
        const truncated = data.subarray(0, data.length - 1 - (cut % last))
        expect(readBatches(truncated).length).toBe(batches.length - 1)
      }),
    )
  })

  test('every batch carries a CRC-32C that matches (fixtures write the real one, as a broker sends it)', () => {
    fc.assert(
      fc.property(
        fc.array(batch, { maxLength: 4 }),
        fc.constantFrom(undefined, 'gzip', 'zstd'),
        (batches, c) => {
          expect(
            readBatches(recordBatchBytes(batches, c as Compression | undefined)).map((b) => b.crcMatches()),
          ).toEqual(batches.map(() => true))
        },
      ),
      { numRuns: 50 },
    )
  })

  test('a flipped bit anywhere from the CRC field to the end of a batch fails that batch only', () => {
    fc.assert(
      fc.property(
        fc.array(batch, { minLength: 1, maxLength: 3 }),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        (batches, which, where, bit) => {
          const data = recordBatchBytes(batches)
          const target = which % batches.length
          const start = recordBatchBytes(batches.slice(0, target)).length
          const size = recordBatchBytes([batches[target] as RecordsBatch]).length
          // Offset (8), length (4), leader epoch (4), magic (1) lie outside the CRC; the CRC field and all after it are checked.
          const from = start + 17
          const at = from + (where % (start + size - from))
          data[at] = (data[at] as number) ^ (1 << bit)
          expect(readBatches(data).map((b) => b.crcMatches())).toEqual(batches.map((_, i) => i !== target))
        },
      ),
      { numRuns: 300 },
    )
  })
})
