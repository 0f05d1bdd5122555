/**
 * What BATON_CHECK_CRCS costs: decoding fetched record batches of 100-byte events with and without the
 * CRC-32C check, and the checksum alone, on this machine. The batches are built like a broker's (real
 * CRCs; the test fixtures' writer), 64 KiB per partition chunk as the fetcher asks for them. Prints the
 * figures; `bun bench/record-check.ts`.
 */
import type { RecordsBatch } from '@platformatic/kafka'
import { decodePartition } from '../actors/kafka/record-decoder.ts'
import { recordBatchBytes } from '../actors/kafka/testing.ts'

const EVENT_BYTES = 100
const EVENTS_PER_BATCH = 500

function fetchChunk(): Buffer {
  const value = Buffer.alloc(EVENT_BYTES, 'x')
  const records = Array.from({ length: EVENTS_PER_BATCH }, (_, i) => ({
    length: 0,
    attributes: 0,
    timestampDelta: BigInt(i),
    offsetDelta: i,
    key: Buffer.from(`key-${i % 1000}`),
    value,
    headers: [],
  }))
  const batch = {
    firstOffset: 0n,
    length: 0,
    partitionLeaderEpoch: 0,
    magic: 2,
    crc: 0,
    attributes: 0,
    lastOffsetDelta: EVENTS_PER_BATCH - 1,
    firstTimestamp: 0n,
    maxTimestamp: 0n,
    producerId: -1n,
    producerEpoch: -1,
    firstSequence: 0,
    records,
  } as RecordsBatch
  return recordBatchBytes([batch])
}

/** CPU seconds per million events and MB/s of decoding with and without the check. */
export function measureRecordCheck(rounds = 2_000): {
  batchBytes: number
  checkMBps: number
  decodeCpuSecondsPerMillion: { checked: number; unchecked: number; check: number }
} {
  const bytes = fetchChunk()
  const run = (checkCrcs: boolean) => {
    for (let i = 0; i < 50; i++) decodePartition('t', 0, bytes, 0, null, { checkCrcs })
    const cpu = process.cpuUsage()
    for (let i = 0; i < rounds; i++) decodePartition('t', 0, bytes, 0, null, { checkCrcs })
    const used = process.cpuUsage(cpu)
    return (used.user + used.system) / 1e6
  }
  const unchecked = Math.min(run(false), run(false))
  const checked = Math.min(run(true), run(true))
  const perMillion = (s: number) => (s / (rounds * EVENTS_PER_BATCH)) * 1e6
  const check = Math.max(0, checked - unchecked)
  return {
    batchBytes: bytes.length,
    checkMBps: check > 0 ? Math.round((rounds * bytes.length) / 1e6 / check) : Number.POSITIVE_INFINITY,
    decodeCpuSecondsPerMillion: {
      checked: Number(perMillion(checked).toPrecision(3)),
      unchecked: Number(perMillion(unchecked).toPrecision(3)),
      check: Number(perMillion(check).toPrecision(3)),
    },
  }
}

if (import.meta.main) console.log(JSON.stringify(measureRecordCheck(), null, 2))
