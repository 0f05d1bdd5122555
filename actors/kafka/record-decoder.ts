import { IS_CONTROL, IS_TRANSACTIONAL, type KafkaRecord, type RecordsBatch } from '@platformatic/kafka'
import { NO_HEADERS, type SourceRecord } from '../ports.ts'

/** Batch attribute bit 3: the broker stamped the batch (topic `message.timestamp.type=LogAppendTime`). */
const LOG_APPEND_TIME = 1 << 3
/** A control record's key is (version: int16, type: int16); type 0 marks an aborted transaction. */
const ABORT_MARKER = 0

/** A transaction the broker reports as aborted in a read_committed fetch, from its first offset on. */
export interface AbortedTransaction {
  readonly producerId: bigint
  readonly firstOffset: bigint
}

export interface DecodedPartition {
  /** The data records at or after the fetch offset, in offset order, without control or aborted records. */
  readonly records: SourceRecord[]
  /** Where the next fetch continues: after the last complete batch, control and aborted batches included. */
  readonly nextOffset: number
}

/**
 * Turns the record batches of one partition of a fetch response into baton records.
 *
 * - Batches may start before `fetchOffset` (a compressed batch is returned whole); earlier records are dropped.
 * - Control batches (transaction markers) are skipped but still move `nextOffset`, so fetching never stalls
 *   on a marker.
 * - `aborted` is the response's aborted-transaction list (read_committed): records of a transactional
 *   producer from an aborted transaction's first offset up to its abort marker are skipped, as Kafka's
 *   own consumer does.
 * - Keys, values and header values are views of the response buffer (no copy); headers decode as UTF-8,
 *   a null header value as the empty string, and a record without headers shares `NO_HEADERS`.
 */
export function decodePartition(
  topic: string,
  partition: number,
  batches: readonly RecordsBatch[] | null,
  fetchOffset: number,
  aborted: readonly AbortedTransaction[] | null = null,
): DecodedPartition {
  const records: SourceRecord[] = []
  if (!batches || batches.length === 0) return { records, nextOffset: fetchOffset }
  const pendingAborts = aborted && aborted.length > 0 ? [...aborted].sort(byFirstOffset) : []
  let nextAbort = 0
  const abortedProducers = new Set<bigint>()
  let nextOffset = fetchOffset
  for (const batch of batches) {
    const lastOffset = batch.firstOffset + BigInt(batch.lastOffsetDelta)
    nextOffset = Number(lastOffset) + 1
    const isControl = (batch.attributes & IS_CONTROL) !== 0
    if (batch.producerId >= 0n && pendingAborts.length > 0) {
      for (; nextAbort < pendingAborts.length; nextAbort++) {
        const abort = pendingAborts[nextAbort] as AbortedTransaction
        if (abort.firstOffset > lastOffset) break
        abortedProducers.add(abort.producerId)
      }
      if (isControl) {
        if (isAbortMarker(batch.records[0])) abortedProducers.delete(batch.producerId)
        continue
      }
      if ((batch.attributes & IS_TRANSACTIONAL) !== 0 && abortedProducers.has(batch.producerId)) continue
    }
    if (isControl) continue
    const appendTime = (batch.attributes & LOG_APPEND_TIME) !== 0 ? Number(batch.maxTimestamp) : null
    // Offsets and times in plain numbers (exact below 2^53, i.e. for any offset or millisecond time in
    // use): BigInt arithmetic would allocate twice per record.
    const firstOffset = Number(batch.firstOffset)
    const firstTimestamp = Number(batch.firstTimestamp)
    for (const record of batch.records) {
      const offset = firstOffset + record.offsetDelta
      if (offset < fetchOffset) continue
      records.push({
        topic,
        partition,
        offset,
        key: record.key,
        value: record.value,
        headers: decodeHeaders(record.headers),
        timestamp: appendTime ?? firstTimestamp + Number(record.timestampDelta),
      })
    }
  }
  return { records, nextOffset }
}

function decodeHeaders(headers: KafkaRecord['headers']): Readonly<Record<string, string>> {
  if (headers.length === 0) return NO_HEADERS
  const decoded: Record<string, string> = {}
  for (const [key, value] of headers) {
    if (key) decoded[key.toString('utf8')] = value?.toString('utf8') ?? ''
  }
  return decoded
}

function isAbortMarker(record: KafkaRecord | undefined): boolean {
  const key = record?.key
  return key !== null && key !== undefined && key.length >= 4 && key.readInt16BE(2) === ABORT_MARKER
}

function byFirstOffset(a: AbortedTransaction, b: AbortedTransaction): number {
  return a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0
}
