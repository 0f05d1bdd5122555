import { describe, expect, test } from 'bun:test'
import { IS_CONTROL, IS_TRANSACTIONAL, type KafkaRecord, type RecordsBatch } from '@platformatic/kafka'
import { isBatonError } from '../core/errors.ts'
import { NO_HEADERS } from '../ports.ts'
import { corruptBatchError, decodePartition } from './record-decoder.ts'
import { recordBatchBytes } from './testing.ts'

function record(
  offsetDelta: number,
  value: string | null,
  headers: KafkaRecord['headers'] = [],
): KafkaRecord {
  return {
    length: 0,
    attributes: 0,
    timestampDelta: BigInt(offsetDelta * 10),
    offsetDelta,
    key: Buffer.from(`k${offsetDelta}`),
    value: value === null ? null : Buffer.from(value),
    headers,
  }
}

function batch(firstOffset: number, records: KafkaRecord[], extra: Partial<RecordsBatch> = {}): RecordsBatch {
  return {
    firstOffset: BigInt(firstOffset),
    length: 0,
    partitionLeaderEpoch: 0,
    magic: 2,
    crc: 0,
    attributes: 0,
    lastOffsetDelta: records.at(-1)?.offsetDelta ?? 0,
    firstTimestamp: 1_000n,
    maxTimestamp: 5_000n,
    producerId: -1n,
    producerEpoch: -1,
    firstSequence: 0,
    records,
    ...extra,
  }
}

/** A transaction marker: key (version 0, type 0 = abort, 1 = commit). */
function marker(offset: number, producerId: bigint, abort: boolean): RecordsBatch {
  const key = Buffer.alloc(4)
  key.writeInt16BE(abort ? 0 : 1, 2)
  return batch(offset, [{ ...record(0, null), key }], {
    attributes: IS_CONTROL | IS_TRANSACTIONAL,
    producerId,
  })
}

/** decodePartition over the bytes the broker would send for `batches`. */
const decode = (
  topic: string,
  partition: number,
  batches: RecordsBatch[],
  fetchOffset: number,
  aborted?: Parameters<typeof decodePartition>[4],
) => decodePartition(topic, partition, recordBatchBytes(batches), fetchOffset, aborted)

const values = (records: { value: Buffer | null }[]) => records.map((r) => r.value?.toString() ?? null)

