import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Admin } from '@platformatic/kafka'
import postgres from 'postgres'
import { eventStore } from '../../actors/event-store.ts'
import { clientOptions } from '../../actors/kafka/kafka-client.ts'
import { connectPeerCommand, prepareConnectPeer } from '../../bench/e2e/connect-peer.ts'
import { type Dataset, datasetEvents, deleteDataset, produceDataset } from '../../bench/e2e/dataset.ts'
import { type PeerConfig, runPeerProcess } from '../../bench/e2e/peer-process.ts'
import { syntheticEvent } from '../../runtime/cli/synthetic-events.ts'
import { kafkaBrokers, serviceEnv } from '../support/env.ts'
import { uniqueName } from '../support/names.ts'

// The `connect` peer of `baton bench e2e`: a Kafka Connect worker with Debezium's JDBC sink drains a
// topic into a table shaped like baton_events, one row per event, with its key, value and coordinates.
// Java and Maven are prerequisites of this test, as they are of CI (.ci/run installs them): no skipping.

const { DATABASE_URL } = serviceEnv()
const brokers = kafkaBrokers()
const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} })
const table = uniqueName('peer_connect')
const dataset: Dataset = { topic: `${table}_events`, partitions: 8, events: 5_000, synthetic: datasetEvents }

beforeAll(async () => {
  for (const statement of eventStore.migrations?.postgres ?? []) await sql.unsafe(statement)
  await sql.unsafe(`create table ${table} (like baton_events including all)`)
}, 60_000)

afterAll(async () => {
  await deleteDataset(brokers, dataset).catch(() => {})
  await sql.unsafe(`drop table if exists ${table}`)
  await sql.end()
})

describe('the connect peer', () => {
  test('drains 5,000 events over 8 partitions into its table, one row per event', async () => {
    // The first run resolves the connector's jars with Maven: minutes on a clean machine.
    const build = await prepareConnectPeer(() => {})
    if (!('setup' in build))
      throw new Error(`the connect peer cannot run here (this test needs java 17+ and mvn): ${build.skipped}`)
    await produceDataset(brokers, dataset)
    const config: PeerConfig = {
      brokers,
      topic: dataset.topic,
      group: uniqueName('g'),
      databaseUrl: DATABASE_URL,
      table,
      events: dataset.events,
      maxSeconds: 120,
      partitions: dataset.partitions,
    }
    const report = await runPeerProcess(connectPeerCommand(build.setup), config, 240)
    expect(report.events).toBe(5_000)
    expect(report.peakRssMb).toBeGreaterThan(0)
    const [counts] = await sql.unsafe<{ rows: number; offsets: number; keys: number }[]>(`
      select count(*)::int as rows, count(distinct (partition, "offset"))::int as offsets,
        count(distinct key)::int as keys
      from ${table} where topic = '${dataset.topic}'`)
    expect(counts).toEqual({ rows: 5_000, offsets: 5_000, keys: datasetEvents.keys })
    // Each row holds its event: the value as jsonb, the key as text, the record's time.
    const rows = await sql.unsafe<
      { key: string; seq: number; value: unknown; headers: unknown; age: number }[]
    >(`
      select key, (value->>'seq')::int as seq, value, headers,
        extract(epoch from now() - event_time)::float8 as age
      from ${table} where topic = '${dataset.topic}'`)
    for (const row of rows) {
      const event = syntheticEvent(row.seq, datasetEvents)
      expect({ key: row.key, value: row.value, headers: row.headers }).toEqual({
        key: event.key as string,
        value: JSON.parse(event.value),
        headers: {},
      })
    }
    expect(rows.every((row) => row.age >= 0 && row.age < 600)).toBe(true)
    // The tasks read in the benchmark's group (the bench deletes it), not Connect's `connect-<name>`.
    const admin = new Admin(clientOptions('connect-peer-test', brokers))
    try {
      const groups = await admin.listGroups()
      expect([groups.has(config.group), groups.has(`connect-${config.group}`)]).toEqual([true, false])
      await admin.deleteGroups({ groups: [config.group] })
    } finally {
      await admin.close()
    }
  }, 600_000)
})
