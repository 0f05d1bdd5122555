import { afterEach, expect, test } from 'bun:test'
import type { EventToProduce } from '../../actors/kafka/producer.ts'
import type { ClusterView } from '../../cluster/cluster-view.ts'
import type { QuarantinePage } from '../../runtime/node-api.ts'
import { until } from '../support/until.ts'
import { ClusterScenario } from './harness.ts'

const TOKEN = 'quarantine-cluster-admin-token'
const auth = { Authorization: `Bearer ${TOKEN}` }

let scenario: ClusterScenario | undefined

afterEach(async () => {
  await scenario?.cleanup()
  scenario = undefined
})

type Quarantine = QuarantinePage

test('cluster: a poison event quarantines its key in PostgreSQL; a skip sent to the node that does not own the partition releases it there, once', async () => {
  scenario = new ClusterScenario()
  await scenario.createTopics()
  // Key k: a poison event at its start, then 300 events; 3,000 events of other keys around them.
  const events: EventToProduce[] = [{ key: 'k', value: '{not json' }]
  for (let i = 0; i < 3_300; i++) {
    events.push(
      i % 11 === 0
        ? { key: 'k', value: JSON.stringify({ k: i }) }
        : { key: `other-${i % 97}`, value: JSON.stringify({ i }) },
    )
  }
  await scenario.produceEvents(events)
  const env = { BATON_API_TOKEN: TOKEN, BATON_ON_POISON: 'quarantine-key' }
  const [n0, n1] = await Promise.all([scenario.startNode('baton-0', env), scenario.startNode('baton-1', env)])
  if (!n0 || !n1) throw new Error('a node did not start')
  // Held events are committed too: the watermark moves past them.
  await scenario.caughtUp(120_000)

  const entry = await until('k is quarantined with its 300 events', 60_000, async () => {
    const body = (await (await fetch(`${n0.url}/v1/quarantine`, { headers: auth })).json()) as Quarantine
    return body.entries[0]?.events === 300 ? body.entries[0] : undefined
  })
  expect(entry).toMatchObject({ key: 'k', state: 'quarantined' })
  const { sql, topic } = scenario
  const storedOfK = async () => {
    const [row] = await sql<{ n: number }[]>`
      select count(*)::int as n from baton_events where topic = ${topic} and key = 'k'`
    return row?.n
  }
  expect(await storedOfK()).toBe(0)
  const partitionView = await (
    await fetch(`${n0.url}/v1/actors/${scenario.topic}/${entry.partition}`, { headers: auth })
  ).json()
  expect(partitionView).toMatchObject({ quarantinedKeys: 1, quarantinedEvents: 300 })

  // Sent to the node that does not own k's partition: forwarded to the owner, which releases k.
  const owner = await until("the owner of k's partition", 60_000, async () => {
    const view = (await (await fetch(`${n0.url}/v1/cluster`, { headers: auth })).json()) as ClusterView
    return view.partitions.find((p) => p.partition === entry.partition)?.owner ?? undefined
  })
  const other = owner === 'baton-0' ? n1 : n0
  const replay = await fetch(`${other.url}/v1/dlq/replay`, {
    method: 'POST',
    headers: { ...auth, 'Content-Type': 'application/json' },
    body: JSON.stringify({ ids: [entry.deadLetterId] }),
  })
  expect(replay.status).toBe(409)
  const skip = await fetch(`${other.url}/v1/dlq/${entry.deadLetterId}/skip`, {
    method: 'POST',
    headers: auth,
  })
  expect(skip.status).toBe(200)
  expect(await skip.json()).toMatchObject({
    deadLetterId: entry.deadLetterId,
    outcome: 'skipped',
    released: 300,
  })
  expect(await storedOfK()).toBe(300)
  const again = await fetch(`${owner === 'baton-0' ? n0.url : n1.url}/v1/dlq/${entry.deadLetterId}/skip`, {
    method: 'POST',
    headers: auth,
  })
  expect(again.status).toBe(409)
  expect(
    ((await (await fetch(`${n1.url}/v1/quarantine`, { headers: auth })).json()) as Quarantine).entries,
  ).toEqual([])

  // k flows normally again; every event is stored once and the poison one is dead-lettered once.
  await scenario.produceEvents([{ key: 'k', value: '{"after":1}' }])
  await scenario.caughtUp(60_000)
  await until('k flows again', 30_000, async () => ((await storedOfK()) === 301 ? true : undefined))
  const [dupes] = await scenario.sql<{ n: number }[]>`
    select count(*)::int as n from (select "offset" from baton_events where topic = ${scenario.topic}
      group by partition, "offset" having count(*) > 1) d`
  expect(dupes?.n).toBe(0)
  const [stored] = await scenario.sql<{ n: number }[]>`
    select count(*)::int as n from baton_events where topic = ${scenario.topic}`
  expect(stored?.n).toBe(events.length) // 3,301 produced in the first round plus 1, minus the poison one
}, 300_000)
