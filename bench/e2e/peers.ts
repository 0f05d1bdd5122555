import { join } from 'node:path'
import { connectPeerCommand, connectPeerSettings, prepareConnectPeer } from './connect-peer.ts'
import type { Dataset } from './dataset.ts'
import { buildGoPeer, goPeerModules } from './go-peer.ts'
import { type PeerConfig, runPeerProcess } from './peer-process.ts'
import type { BenchServices } from './services.ts'

/**
 * The peers: KafkaJS consumers as Node.js teams write them (bench/e2e/peers/), a franz-go + pgx
 * consumer as a Go team writes it (bench/peers/go), and Kafka Connect with Debezium's JDBC sink as a
 * team that writes no consumer configures it (bench/peers/connect, connect-config.ts).
 */
export type PeerName = 'kafkajsEachMessage' | 'kafkajsEachBatch' | 'go' | 'connect'

/** The order the peers run in, in every round. */
export const peerNames: readonly PeerName[] = ['kafkajsEachMessage', 'kafkajsEachBatch', 'go', 'connect']

/** What a peer is, for the reader of bench/results/e2e.json. */
export interface PeerAbout {
  readonly consumer: string
  readonly writes: string
  readonly guarantee: string
  /** Versions and tuning, for a peer that is configured rather than written (connect). */
  readonly settings?: Readonly<Record<string, string | number>>
}

/** A peer ready to run: its command (the config follows as one JSON argument), or why it cannot run here. */
export type PreparedPeer =
  | { readonly about: PeerAbout; readonly command: readonly string[] }
  | { readonly about: PeerAbout; readonly skipped: string }

/** Finds or builds what each peer runs, once before the rounds; progress goes to `progress`. */
export async function preparePeers(
  progress: (line: string) => void,
): Promise<Record<PeerName, PreparedPeer>> {
  const node = (script: string) => ['node', join(import.meta.dir, 'peers', script)]
  const atLeastOnce = 'at least once (offsets committed after the writes; a restart may store events twice)'
  const modules = goPeerModules()
  const go = await buildGoPeer(progress)
  const connect = await prepareConnectPeer(progress)
  const connectSettings = connectPeerSettings(connect)
  const connectAbout: PeerAbout = {
    consumer: `Kafka Connect ${connectSettings.kafkaConnect} standalone worker (JVM), a sink task per partition`,
    writes: `Debezium JDBC sink ${connectSettings.debeziumJdbc}, upsert (INSERT … ON CONFLICT on topic, partition, offset) in batches of up to ${connectSettings.batchSize} rows`,
    guarantee:
      'at least once, stored once: the worker commits Kafka offsets after the writes, and a redelivered event upserts its own row again',
    settings: { ...connectSettings },
  }
  const goAbout: PeerAbout = {
    consumer: `franz-go ${modules['github.com/twmb/franz-go']} consumer group, a goroutine per partition${'toolchain' in go ? ` (${go.toolchain})` : ''}`,
    writes: `pgx ${modules['github.com/jackc/pgx/v5']} CopyFrom, one transaction per partition batch of up to 1,000 events`,
    guarantee:
      "exactly once into PostgreSQL, as baton: each transaction also moves the partition's watermark row from the batch's first offset; Kafka offsets are marked after it commits",
  }
  return {
    kafkajsEachMessage: {
      about: {
        consumer: 'KafkaJS eachMessage under Node.js',
        writes: 'node-postgres, one INSERT per event',
        guarantee: atLeastOnce,
      },
      command: node('each-message.mjs'),
    },
    kafkajsEachBatch: {
      about: {
        consumer: 'KafkaJS eachBatch under Node.js',
        writes: 'node-postgres, one multi-row INSERT per 1,000 events',
        guarantee: atLeastOnce,
      },
      command: node('each-batch.mjs'),
    },
    go: 'binary' in go ? { about: goAbout, command: [go.binary] } : { about: goAbout, skipped: go.skipped },
    connect:
      'setup' in connect
        ? { about: connectAbout, command: connectPeerCommand(connect.setup) }
        : { about: connectAbout, skipped: connect.skipped },
  }
}

/** One peer run, timed like baton's: from its first stored event to its last. */
export interface PeerRun {
  readonly eventsPerSec: number
  /** Events it stored in the timed span: all of them, or what it managed before its time cap. */
  readonly events: number
  readonly seconds: number
  readonly cpuSecondsPerMillion: number
  readonly peakRssMb: number
}

/**
 * Runs `command` (a peer, see preparePeers) in a new consumer group over the whole topic, into its own
 * table `peer_<name>` shaped like baton_events, until it stored every event or `maxSeconds` passed since
 * its first one (a cap for the eachMessage peer, which would take many minutes for a million events).
 * The table is emptied afterwards, and the peer's own tables (`peer_<name>_*`, e.g. the go peer's
 * watermarks) dropped, so that the next round starts from nothing.
 */
export async function peerRun(
  services: BenchServices,
  dataset: Dataset,
  peer: PeerName,
  command: readonly string[],
  group: string,
  maxSeconds: number,
): Promise<PeerRun> {
  const table = `peer_${peer.toLowerCase()}`
  await services.sql.unsafe(`create table if not exists ${table} (like baton_events including all)`)
  await services.settle()
  const config: PeerConfig = {
    brokers: services.brokers,
    topic: dataset.topic,
    group,
    databaseUrl: services.databaseUrl,
    table,
    events: dataset.events,
    maxSeconds,
    partitions: dataset.partitions,
  }
  try {
    // A peer that stops making progress would hang the benchmark: give it its cap and a minute more.
    const result = await runPeerProcess(command, config, maxSeconds + 60)
    return {
      eventsPerSec: result.events / result.seconds,
      events: result.events,
      seconds: result.seconds,
      cpuSecondsPerMillion: (result.cpuSeconds / result.events) * 1e6,
      peakRssMb: result.peakRssMb,
    }
  } finally {
    await services.sql.unsafe(`truncate ${table}`)
    const own = await services.sql<{ name: string }[]>`
      select tablename as name from pg_tables where tablename like ${`${table}\\_%`}`
    for (const { name } of own) await services.sql.unsafe(`drop table ${name}`)
  }
}
