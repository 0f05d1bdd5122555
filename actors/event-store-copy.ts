import { isUtf8 } from 'node:buffer'
import type { TransactionSql } from 'postgres'
import { NO_HEADERS, type SinkTx, type SourceRecord } from './ports.ts'

/**
 * The event store's rows for PostgreSQL, as one `COPY ... FROM STDIN (FORMAT binary)` inside the batch's
 * transaction, which a transaction shared by several partitions' batches sends once for all of them. Keys and values go from the fetch response's bytes into the COPY data without becoming
 * strings; the multi-row INSERT it replaced spent most of a node's CPU per event turning a batch into
 * text parameters (a string per key and value, joins, escaping, re-encoding) for PostgreSQL to split
 * again.
 */
const COPY_STATEMENT = `copy baton_events (topic, partition, "offset", key, value, headers, event_time)
  from stdin (format binary)`

/** The binary COPY header: signature, flags (int32 0), header extension length (int32 0). */
const HEADER = Buffer.from([...Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), ...[0, 0, 0, 0], ...[0, 0, 0, 0]])
/** The field count of a row; the trailer is a field count of -1. */
const FIELDS = 7
const TRAILER = Buffer.from([0xff, 0xff])
/** jsonb's binary form: a version byte (1), then the JSON text. */
const JSONB_VERSION = 1
const NO_HEADERS_JSON = Buffer.from('{}')
/** PostgreSQL counts timestamps in microseconds from 2000-01-01 UTC. */
const PG_EPOCH_MS = 946_684_800_000
const TWO_32 = 4_294_967_296

/** The settlers postgres.js 3.4 keeps on a query object (query.js), called once more when the COPY ends. */
interface CopyQuerySettlers {
  resolve: (result: unknown) => void
  reject: (err: unknown) => void
}

/** One row's variable fields as bytes; null for a null key. */
interface RowBytes {
  readonly key: Buffer | null
  readonly value: Buffer
  readonly headers: Buffer
}

/**
 * Stores `records` (with `values`, their JSON texts in UTF-8 as the event store decoded them) in `baton_events`:
 * through `tx.copy` when the transaction gathers its batches' rows into one COPY, else by a binary COPY
 * of their own. Resolves when PostgreSQL accepted every row (or took them to send); a primary-key
 * conflict (a double got through) or a lost connection fails the transaction.
 */
export async function copyEvents(
  tx: Extract<SinkTx, { kind: 'postgres' }>,
  topic: string,
  partition: number,
  records: readonly SourceRecord[],
  values: readonly Buffer[],
): Promise<void> {
  const tuples = encodeTuples(topic, partition, records, values)
  if (tx.copy) tx.copy(COPY_STATEMENT, tuples)
  else await copyIn(tx.sql, COPY_STATEMENT, [tuples])
}

/**
 * Runs `statement` (a `COPY ... FROM STDIN (FORMAT binary)`) on `tx` with `tuples` (binary COPY tuples,
 * in order) between one header and one trailer. Resolves when PostgreSQL accepted every row; rejects with
 * its error or the connection's.
 */
export async function copyIn(
  tx: TransactionSql,
  statement: string,
  tuples: readonly Buffer[],
): Promise<void> {
  const query = tx.unsafe(statement)
  const stream = await query.writable()
  const settle = query as unknown as CopyQuerySettlers
  // postgres.js 3.4 settles the COPY's query promise when COPY starts (with the stream), and drops an
  // error PostgreSQL reports after the data ended (a conflicting row) unless the stream is still open: it
  // then calls the query's resolve or reject again. Taking those over is how the outcome reaches here.
  const outcome = new Promise<void>((resolve, reject) => {
    settle.resolve = () => resolve()
    settle.reject = reject
    stream.on('error', reject)
  })
  // The stream hands postgres.js one buffer (one CopyData message) once the socket took the one before:
  // what it and the socket copy at a time is one batch's rows, not all of a shared transaction's.
  stream.write(HEADER)
  for (const batch of tuples) stream.write(batch)
  stream.end(TRAILER)
  await outcome
}

/** The binary COPY tuples of the rows, without header and trailer. Exported for its test. */
export function encodeTuples(
  topic: string,
  partition: number,
  records: readonly SourceRecord[],
  values: readonly Buffer[],
): Buffer {
  const topicBytes = Buffer.from(topic)
  const rows = new Array<RowBytes>(records.length)
  // Per row: field count, 7 lengths, partition (4), offset (8), event_time (8), the jsonb versions (2).
  const fixed = 2 + 7 * 4 + 4 + 8 + 8 + 2 + topicBytes.length
  let size = 0
  for (let i = 0; i < records.length; i++) {
    const record = records[i] as SourceRecord
    const row: RowBytes = {
      key: record.key === null ? null : utf8(record.key),
      value: values[i] as Buffer,
      headers: record.headers === NO_HEADERS ? NO_HEADERS_JSON : Buffer.from(JSON.stringify(record.headers)),
    }
    rows[i] = row
    size += fixed + (row.key?.length ?? 0) + row.value.length + row.headers.length
  }
  const out = Buffer.allocUnsafe(size)
  let at = 0
  for (let i = 0; i < records.length; i++) {
    const record = records[i] as SourceRecord
    const row = rows[i] as RowBytes
    at = out.writeInt16BE(FIELDS, at)
    at = bytesField(out, at, topicBytes)
    at = out.writeInt32BE(4, at)
    at = out.writeInt32BE(partition, at)
    at = int64Field(out, at, record.offset)
    at = row.key === null ? out.writeInt32BE(-1, at) : bytesField(out, at, row.key)
    at = jsonbField(out, at, row.value)
    at = jsonbField(out, at, row.headers)
    at = int64Field(out, at, (record.timestamp - PG_EPOCH_MS) * 1000)
  }
  return out
}

/**
 * A key's bytes as text: as they are when they are UTF-8 (PostgreSQL refuses anything else in a text
 * column), else the text `toString` makes of them (invalid sequences as U+FFFD), as before.
 */
function utf8(bytes: Buffer): Buffer {
  return isUtf8(bytes) ? bytes : Buffer.from(bytes.toString('utf8'))
}

function bytesField(out: Buffer, at: number, bytes: Buffer): number {
  const next = out.writeInt32BE(bytes.length, at)
  return next + bytes.copy(out, next)
}

function jsonbField(out: Buffer, at: number, json: Buffer): number {
  let next = out.writeInt32BE(json.length + 1, at)
  next = out.writeUInt8(JSONB_VERSION, next)
  return next + json.copy(out, next)
}

/** An int8 field from a number (exact below 2^53, as offsets and microsecond times are). */
function int64Field(out: Buffer, at: number, n: number): number {
  const next = out.writeInt32BE(8, at)
  const high = Math.floor(n / TWO_32)
  out.writeInt32BE(high, next)
  return out.writeUInt32BE(n - high * TWO_32, next + 4)
}
