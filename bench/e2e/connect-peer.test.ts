import { afterEach, expect, test } from 'bun:test'
import { connectPeerSettings, connectPeerVersions, prepareConnectPeer } from './connect-peer.ts'

const path = process.env.PATH
afterEach(() => {
  process.env.PATH = path
})

test('without java on PATH, the connect peer is skipped with a reason that says so, and nothing is resolved', async () => {
  process.env.PATH = '/nonexistent'
  const lines: string[] = []
  const build = await prepareConnectPeer((line) => lines.push(line))
  expect(build).toEqual({ skipped: expect.stringContaining('Java 17+ (java) was not found') })
  expect(lines).toEqual([])
  // What it would have run is still shown, without a JVM.
  expect(connectPeerSettings(build)).not.toHaveProperty('jvm')
})

test('reads the versions of Kafka Connect and the Debezium JDBC sink from their poms', () => {
  expect(connectPeerVersions()).toEqual({
    kafkaConnect: expect.stringMatching(/^4\./),
    debeziumJdbc: expect.stringMatching(/^3\.\d+\.\d+\.Final$/),
  })
})

test('shows its mode and tuning with the versions', () => {
  expect(connectPeerSettings({ skipped: 'no java' })).toMatchObject({
    worker: 'standalone',
    insertMode: 'upsert',
    primaryKey: 'topic, partition, offset',
    tasks: 8,
    batchSize: 2000,
  })
})
