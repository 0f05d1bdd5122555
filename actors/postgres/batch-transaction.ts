import type { TransactionSql } from 'postgres'
import { BatonError } from '../core/errors.ts'
import type { BatchCommit, PartitionKey } from '../ports.ts'
import { answeredWithError, classifyPostgresError, describeError } from './classify-error.ts'
import type { PostgresClients } from './clients.ts'
import { DeferredCopies } from './deferred-copies.ts'
import { writeQuarantine } from './quarantine.ts'
import type { CommitSettler } from './settle.ts'
import type { PostgresTarget } from './target.ts'
import { moveWatermark, refuse } from './watermark.ts'

/** What one batch of a transaction came to: committed (or found committed before), or why not. */
export type BatchOutcome =
  | { readonly committed: true }
  | { readonly committed: false; readonly error: unknown }

export interface BatchTransactionDeps {
  readonly clients: PostgresClients
  readonly settler: CommitSettler
  readonly target: PostgresTarget
  readonly deadlineMs: number
}

const COMMITTED: BatchOutcome = { committed: true }

/**
 * Commits `batches` (of different partitions) in one PostgreSQL transaction and returns each one's outcome,
 * in the order given. Never rejects.
 *
 * Each batch moves its partition's watermark first, fenced by epoch and start offset exactly as when it
 * commits alone, and its pipeline's `work` runs only if the row moved. With several batches each runs
 * under a SAVEPOINT: a batch whose watermark is refused (a zombie's, a duplicate) or whose `work` throws is
 * rolled back to it and fails alone with its own error, and the others go on. Batches run in (topic,
 * partition) order, so two transactions lock their watermark rows in the same order and never deadlock
 * on them.
 *
 * Rows a pipeline hands to `tx.copy` go in one COPY for all batches, after the last batch's part
 * (deferred-copies.ts); a batch that failed drops its rows first.
 *
 * When the transaction as a whole fails (a COPY row too), nothing of it is kept: every batch not decided on its own fails
 * with SINK_UNAVAILABLE. When its outcome is unknown (the connection was lost or the deadline passed, maybe
 * after COMMIT was sent), each such batch is settled from its own watermark row (settle.ts): committed, or
 * its error. A single batch runs without a savepoint, its errors as they are.
 */
export async function commitBatches(
  deps: BatchTransactionDeps,
  batches: readonly BatchCommit[],
): Promise<BatchOutcome[]> {
  const order = batches.map((_, i) => i).sort((a, b) => compareKeys(batches[a]?.key, batches[b]?.key))
  const outcomes = new Array<BatchOutcome | undefined>(batches.length)
  /** Batches whose watermark moved in the transaction and was not rolled back to their savepoint. */
  const moved: number[] = []
  let pid: number | null = null
  const copies = new DeferredCopies()
  /** The batch's part: its fenced watermark first, its pipeline only if the row moved. */
  const run = async (sql: TransactionSql, i: number) => {
    const batch = batches[i] as BatchCommit
    const movedBy = await moveWatermark(sql, batch)
    if (movedBy === null) {
      await refuse(sql, batch)
      outcomes[i] = COMMITTED
      return
    }
    pid = movedBy
    moved.push(i)
    await writeQuarantine(sql, batch)
    if (batch.work) await batch.work({ kind: 'postgres', sql, copy: copies.for(i) })
  }
  try {
    await deps.clients.transaction(async (tx) => {
      if (batches.length === 1) await run(tx, 0)
      else {
        for (const i of order) {
          try {
            // postgres.js's savepoint: a statement that fails inside it fails it, not the whole transaction.
            await tx.savepoint((sp) => run(sp, i))
          } catch (err) {
            // The connection is gone: so is the transaction, whose outcome is settled below.
            if (classifyPostgresError(err) === 'unavailable' && !answeredWithError(err)) throw err
            if (moved.at(-1) === i) moved.pop()
            copies.drop(i)
            outcomes[i] = { committed: false, error: err }
          }
        }
      }
      // The batches' rows, after every watermark moved: a row that fails fails the transaction as a whole.
      await copies.send(tx)
    }, deps.deadlineMs)
    for (const i of moved) outcomes[i] = COMMITTED
  } catch (err) {
    await failed(deps, batches, outcomes, moved, pid, err)
  }
  // Every batch has one now: the transaction's end decided those it had not decided on their own.
  return outcomes as BatchOutcome[]
}

/**
 * Decides the outcomes the failed transaction left open. Lost answer after a watermark moved: settled from
 * each row, one after the other (the first terminates the old backend, after which each row reads final).
 * Anything else rolled the whole transaction back.
 */
async function failed(
  deps: BatchTransactionDeps,
  batches: readonly BatchCommit[],
  outcomes: (BatchOutcome | undefined)[],
  moved: readonly number[],
  pid: number | null,
  err: unknown,
): Promise<void> {
  const unknown = pid !== null && classifyPostgresError(err) === 'unavailable' && !answeredWithError(err)
  const single = batches.length === 1
  for (const [i, batch] of batches.entries()) {
    if (outcomes[i]) continue
    if (!unknown || !moved.includes(i)) {
      outcomes[i] = { committed: false, error: single ? err : rolledBack(deps.target, batches.length, err) }
      continue
    }
    const { key, epoch, fromOffset, toOffset } = batch
    try {
      await deps.settler.settle({ key, epoch, fromOffset, toOffset, pid: pid as number }, err)
      outcomes[i] = COMMITTED
    } catch (settled) {
      outcomes[i] = { committed: false, error: settled }
    }
  }
}

/**
 * A batch rolled back with the transaction it shared. SINK_UNAVAILABLE whatever the cause, even a constraint
 * checked at COMMIT: the batch at fault cannot be told from the others here, and is found when each is
 * retried in a transaction of its own (commit-group.ts).
 */
function rolledBack(target: PostgresTarget, batches: number, err: unknown): BatonError {
  return new BatonError(
    'SINK_UNAVAILABLE',
    `The PostgreSQL transaction shared by ${batches} partitions' batches failed (${describeError(err, target)}), ` +
      'so nothing of this batch was applied. Its pipeline state is reloaded and the batch is retried in a ' +
      'transaction of its own.',
    { cause: err },
  )
}

/** The order transactions lock watermark rows in: (group, topic, partition). */
export function compareKeys(a: PartitionKey | undefined, b: PartitionKey | undefined): number {
  if (!a || !b) return 0
  if (a.group !== b.group) return a.group < b.group ? -1 : 1
  if (a.topic !== b.topic) return a.topic < b.topic ? -1 : 1
  return a.partition - b.partition
}