describe('decodePartition', () => {
  test('numbers records, decodes headers, and continues after the last batch', () => {
    const { records, nextOffset } = decode(
      't',
      2,
      [
        batch(10, [record(0, 'a', [[Buffer.from('h'), Buffer.from('v')]]), record(1, null)]),
        batch(12, [record(0, 'c', [[Buffer.from('empty'), null]])]),
      ],
      10,
    )
    expect(nextOffset).toBe(13)
    expect(records.map((r) => [r.topic, r.partition, r.offset, r.timestamp])).toEqual([
      ['t', 2, 10, 1_000],
      ['t', 2, 11, 1_010],
      ['t', 2, 12, 1_000],
    ])
    expect(values(records)).toEqual(['a', null, 'c'])
    expect(records[0]?.key?.toString()).toBe('k0')
    expect(records[0]?.headers).toEqual({ h: 'v' })
    expect(records[1]?.headers).toBe(NO_HEADERS)
    expect(records[2]?.headers).toEqual({ empty: '' })
  })

  test('drops the records of a batch that lie before the fetch offset', () => {
    const { records, nextOffset } = decode(
      't',
      0,
      [batch(0, [record(0, 'a'), record(1, 'b'), record(2, 'c')])],
      2,
    )
    expect(values(records)).toEqual(['c'])
    expect(nextOffset).toBe(3)
  })

  test('keeps the fetch offset when nothing came back', () => {
    expect(decodePartition('t', 0, null, 7)).toEqual({ records: [], nextOffset: 7 })
    expect(decodePartition('t', 0, Buffer.alloc(0), 7)).toEqual({ records: [], nextOffset: 7 })
  })

  test('uses the broker time for log-append-time topics', () => {
    const { records } = decode(
      't',
      0,
      [batch(0, [record(0, 'a'), record(1, 'b')], { attributes: 1 << 3 })],
      0,
    )
    expect(records.map((r) => r.timestamp)).toEqual([5_000, 5_000])
  })

  test('skips transaction markers but moves past them', () => {
    const { records, nextOffset } = decode(
      't',
      0,
      [
        batch(0, [record(0, 'a'), record(1, 'b')], { attributes: IS_TRANSACTIONAL, producerId: 7n }),
        marker(2, 7n, false),
      ],
      0,
    )
    expect(values(records)).toEqual(['a', 'b'])
    expect(nextOffset).toBe(3)
  })

  test('skips the records of aborted transactions, and only those', () => {
    const txn = { attributes: IS_TRANSACTIONAL }
    const { records, nextOffset } = decode(
      't',
      0,
      [
        batch(0, [record(0, 'p7-aborted'), record(1, 'p7-aborted')], { ...txn, producerId: 7n }),
        batch(2, [record(0, 'p8-committed')], { ...txn, producerId: 8n }),
        batch(3, [record(0, 'plain')]),
        marker(4, 7n, true),
        marker(5, 8n, false),
        batch(6, [record(0, 'p7-next')], { ...txn, producerId: 7n }),
        marker(7, 7n, false),
      ],
      0,
      [{ producerId: 7n, firstOffset: 0n }],
    )
    expect(values(records)).toEqual(['p8-committed', 'plain', 'p7-next'])
    expect(nextOffset).toBe(8)
  })

  test('stops at a batch whose CRC-32C fails: the batches before it are used, nothing from it or after it', () => {
    const batches = [
      batch(0, [record(0, 'a'), record(1, 'b')]),
      batch(2, [record(0, 'c')]),
      batch(3, [record(0, 'd')]),
    ]
    const bytes = recordBatchBytes(batches)
    // A value byte of the second batch ('c'), as a flip on the wire would change it.
    const at = bytes.indexOf('c', recordBatchBytes(batches.slice(0, 1)).length)
    bytes[at] = 'x'.charCodeAt(0)
    const decoded = decodePartition('t', 0, bytes, 0)
    expect(values(decoded.records)).toEqual(['a', 'b'])
    expect(decoded.nextOffset).toBe(2)
    expect(decoded.corrupt).toEqual({ firstOffset: 2 })
    // Unchecked (BATON_CHECK_CRCS=false), the damaged value passes: what the check is for.
    const unchecked = decodePartition('t', 0, bytes, 0, null, { checkCrcs: false })
    expect(values(unchecked.records)).toEqual(['a', 'b', 'x', 'd'])
    expect(unchecked.corrupt).toBeUndefined()
  })

  test('a damaged length field: no whole batch where the broker must send one is corrupt, not a batch cut off', () => {
    const whole = recordBatchBytes([batch(5, [record(0, 'a'), record(1, 'b')])])
    for (const length of [whole.length * 4, 3]) {
      const bytes = Buffer.from(whole)
      bytes.writeInt32BE(length, 8)
      // First in its request: the broker sent a whole batch, so the length must be wrong.
      expect(decodePartition('t', 0, bytes, 5, null, { wholeBatchDue: true })).toEqual({
        records: [],
        nextOffset: 5,
        corrupt: { firstOffset: 5 },
      })
      // Later in a request the broker may cut the first batch off at the partition's share: fetch it again.
      expect(decodePartition('t', 0, bytes, 5)).toEqual({ records: [], nextOffset: 5 })
      expect(decodePartition('t', 0, bytes, 5, null, { checkCrcs: false, wholeBatchDue: true })).toEqual({
        records: [],
        nextOffset: 5,
      })
    }
    // A sound batch first in its request is read as ever.
    expect(values(decodePartition('t', 0, whole, 5, null, { wholeBatchDue: true }).records)).toEqual([
      'a',
      'b',
    ])
  })

  test('a corrupt first batch keeps the fetch offset', () => {
    const bytes = recordBatchBytes([batch(5, [record(0, 'a'), record(1, 'b')])])
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1
    expect(decodePartition('t', 0, bytes, 6)).toEqual({
      records: [],
      nextOffset: 6,
      corrupt: { firstOffset: 5 },
    })
    const error = corruptBatchError({ topic: 't', partition: 0 }, { firstOffset: 5 })
    expect(isBatonError(error, 'CORRUPT_RECORD_BATCH')).toBe(true)
    expect(error.message).toContain('offset 5 of t/0')
  })
})
