import { expect, test } from 'bun:test'
import { join } from 'node:path'
import type { EventToProduce } from '../../actors/kafka/producer.ts'
import { restartService } from '../../deploy/local/services.ts'
import { scenarioOnPrivatePostgres } from '../cluster/harness.ts'

// A PostgreSQL of this test's own, so restarting it disturbs no other test.
const file = scenarioOnPrivatePostgres()

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
  await file.scenario.createTopics()
  await file.scenario.produceEvents(payments)

  const env = { BATON_PIPELINE: join(import.meta.dir, '..', '..', 'examples', 'account-balances.ts') }
  const until = async (events: number) => {
    const deadline = Date.now() + 90_000
    while ((await file.scenario.committed()) < events && Date.now() < deadline) await Bun.sleep(20)
  }
  for (const [i, at] of [30_000, 80_000, 130_000].entries()) {
    const node = await file.scenario.startNode('baton-0', env)
    await until(at)
    if (i === 1) await restartService('postgres', { dir: file.services.dir, mode: 'immediate' })
    await until(at + 10_000)
    await node.kill()
  }
  await file.scenario.startNode('baton-0', env)
  await file.scenario.caughtUp(180_000)

  const rows = await file.scenario.sql<
    { account: string; currency: string; balance: string; events: string }[]
  >`
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

  const letters = await file.scenario.sql<{ error: string }[]>`
    select error from baton_dead_letters where group_id = ${file.scenario.group}`
  expect(letters).toHaveLength(invalid)
  for (const l of letters) expect(l.error).toContain('ISO 4217')
}, 420_000)
