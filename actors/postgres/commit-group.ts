import type { BatchCommit } from '../ports.ts'
import { type BatchTransactionDeps, commitBatches } from './batch-transaction.ts'
import { keyName } from './settle.ts'

export interface CommitGroupOptions {
  /** Most batches in one transaction (default 128). */
  readonly maxBatches?: number
  /** Most transactions of batches in flight at once on this node (default 2). */
  readonly maxInFlight?: number
  /** Hears the number of batches of every batch transaction as it starts (the metric of how well they group). */
  readonly onTransaction?: (batches: number) => void
}

/** A batch waiting for its transaction, with the promise its partition awaits. */
interface Member {
  /** The partition, as `keyName` spells it. */
  readonly name: string
  readonly batch: BatchCommit
  /** The batch must commit in a transaction of its own. */
  readonly alone: boolean
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
}

/**
 * Commits the batches that partitions hand in at about the same moment in shared transactions, so that a
 * node owning many partitions pays for transactions by what it commits, not by how many partitions it owns
 * (invariant 6). A batch that arrives while fewer than `maxInFlight` transactions run starts one at once,
 * with whatever else waits; otherwise it waits for a running one to end and joins the next, up to
 * `maxBatches`. Under light load every batch still commits at once, alone; under load, batches group.
 *
 * What holds for every batch, whatever it shares a transaction with (batch-transaction.ts):
 * - `commit` settles only once the transaction's outcome is settled, and a partition has at most one batch
 *   in a transaction and in flight (a second one, a zombie's beside its successor's, waits for the next);
 *   so a partition forms its next batch only once the last one's fate is known;
 * - a batch is never split: all of it joins one transaction;
 * - its watermark moves fenced, first, and its pipeline runs only if it moved, so a refused or failed batch
 *   rolls back alone to its savepoint and fails with its own error (a copy-only pipeline makes its rows
 *   first, and they are sent only if the row moved: such a batch has nothing to roll back);
 * - when the shared transaction fails, or its outcome is unknown, every batch that did not commit fails
 *   (the partition actor then reloads its pipeline state) and its partition's next batch commits in a
 *   transaction of its own: a batch at fault (a constraint checked at COMMIT) is found there, as before
 *   grouping, instead of failing its neighbours again.
 */
export function commitGroups(deps: BatchTransactionDeps, options: CommitGroupOptions = {}) {
  const maxBatches = options.maxBatches ?? 128
  const maxInFlight = options.maxInFlight ?? 2
  const waiting: Member[] = []
  /** Partitions with a batch in a running transaction. */
  const busy = new Set<string>()
  /** Partitions whose next batch commits alone, after their batch failed in a shared transaction. */
  const alone = new Set<string>()
  let inFlight = 0

  /** The next group: the oldest waiting batches of partitions not busy, or one batch that must go alone. */
  function take(): Member[] {
    const group: Member[] = []
    const names = new Set<string>()
    for (let i = 0; i < waiting.length && group.length < maxBatches; ) {
      const member = waiting[i] as Member
      if (busy.has(member.name) || names.has(member.name) || (member.alone && group.length > 0)) {
        i++
        continue
      }
      waiting.splice(i, 1)
      group.push(member)
      names.add(member.name)
      if (member.alone) break
    }
    return group
  }

  function pump(): void {
    while (inFlight < maxInFlight) {
      const group = take()
      if (group.length === 0) return
      inFlight++
      for (const member of group) busy.add(member.name)
      void run(group).finally(() => {
        inFlight--
        for (const member of group) busy.delete(member.name)
        pump()
      })
    }
  }

  async function run(group: readonly Member[]): Promise<void> {
    options.onTransaction?.(group.length)
    const outcomes = await commitBatches(
      deps,
      group.map((m) => m.batch),
    )
    for (const [i, member] of group.entries()) {
      const outcome = outcomes[i]
      if (outcome?.committed) {
        member.resolve()
        continue
      }
      if (group.length > 1) alone.add(member.name)
      member.reject(outcome?.error)
    }
  }

  return {
    /**
     * Commits `batch` in the next transaction it fits in. Resolves once that committed (or the watermark row
     * says it did); rejects as a commit of the batch alone would, or with SINK_UNAVAILABLE when the shared
     * transaction failed as a whole.
     */
    commit(batch: BatchCommit): Promise<void> {
      const name = keyName(batch.key)
      const solo = alone.delete(name)
      return new Promise<void>((resolve, reject) => {
        waiting.push({ name, batch, alone: solo, resolve, reject })
        pump()
      })
    },
  }
}
