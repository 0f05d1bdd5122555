import { afterEach, expect, test } from 'bun:test'
import type { EventToProduce } from '../../actors/kafka/producer.ts'
import type { ClusterView } from '../../cluster/cluster-view.ts'
import { ClusterScenario } from '../cluster/harness.ts'
import { until } from '../support/until.ts'

const TOKEN = 'quarantine-chaos-admin-token'
const auth = { Authorization: `Bearer ${TOKEN}` }
let scenario: ClusterScenario | undefined

afterEach(async () => {
  await scenario?.cleanup()
  scenario = undefined
})

type Quarantine = {
  entries: { partition: number; key: string; deadLetterId: number; events: number; state: string }[]
}

test('10b: cluster, the owner SIGKILLed in the middle of a quarantine release: the node that takes the partition finishes it, each held event stored once', async () => {
  scenario = new ClusterScenario()
  const { sql, topic } = scenario
  await scenario.createTopics()
  const HELD = 20_000
  const events: EventToProduce[] = [{ key: 'k', value: '{not json' }]
  for (let i = 0; i < HELD; i++) events.push({ key: 'k', value: JSON.stringify({ i }) })
  for (let i = 0; i < 2_000; i++) events.push({ key: `other-${i % 97}`, value: JSON.stringify({ i }) })
  await scenario.produceEvents(events)
  const env = { BATON_API_TOKEN: TOKEN, BATON_ON_POISON: 'quarantine-key' }
  const nodes = await Promise.all([scenario.startNode('baton-0', env), scenario.startNode('baton-1', env)])
  await scenario.caughtUp(180_000)
  const storedOfK = async () => {
    const [row] = await sql<{ n: number }[]>`
      select count(*)::int as n from baton_events where topic = ${topic} and key = 'k'`
    return row?.n ?? 0
  }
  const quarantine = async (url: string) =>
    (await (await fetch(`${url}/v1/quarantine`, { headers: auth })).json()) as Quarantine
  const entry = await until('k holds its events', 60_000, async () => {
    const [e] = (await quarantine(nodes[0]?.url ?? '')).entries
    return e?.events === HELD ? e : undefined
  })
  const ownerId = await until("the owner of k's partition", 60_000, async () => {
    const view = (await (await fetch(`${nodes[0]?.url}/v1/cluster`, { headers: auth })).json()) as ClusterView
    return view.partitions.find((p) => p.partition === entry.partition)?.owner ?? undefined
  })
  const owner = nodes[ownerId === 'baton-0' ? 0 : 1]
  const survivor = nodes[ownerId === 'baton-0' ? 1 : 0]
  if (!owner || !survivor) throw new Error('two nodes expected (test)')

  const answer = fetch(`${owner.url}/v1/dlq/${entry.deadLetterId}/skip`, { method: 'POST', headers: auth })
    .then((r) => r.status)
    .catch(() => 'no answer')
  await until('the release is under way', 60_000, async () => ((await storedOfK()) > 0 ? true : undefined), 5)
  await owner.kill()
  const beforeKill = await storedOfK()
  console.info(`[10b] released before the kill: ${beforeKill} of ${HELD}`)
  expect(beforeKill).toBeLessThan(HELD)
  expect(await answer).not.toBe(200)

  // The survivor takes the partition after the session timeout and finishes the release by itself.
  await until('the survivor finishes the release', 120_000, async () =>
    (await quarantine(survivor.url)).entries.length === 0 ? true : undefined,
  )
  expect(await storedOfK()).toBe(HELD)
  expect(survivor.output()).toContain('key released')
  const [dupes] = await sql<{ n: number }[]>`
    select count(*)::int as n from (select 1 from baton_events where topic = ${topic}
      group by partition, "offset" having count(*) > 1) d`
  expect(dupes?.n).toBe(0)
  const [stored] = await sql<
    { n: number }[]
  >`select count(*)::int as n from baton_events where topic = ${topic}`
  expect(stored?.n).toBe(events.length - 1) // all but the skipped poison event
  const again = await fetch(`${survivor.url}/v1/dlq/${entry.deadLetterId}/skip`, {
    method: 'POST',
    headers: auth,
  })
  expect(again.status).toBe(409)
}, 420_000)
