import { afterEach, expect, test } from 'bun:test'
import type { EventToProduce } from '../../actors/kafka/producer.ts'
import type { ClusterView } from '../../cluster/cluster-view.ts'
import type { QuarantinePage } from '../../runtime/node-api.ts'
import { ClusterScenario } from '../cluster/harness.ts'
import { until } from '../support/until.ts'

const TOKEN = 'quarantine-chaos-admin-token'
const auth = { Authorization: `Bearer ${TOKEN}` }
let scenario: ClusterScenario | undefined

afterEach(async () => {
  await scenario?.cleanup()
  scenario = undefined
})

type Quarantine = QuarantinePage

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

test('10c: cluster, a zombie asked to release: the owner frozen (SIGSTOP) past the session timeout gets a skip, is continued, and applies nothing', async () => {
  scenario = new ClusterScenario()
  const { sql, topic } = scenario
  await scenario.createTopics()
  const events: EventToProduce[] = [{ key: 'k', value: '{not json' }]
  for (let i = 0; i < 500; i++) events.push({ key: 'k', value: JSON.stringify({ i }) })
  await scenario.produceEvents(events)
  const env = { BATON_API_TOKEN: TOKEN, BATON_ON_POISON: 'quarantine-key' }
  const nodes = await Promise.all([scenario.startNode('baton-0', env), scenario.startNode('baton-1', env)])
  await scenario.caughtUp(180_000)
  const quarantine = async (url: string) =>
    (await (await fetch(`${url}/v1/quarantine`, { headers: auth })).json()) as Quarantine
  const entry = await until('k holds its events', 60_000, async () => {
    const [e] = (await quarantine(nodes[0]?.url ?? '')).entries
    return e?.events === 500 ? e : undefined
  })
  const ownerOf = async (url: string) => {
    const view = (await (await fetch(`${url}/v1/cluster`, { headers: auth })).json()) as ClusterView
    return view.partitions.find((p) => p.partition === entry.partition)?.owner ?? undefined
  }
  const ownerId = await until("the owner of k's partition", 60_000, () => ownerOf(nodes[0]?.url ?? ''))
  const zombie = nodes[ownerId === 'baton-0' ? 0 : 1]
  const survivor = nodes[ownerId === 'baton-0' ? 1 : 0]
  if (!zombie || !survivor) throw new Error('two nodes expected (test)')
  const survivorId = ownerId === 'baton-0' ? 'baton-1' : 'baton-0'

  zombie.proc.kill('SIGSTOP')
  await until('the survivor owns the partition', 120_000, async () =>
    (await ownerOf(survivor.url)) === survivorId ? true : undefined,
  )
  // The skip reaches the zombie (the kernel holds the request until it runs again): it must be refused.
  const asked = fetch(`${zombie.url}/v1/dlq/${entry.deadLetterId}/skip`, {
    method: 'POST',
    headers: { ...auth, 'X-Baton-Forwarded-By': 'test' }, // answered where it arrives, not forwarded
    signal: AbortSignal.timeout(60_000),
  }).then(
    async (r) => ({ status: r.status, body: await r.json() }),
    (err) => ({ status: 0, body: String(err) }),
  )
  await Bun.sleep(500)
  zombie.proc.kill('SIGCONT')
  const refused = await asked
  console.info(`[10c] the zombie answered ${refused.status} ${JSON.stringify(refused.body)}`)
  // Which way it was refused: by the epoch on the watermark row (it tried), or as draining (it knew).
  const fencedRelease = zombie.output().includes('the release was refused and rolled back')
  console.info(
    `[10c] ${fencedRelease ? 'the release transaction was fenced' : 'refused before any transaction'}`,
  )
  expect(refused.status).not.toBe(200)
  expect(refused.status).not.toBe(202)
  const [stored] = await sql<{ n: number }[]>`
    select count(*)::int as n from baton_events where topic = ${topic} and key = 'k'`
  expect(stored?.n).toBe(0)
  const [letter] = await sql<{ resolution: string | null }[]>`
    select resolution from baton_dead_letters where id = ${entry.deadLetterId}`
  expect(letter?.resolution).toBeNull()

  // The rightful owner releases it, once.
  const skip = await fetch(`${survivor.url}/v1/dlq/${entry.deadLetterId}/skip`, {
    method: 'POST',
    headers: auth,
  })
  expect(skip.status).toBe(200)
  const [after] = await sql<{ n: number }[]>`
    select count(*)::int as n from baton_events where topic = ${topic} and key = 'k'`
  expect(after?.n).toBe(500)
}, 420_000)
