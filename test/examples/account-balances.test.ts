import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { EventToProduce } from '../../actors/kafka/producer.ts'
import { restartService, servicesDown, servicesUp } from '../../deploy/local/services.ts'
import { ClusterScenario } from '../cluster/harness.ts'

// A PostgreSQL of this test's own, so restarting it disturbs no other test.
const dir = mkdtempSync(join(tmpdir(), 'baton-balances-'))
let scenario: ClusterScenario

beforeAll(async () => {
  const { env } = await servicesUp({ dir, only: ['postgres'], useEnv: false })
  scenario = new ClusterScenario(undefined, { databaseUrl: env.DATABASE_URL as string })
})

afterAll(async () => {
  await scenario?.cleanup()
  await servicesDown({ dir })
  rmSync(dir, { recursive: true, force: true })
})

test('200,000 payments over 1,000 accounts, the node killed three times and PostgreSQL restarted once: every balance exact', async () => {
  const payments: EventToProduce[] = []
  const expected = new Map<string, { balance: number; events: number }>()
  let invalid = 0
  for (let i = 0; i < 200_000; i++) {
    const account = `acc-${i % 1000}`
    const currency = i % 7 === 0 ? 'USD' : 'EUR'
    const amount = ((i * 7919) % 5501) - 500
    // One payment in 200 breaks the schema (a lower-case currency): dead-lettered, not counted.
    const bad = i % 200 === 199
    payments.push({
      key: account,
      value: JSON.stringify({ account, amount, currency: bad ? 'eur' : currency, id: `pay-${i}` }),
    })
    if (bad) {
      invalid++
      continue
    }
    const total = expected.get(`${account}/${currency}`) ?? { balance: 0, events: 0 }
    total.balance += amount
    total.events++
    expected.set(`${account}/${currency}`, total)
  }
  await scenario.createTopics()
  await scenario.produceEvents(payments)

  const env = { BATON_PIPELINE: join(import.meta.dir, '..', '..', 'examples', 'account-balances.ts') }
  const until = async (events: number) => {
    const deadline = Date.now() + 90_000
    while ((await scenario.committed()) < events && Date.now() < deadline) await Bun.sleep(20)
  }
  for (const [i, at] of [30_000, 80_000, 130_000].entries()) {
    const node = await scenario.startNode('baton-0', env)
    await until(at)
    if (i === 1) await restartService('postgres', { dir, mode: 'immediate' })
    await until(at + 10_000)
    await node.kill()
  }
  await scenario.startNode('baton-0', env)
  await scenario.caughtUp(180_000)

  const rows = await scenario.sql<{ account: string; currency: string; balance: string; events: string }[]>`
    select account, currency, balance::text, events::text from balances`
  const actual = new Map(
    rows.map((r) => [`${r.account}/${r.currency}`, { balance: Number(r.balance), events: Number(r.events) }]),
  )
  expect(actual.size).toBe(expected.size)
  let wrong = 0
  for (const [key, total] of expected) {
    const got = actual.get(key)
    if (got?.balance !== total.balance || got.events !== total.events) wrong++
  }
  expect(wrong).toBe(0)

  const letters = await scenario.sql<{ error: string }[]>`
    select error from baton_dead_letters where group_id = ${scenario.group}`
  expect(letters).toHaveLength(invalid)
  for (const l of letters) expect(l.error).toContain('ISO 4217')
}, 420_000)
