/**
 * Account balances, exactly once: every payment is added to its account's balance once, whatever
 * crashes, because the balance update commits in the same transaction as the partition's watermark.
 *
 * Events: `{"account": "acc-17", "amount": 1250, "currency": "EUR", "id": "pay-9"}`, amounts in minor units
 * (cents) so sums are exact. A payment that fails the schema is dead-lettered with the schema's message.
 *
 *   BATON_PIPELINE=examples/account-balances.ts npx baton start
 */
import { z } from 'zod'
import { definePipeline } from '../actors/pipeline.ts'

const Payment = z.object({
  account: z.string().min(1).max(200),
  amount: z.number().int().min(-1e15).max(1e15),
  currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code like EUR'),
  id: z.string().min(1).max(200),
})

type Payment = z.infer<typeof Payment>

interface Total {
  account: string
  currency: string
  amount: number
  events: number
}

/** The batch summed per account and currency in memory, so the database sees one row per account. */
function totals(payments: readonly { value: Payment }[]): Total[] {
  const byAccount = new Map<string, Total>()
  for (const { value } of payments) {
    const key = `${value.account}\u0000${value.currency}`
    const total = byAccount.get(key)
    if (total) {
      total.amount += value.amount
      total.events++
    } else {
      byAccount.set(key, {
        account: value.account,
        currency: value.currency,
        amount: value.amount,
        events: 1,
      })
    }
  }
  return [...byAccount.values()]
}

export default definePipeline<Payment>({
  name: 'account-balances',
  schema: Payment,
  migrations: {
    postgres: [
      `create table if not exists balances (
         account text not null, currency text not null, balance bigint not null, events bigint not null,
         primary key (account, currency))`,
    ],
    sqlite: [
      `create table if not exists balances (
         account text not null, currency text not null, balance integer not null, events integer not null,
         primary key (account, currency)) without rowid`,
    ],
  },
  async handle(batch, tx) {
    const rows = totals(batch.events)
    if (tx.kind === 'postgres') {
      // One set-based upsert per batch: a round trip per batch, not per payment.
      await tx.sql`
        insert into balances (account, currency, balance, events)
        select * from unnest(${rows.map((r) => r.account)}::text[], ${rows.map((r) => r.currency)}::text[],
                             ${rows.map((r) => r.amount)}::bigint[], ${rows.map((r) => r.events)}::bigint[])
        on conflict (account, currency) do update
          set balance = balances.balance + excluded.balance, events = balances.events + excluded.events`
      return
    }
    const upsert = tx.db.prepare(
      `insert into balances (account, currency, balance, events) values (?, ?, ?, ?)
       on conflict (account, currency) do update
         set balance = balance + excluded.balance, events = events + excluded.events`,
    )
    for (const r of rows) upsert.run(r.account, r.currency, r.amount, r.events)
  },
})

/**
 * Payment number `seq` for benchmarks (`baton bench e2e --pipeline examples/account-balances.ts`): 1,000
 * accounts in two currencies, keyed by account so an account's payments share a partition.
 */
export function sampleEvent(seq: number): { key: string; value: string } {
  const account = `acc-${seq % 1000}`
  const currency = seq % 7 === 0 ? 'USD' : 'EUR'
  return {
    key: account,
    value: JSON.stringify({ account, amount: ((seq * 7919) % 5501) - 500, currency, id: `pay-${seq}` }),
  }
}
