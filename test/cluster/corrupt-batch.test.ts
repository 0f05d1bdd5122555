/**
 * Issue 15, part 3: a record batch damaged on its way from the broker is seen and never stored. The node
 * runs in a network namespace of its own (test/chaos/netns.ts), so every byte it fetches from Kafka passes
 * a toxic proxy under the broker's real address; the proxy flips a bit of a marker in one event's value.
 * Needs root for `ip netns`; the namespace is removed afterwards. Shared services.
 */
import { afterAll, expect, test } from 'bun:test'
import { startNodeProcess } from '../../deploy/local/node-process.ts'
import { freeLoopbackPort } from '../../deploy/local/ports.ts'
import { Netns } from '../chaos/netns.ts'
import type { ToxicProxy } from '../chaos/toxic-proxy.ts'
import { serviceEnv } from '../support/env.ts'
import { ClusterScenario } from './harness.ts'

const scenario = new ClusterScenario()
let ns: Netns | undefined

afterAll(async () => {
  await scenario.cleanup()
  await ns?.delete()
})

const portOf = (url: string) => Number(new URL(url.includes('://') ? url : `tcp://${url}`).port)

interface View {
  partition: number
  status: string
  committedOffset: number | null
  lastError: { code: string; message: string } | null
}

test('a bit flipped in a fetched record batch: nothing from it is stored, the partition says corrupt, then flows once the batch comes sound', async () => {
  const env = serviceEnv()
  await scenario.createTopics()
  const httpPort = await freeLoopbackPort()
  ns = await Netns.create(
    [
      { name: 'Kafka', port: portOf(env.KAFKA_BROKERS.split(',')[0] as string) },
      { name: 'PostgreSQL', port: portOf(env.DATABASE_URL) },
      { name: 'Redis', port: portOf(env.REDIS_URL) },
    ],
    [httpPort],
  )
  const kafka = ns.links.get('Kafka') as ToxicProxy
  const node = await startNodeProcess(
    {
      ...env,
      BATON_NODE_ID: 'baton-0',
      BATON_TOPICS: scenario.topic,
      BATON_GROUP_ID: scenario.group,
      BATON_PARTITIONS: String(scenario.partitions),
      BATON_DRAIN_TIMEOUT_MS: '5000',
      BATON_HTTP_PORT: String(httpPort),
    },
    { wrap: ns.wrap, readyTimeoutMs: 90_000 },
  )
  scenario.nodes.push(node)
  await scenario.produce(200)
  await scenario.caughtUp(60_000)

  // One event carries the marker the proxy damages; more follow it on the same partition (same key).
  const marker = `crc-flip-${scenario.topic}`
  kafka.toxics({ corrupt: Buffer.from(marker) })
  const markedSeq = scenario.produced
  await scenario.produceEvents([
    { key: 'corrupt-me', value: JSON.stringify({ seq: markedSeq, marker }) },
    ...Array.from({ length: 20 }, (_, i) => ({
      key: 'corrupt-me',
      value: JSON.stringify({ seq: markedSeq + 1 + i }),
    })),
  ])

  const views = async () =>
    Promise.all(
      Array.from({ length: scenario.partitions }, async (_, p) => {
        const res = await fetch(`${node.url}/v1/actors/${scenario.topic}/${p}`)
        return (await res.json()) as View
      }),
    )
  let corrupt: View | undefined
  for (let i = 0; i < 300 && !corrupt; i++) {
    corrupt = (await views()).find((v) => v.status === 'corrupt')
    if (!corrupt) await Bun.sleep(100)
  }
  if (!corrupt) throw new Error(`no partition went corrupt:\n${node.output().slice(-3000)}`)
  expect(corrupt.lastError?.code).toBe('CORRUPT_RECORD_BATCH')
  const ready = await fetch(`${node.url}/readyz`)
  expect(ready.status).toBe(503)
  expect(JSON.stringify(await ready.json())).toContain('corrupt record batch')
  const metrics = await (await fetch(`${node.url}/metrics`)).text()
  const counted = new RegExp(
    // Per topic: the partition is in the actor's status (state corrupt) and the log.
    `baton_corrupt_record_batches_total\\{topic="${scenario.topic}"\\} ([0-9]+)`,
  ).exec(metrics)
  expect(Number(counted?.[1] ?? 0)).toBeGreaterThanOrEqual(1)

  // Nothing from the damaged batch, nor after it on that partition, was stored while it was corrupt.
  const stored = async () =>
    Number(
      (
        await scenario.sql<{ n: string }[]>`
          select count(*)::text as n from baton_events
          where topic = ${scenario.topic} and (value->>'seq')::int >= ${markedSeq}`
      )[0]?.n,
    )
  expect(await stored()).toBe(0)
  const [mark] = await scenario.sql<{ offset: string }[]>`
    select next_offset::text as offset from baton_watermarks
    where group_id = ${scenario.group} and topic = ${scenario.topic} and partition = ${corrupt.partition}`
  expect(Number(mark?.offset)).toBe(corrupt.committedOffset as number)

  // The link heals: the next fetch of the batch is sound, and everything is stored exactly once.
  kafka.heal()
  await scenario.caughtUp(60_000)
  expect(await stored()).toBe(21)
  const after = (await views())[corrupt.partition] as View
  expect(after.status).toBe('running')
  expect((await fetch(`${node.url}/readyz`)).status).toBe(200)
  const result = await scenario.check()
  expect(result.stored).toBe(scenario.produced)
}, 300_000)
