import type { TransactionSql } from 'postgres'
import { BatonError } from '../core/errors.ts'
import type { BatchCommit, PartitionKey, SinkTx } from '../ports.ts'
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
 * When every batch's pipeline is `copyOnly` (the event store) and none writes quarantine rows, no batch
 * needs a savepoint, since none runs a statement that could fail alone: each pipeline makes its rows first,
 * then all the watermarks move in one round trip, and a batch whose row did not move (or whose pipeline
 * threw) has written nothing and is left out of the COPY. This is what a node owning thousands of
 * partitions commits most, and it saves two round trips per batch (SAVEPOINT, then the watermark).
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
  /**
   * The copy-only batches: rows first (a pipeline that throws is out, having written nothing), then every
   * watermark in one round trip, in (topic, partition) order as the rows are locked; a batch whose row did
   * not move is answered from its row and its rows dropped.
   */
  const runCopyOnly = async (tx: TransactionSql) => {
    const ready: number[] = []
    for (const i of order) {
      const batch = batches[i] as BatchCommit
      try {
        if (batch.work) await batch.work(copyOnlyTx(copies.for(i)))
        ready.push(i)
      } catch (err) {
        copies.drop(i)
        outcomes[i] = { committed: false, error: err }
      }
    }
    const movedBy = await Promise.all(ready.map((i) => moveWatermark(tx, batches[i] as BatchCommit)))
    const answered: Promise<void>[] = []
    for (const [at, i] of ready.entries()) {
      const by = movedBy[at] ?? null
      if (by !== null) {
        pid = by
        moved.push(i)
        continue
      }
      copies.drop(i)
      answered.push(
        refuse(tx, batches[i] as BatchCommit).then(
          () => {
            outcomes[i] = COMMITTED
          },
          (error: unknown) => {
            outcomes[i] = { committed: false, error }
          },
        ),
      )
    }
    await Promise.all(answered)
  }
  try {
    await deps.clients.transaction(async (tx) => {
      if (batches.length === 1) await run(tx, 0)
      else if (batches.every(isCopyOnly)) await runCopyOnly(tx)
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

const isCopyOnly = (batch: BatchCommit) => batch.copyOnly === true && batch.quarantine === undefined

/**
 * What a copy-only pipeline's `handle` gets in a shared transaction: `copy`, and no `sql`, since a statement
 * would run before the batch's watermark moved and could not be rolled back alone.
 */
function copyOnlyTx(copy: (statement: string, tuples: Buffer) => void): SinkTx {
  return {
    kind: 'postgres',
    get sql(): never {
      throw new BatonError(
        'PIPELINE_INVALID',
        'The pipeline is copyOnly but its handle used tx.sql: a copyOnly pipeline writes only through ' +
          'tx.copy. Drop copyOnly from its definition, or hand its rows to tx.copy.',
      )
    },
    copy,
  }
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
