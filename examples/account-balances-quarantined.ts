/**
 * Account balances, with order per account kept through a poison payment: when a payment of account A is
 * dead-lettered, A's later payments (a refund of it, say) are held in `baton_quarantine` instead of being
 * added without it, while every other account stays current. Once the pipeline is fixed, an operator
 * retries the letter (`POST /v1/dlq/:id/retry`) and A's payments are applied in their order; or skips it
 * (`POST /v1/dlq/:id/skip`) and they are applied without it. Balances are per account, so the order
 * that matters is per account: this is what `onPoison: 'quarantine-key'` is for.
 *
 *   BATON_PIPELINE=examples/account-balances-quarantined.ts npx baton start
 */
import { definePipeline } from '../actors/pipeline.ts'
import accountBalances from './account-balances.ts'

export default definePipeline({ ...accountBalances, onPoison: 'quarantine-key' })
