import { Database } from 'bun:sqlite'
import { afterAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type NodeProcess, startNodeProcess } from '../../deploy/local/node-process.ts'
import { until } from '../support/until.ts'

const dataDir = mkdtempSync(join(tmpdir(), 'baton-quarantine-example-'))
const token = 'quarantine-example-token-0123456789'
const auth = { authorization: `Bearer ${token}` }
let node: NodeProcess | undefined

afterAll(async () => {
  await node?.kill()
  rmSync(dataDir, { recursive: true, force: true })
})

const start = (pipeline: string) =>
  startNodeProcess({
    BATON_DATA_DIR: dataDir,
    BATON_API_TOKEN: token,
    BATON_PARTITIONS: '2',
    BATON_PIPELINE: pipeline,
  })

const pay = (account: string, amount: number, currency: string, id: string) => ({
  key: account,
  value: { account, amount, currency, id },
})

async function ingest(events: readonly unknown[]): Promise<void> {
  const res = await fetch(`${node?.url}/v1/topics/events/events`, {
    method: 'POST',
    body: JSON.stringify(events),
  })
  expect(res.status).toBeLessThan(300)
}

/** Balances as the embedded sink holds them now (read-only, beside the running node). */
function balances(): Map<string, number> {
  const db = new Database(join(dataDir, 'sink.db'), { readonly: true })
  try {
    const rows = db.query('select account, currency, balance from balances').all() as {
      account: string
      currency: string
      balance: number
    }[]
    return new Map(rows.map((r) => [`${r.account}/${r.currency}`, r.balance]))
  } finally {
    db.close()
  }
}

async function post(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${node?.url}${path}`, { method: 'POST', headers: auth })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

type Quarantine = { entries: { key: string; deadLetterId: number; events: number; state: string }[] }
const quarantine = async () =>
  (await (await fetch(`${node?.url}/v1/quarantine`, { headers: auth })).json()) as Quarantine

test("examples/account-balances-quarantined.ts: one account's poison payment holds back that account only; after the fix, retry makes its balance exact", async () => {
  const root = join(import.meta.dir, '..', '..')
  node = await start(join(import.meta.dir, 'fixtures', 'account-balances-v1.ts'))
  await ingest([
    pay('acc-1', 100, 'EUR', 'p1'),
    pay('acc-1', 50, 'CHF', 'p2'), // poison for version 1: quarantines acc-1
    pay('acc-1', -30, 'CHF', 'p3'), // a refund of p2: must not be applied before it
    pay('acc-1', 10, 'EUR', 'p4'),
    pay('acc-2', 5, 'EUR', 'p5'),
    pay('acc-3', 7, 'USD', 'p6'),
  ])
  await until('the other accounts are current', 20_000, async () =>
    balances().get('acc-2/EUR') === 5 && balances().get('acc-3/USD') === 7 ? true : undefined,
  )
  const held = await until('acc-1 is quarantined with two payments held', 20_000, async () => {
    const [entry] = (await quarantine()).entries
    return entry?.events === 2 ? entry : undefined
  })
  expect(held).toMatchObject({ key: 'acc-1', state: 'quarantined' })
  expect(balances().get('acc-1/EUR')).toBe(100)
  expect(balances().has('acc-1/CHF')).toBe(false)

  // Retried before the fix: it fails again, and nothing changes.
  const failed = await post(`/v1/dlq/${held.deadLetterId}/retry`)
  expect(failed).toMatchObject({ status: 422, body: { error: 'RETRY_FAILED' } })
  // A replay would apply it behind the account's later payments: refused.
  const replay = await fetch(`${node.url}/v1/dlq/replay`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ ids: [held.deadLetterId] }),
  })
  expect(replay.status).toBe(409)

  // Other accounts keep flowing; acc-1's new payment waits behind the others.
  await ingest([pay('acc-2', 3, 'EUR', 'p7'), pay('acc-1', 1, 'EUR', 'p8')])
  await until('acc-2 is current', 20_000, async () => (balances().get('acc-2/EUR') === 8 ? true : undefined))
  await until('p8 is held', 20_000, async () =>
    (await quarantine()).entries[0]?.events === 3 ? true : undefined,
  )

  // The fix is deployed: the example itself. The new node loads the quarantine from the sink.
  expect(await node.stop()).toBe(0)
  node = await start(join(root, 'examples', 'account-balances-quarantined.ts'))
  expect((await quarantine()).entries).toMatchObject([{ key: 'acc-1', events: 3 }])
  const retried = await post(`/v1/dlq/${held.deadLetterId}/retry`)
  expect(retried).toEqual({
    status: 200,
    body: { deadLetterId: held.deadLetterId, outcome: 'retried', released: 3 },
  })
  expect(Object.fromEntries(balances())).toEqual({
    'acc-1/EUR': 111,
    'acc-1/CHF': 20,
    'acc-2/EUR': 8,
    'acc-3/USD': 7,
  })
  expect((await quarantine()).entries).toEqual([])
  // A repeated call applies nothing twice.
  expect(await post(`/v1/dlq/${held.deadLetterId}/retry`)).toMatchObject({ status: 409 })
  await ingest([pay('acc-1', 2, 'EUR', 'p9')])
  await until('acc-1 flows again', 20_000, async () =>
    balances().get('acc-1/EUR') === 113 ? true : undefined,
  )
}, 120_000)
