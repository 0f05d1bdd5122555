import type { TransactionSql } from 'postgres'
import { copyIn } from '../event-store-copy.ts'

/**
 * The COPY rows of one transaction's batches (`SinkTx.copy`), kept per batch until the transaction sends
 * them: one COPY per statement, with the tuples of every batch that did not fail, in the order the
 * batches ran. A COPY per batch cost a node owning thousands of partitions two round trips and four
 * socket writes per batch of a few hundred events.
 */
export class DeferredCopies {
  readonly #rows = new Map<number, { statement: string; tuples: Buffer }[]>()

  /** `tx.copy` for batch `member` of the transaction. */
  for(member: number): (statement: string, tuples: Buffer) => void {
    return (statement, tuples) => {
      const rows = this.#rows.get(member)
      if (rows) rows.push({ statement, tuples })
      else this.#rows.set(member, [{ statement, tuples }])
    }
  }

  /** Batch `member` failed (rolled back to its savepoint): its rows are not sent. */
  drop(member: number): void {
    this.#rows.delete(member)
  }

  /** Sends the rows kept, one COPY per statement; rejects as the first COPY that fails does. */
  async send(tx: TransactionSql): Promise<void> {
    const byStatement = new Map<string, Buffer[]>()
    for (const rows of this.#rows.values()) {
      for (const { statement, tuples } of rows) {
        const same = byStatement.get(statement)
        if (same) same.push(tuples)
        else byStatement.set(statement, [tuples])
      }
    }
    this.#rows.clear()
    for (const [statement, tuples] of byStatement) await copyIn(tx, statement, tuples)
  }
}
