import postgres from 'postgres'
import { type Dataset, datasetCopyRows } from './dataset.ts'
import type { BenchServices } from './services.ts'

/** PostgreSQL's bulk ingest of the dataset's rows into a table shaped like baton_events. */
export interface CopyLimit {
  readonly copyRowsPerSec: number
  readonly seconds: number
}

/** One connection per partition, as baton has one transaction per partition in flight. */
export const COPY_CONNECTIONS = 8
/** Bytes per write to the COPY stream. */
const CHUNK_BYTES = 256 * 1024

/**
 * `COPY … FROM STDIN` of the same rows (text format) into `bench_copy` (baton_events' shape: same
 * columns, primary key and defaults) over 8 connections at once, each copying one share of the rows.
 * The rows are built before the clock starts. The table is emptied afterwards.
 */
export async function copyLimit(services: BenchServices, dataset: Dataset): Promise<CopyLimit> {
  const shares = datasetCopyRows(dataset)
  const { sql } = services
  await sql`create table if not exists bench_copy (like baton_events including all)`
  await sql`truncate bench_copy`
  const connections = Array.from({ length: COPY_CONNECTIONS }, () =>
    postgres(services.databaseUrl, { max: 1, onnotice: () => {} }),
  )
  try {
    // Connect first: the handshakes are no part of ingest.
    await Promise.all(connections.map((c) => c`select 1`))
    await services.settle()
    const started = performance.now()
    await Promise.all(
      connections.map(async (c, i) => {
        const stream = await c`copy bench_copy (topic, partition, "offset", key, value, headers, event_time)
          from stdin`.writable()
        for (let share = i; share < shares.length; share += COPY_CONNECTIONS)
          await writeAll(stream, shares[share] as Buffer)
        await new Promise<void>((resolve, reject) => {
          stream.on('error', reject)
          stream.end(resolve)
        })
      }),
    )
    const seconds = (performance.now() - started) / 1000
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from bench_copy`
    if (row?.n !== dataset.events) throw new Error(`COPY stored ${row?.n} rows, expected ${dataset.events}`)
    return { copyRowsPerSec: dataset.events / seconds, seconds }
  } finally {
    await Promise.all(connections.map((c) => c.end({ timeout: 5 })))
    await sql`truncate bench_copy`
  }
}

/** Writes `data` in chunks, waiting for the stream to drain when it asks to. */
async function writeAll(stream: NodeJS.WritableStream, data: Buffer): Promise<void> {
  for (let at = 0; at < data.length; at += CHUNK_BYTES) {
    if (!stream.write(data.subarray(at, at + CHUNK_BYTES)))
      await new Promise<void>((resolve) => stream.once('drain', resolve))
  }
}
