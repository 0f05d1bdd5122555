import { IS_CONTROL, IS_TRANSACTIONAL } from '@platformatic/kafka'
import { BatonError } from '../core/errors.ts'
import { type SourceRecord, type TopicPartition, tpString } from '../ports.ts'
import { firstBatchOffset, type RecordBatch, readBatches } from './record-batches.ts'

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
  /**
   * Where the next fetch continues: after the last complete batch, control and aborted batches included;
   * at the corrupt batch when there is one.
   */
  readonly nextOffset: number
  /** The first batch whose CRC-32C did not match: nothing from it or after it is in `records`. */
  readonly corrupt?: CorruptBatch
}

/** A record batch whose bytes do not match its CRC-32C: damaged on the way or on the broker's disk. */
export interface CorruptBatch {
  /** Its base offset (outside the CRC, like the length; the fields inside it cannot be trusted). */
  readonly firstOffset: number
}

/** The error a corrupt batch is reported with (CORRUPT_RECORD_BATCH). */
export function corruptBatchError(tp: TopicPartition, batch: CorruptBatch): BatonError {
  return new BatonError(
    'CORRUPT_RECORD_BATCH',
    `The record batch at offset ${batch.firstOffset} of ${tpString(tp)} does not match its CRC-32C: its bytes were ` +
      'damaged on the way from the broker or on its disk. Nothing from it is used; it is fetched again with ' +
      'backoff. If it stays corrupt, check the broker (its log segment: `kafka-dump-log.sh --deep-iteration`) and the network path.',
  )
}

/**
 * Turns the record batches of one partition of a fetch response (its raw bytes) into baton records.
 *
 * - With `checkCrcs` (the default), each batch is checked against its CRC-32C before anything is read
 *   from it; decoding stops at the first that does not match, which is returned as `corrupt`, with the
 *   records of the sound batches before it.
 * - `wholeBatchDue`: the partition came first in its fetch request, so the broker sends at least one whole
 *   batch (KIP-74). Bytes that hold none then have a damaged length field (outside the CRC): with
 *   `checkCrcs` that is `corrupt` too, instead of a cut-off batch fetched again and again without end.
 * - Batches may start before `fetchOffset` (a compressed batch is returned whole); earlier records are dropped.
 * - Control batches (transaction markers) are skipped but still move `nextOffset`, so fetching never stalls
 *   on a marker.
 * - `aborted` is the response's aborted-transaction list (read_committed): records of a transactional
 *   producer from an aborted transaction's first offset up to its abort marker are skipped, as Kafka's
 *   own consumer does.
 * - Keys and values are views of the response buffer (no copy); headers decode as UTF-8, a null header
 *   value as the empty string, and a record without headers shares `NO_HEADERS`.
 */
export function decodePartition(
  topic: string,
  partition: number,
  bytes: Buffer | null,
  fetchOffset: number,
  aborted: readonly AbortedTransaction[] | null = null,
  { checkCrcs = true, wholeBatchDue = false }: { checkCrcs?: boolean; wholeBatchDue?: boolean } = {},
): DecodedPartition {
  const records: SourceRecord[] = []
  if (!bytes || bytes.length === 0) return { records, nextOffset: fetchOffset }
  const pendingAborts =
    aborted && aborted.length > 0
      ? aborted.map((a) => ({ producerId: Number(a.producerId), firstOffset: Number(a.firstOffset) }))
      : []
  pendingAborts.sort((a, b) => a.firstOffset - b.firstOffset)
  let nextAbort = 0
  const abortedProducers = new Set<number>()
  let nextOffset = fetchOffset
  const batches = readBatches(bytes)
  if (batches.length === 0 && checkCrcs && wholeBatchDue)
    return { records, nextOffset, corrupt: { firstOffset: firstBatchOffset(bytes) ?? fetchOffset } }
  for (const batch of batches) {
    const lastOffset = batch.firstOffset + batch.lastOffsetDelta
    if (checkCrcs && !batch.crcMatches())
      return { records, nextOffset, corrupt: { firstOffset: batch.firstOffset } }
    nextOffset = lastOffset + 1
    const isControl = (batch.attributes & IS_CONTROL) !== 0
    if (batch.producerId >= 0 && pendingAborts.length > 0) {
      for (; nextAbort < pendingAborts.length; nextAbort++) {
        const abort = pendingAborts[nextAbort] as { producerId: number; firstOffset: number }
        if (abort.firstOffset > lastOffset) break
        abortedProducers.add(abort.producerId)
      }
      if (isControl) {
        if (isAbortMarker(batch)) abortedProducers.delete(batch.producerId)
        continue
      }
      if ((batch.attributes & IS_TRANSACTIONAL) !== 0 && abortedProducers.has(batch.producerId)) continue
    }
    if (isControl) continue
    const { firstOffset, firstTimestamp } = batch
    const appendTime = (batch.attributes & LOG_APPEND_TIME) !== 0 ? batch.maxTimestamp : null
    batch.forEachRecord((offsetDelta, timestampDelta, key, value, headers) => {
      const offset = firstOffset + offsetDelta
      if (offset < fetchOffset) return
      records.push({
        topic,
        partition,
        offset,
        key,
        value,
        headers,
        timestamp: appendTime ?? firstTimestamp + timestampDelta,
      })
    })
  }
  return { records, nextOffset }
}

/** A control batch whose record's key says (version, type 0): the end of an aborted transaction. */
function isAbortMarker(batch: RecordBatch): boolean {
  let first = true
  let abort = false
  batch.forEachRecord((_offsetDelta, _timestampDelta, key) => {
    if (first) abort = key !== null && key.length >= 4 && key.readInt16BE(2) === ABORT_MARKER
    first = false
  })
  return abort
}
