import { BatonError } from '../core/errors.ts'
import { type BatchCommit, type PartitionKey, tpString } from '../ports.ts'
import { answeredWithError, toSinkError } from './classify-error.ts'
import type { PostgresClients } from './clients.ts'
import type { PostgresTarget } from './target.ts'

/** What the watermark row says about a commit whose answer never came. */
export type CommitOutcome = 'committed' | 'not-committed' | 'fenced' | 'stale'

/** The part of a batch that its watermark row can confirm, and the backend that ran its transaction. */
export interface UnknownCommit {
  readonly key: PartitionKey
  readonly epoch: number
  readonly fromOffset: number | null
  readonly toOffset: number
  /** `pg_backend_pid()` of the transaction, as its watermark statement returned it. */
  readonly pid: number
}

/**
 * Settles commits whose outcome is unknown: the transaction moved the watermark, and then its deadline
 * passed or its connection was lost, maybe after COMMIT was sent. Never by guessing: the old backend is
 * terminated, and the watermark row is read with `FOR UPDATE`, which waits for a transaction that still
 * holds the row, so the old transaction can no longer commit once the row is read. Same epoch and the
 * batch's end offset: it committed; its start offset: it did not; a newer epoch: fenced; anything else
 * (this epoch at another offset): stale, the actor restarts and resumes from the row.
 *
 * A commit that cannot be settled now (PostgreSQL is still down) is kept, and settled before the next
 * commit of its partition and before any `read` of pipeline state: both would otherwise act on a guess.
 */
export interface CommitSettler {
  /**
   * Settles `commit` now. Returns when it committed; throws FENCED when a newer epoch owns the row,
   * WATERMARK_MISMATCH when the row is elsewhere under this epoch (restart from it), `cause` as
   * SINK_UNAVAILABLE when it did not commit (retry the batch), or SINK_UNAVAILABLE when the row cannot be
   * read now (the commit is kept unsettled).
   */
  settle(commit: UnknownCommit, cause: unknown): Promise<void>
  /**
   * Settles the kept commit of `batch`'s partition first. True when `batch` is that very commit and it
   * committed: the caller reports it committed without running it again. Throws as `settle`, and
   * WATERMARK_MISMATCH when the partition committed further than this actor knows (its restart, with a
   * new epoch, resumes from the watermark row).
   */
  before(batch: BatchCommit): Promise<boolean>
  /** Settles every kept commit, so that pipeline state is read only once all outcomes are known. */
  settleAll(): Promise<void>
}

export function commitSettler(
  clients: PostgresClients,
  target: PostgresTarget,
  deadlineMs: number,
): CommitSettler {
  /** Commits not settled yet (or settled as committed, but not yet told to their actor), by partition. */
  const kept = new Map<string, { commit: UnknownCommit; committed: boolean }>()

  async function outcome(commit: UnknownCommit): Promise<CommitOutcome> {
    const { group, topic, partition } = commit.key
    // Ends the old transaction at once instead of waiting for the server to notice a dead client
    // (idle_in_transaction_session_timeout). Same role may signal its own backends. A pid reused by
    // another of baton's connections meanwhile only costs that one a retry; FOR UPDATE below is what
    // makes the answer final either way.
    await clients
      .run(
        (sql) => sql`select pg_terminate_backend(${commit.pid}, ${Math.floor(deadlineMs / 2)})`,
        deadlineMs,
      )
      .catch((err) => {
        // Refused by the server (a role that may not signal, a server older than 14): FOR UPDATE alone
        // still waits for the old transaction to end.
        if (!answeredWithError(err)) throw err
      })
    const [row] = await clients.run(
      (sql) => sql<{ epoch: string; next_offset: string | null }[]>`
        select epoch, next_offset from baton_watermarks
        where group_id = ${group} and topic = ${topic} and partition = ${partition}
        for update`,
      deadlineMs,
    )
    if (row && Number(row.epoch) > commit.epoch) return 'fenced'
    if (!row || Number(row.epoch) !== commit.epoch) return 'stale'
    const next = row.next_offset === null ? null : Number(row.next_offset)
    if (next === commit.toOffset) return 'committed'
    return next === commit.fromOffset ? 'not-committed' : 'stale'
  }

  /** `outcome`, with a commit it cannot settle now kept; FENCED or WATERMARK_MISMATCH thrown for the others. */
  async function decide(commit: UnknownCommit): Promise<'committed' | 'not-committed'> {
    const name = keyName(commit.key)
    let result: CommitOutcome
    try {
      result = await outcome(commit)
    } catch (err) {
      kept.set(name, { commit, committed: false })
      throw unknown(commit, err, target)
    }
    kept.delete(name)
    if (result === 'fenced') throw fenced(commit)
    if (result === 'stale') throw stale(commit)
    return result
  }

  async function decideKept(name: string): Promise<boolean> {
    const entry = kept.get(name)
    if (!entry) return false
    if (entry.committed) return true
    if ((await decide(entry.commit)) === 'not-committed') return false
    kept.set(name, { commit: entry.commit, committed: true })
    return true
  }

  return {
    async settle(commit, cause) {
      if ((await decide(commit)) === 'not-committed') throw cause
    },

    async before(batch) {
      const name = keyName(batch.key)
      const entry = kept.get(name)
      if (!entry) return false
      // A newer epoch's claim took the row lock after the old transaction ended: the row says it all.
      if (entry.commit.epoch < batch.epoch) {
        kept.delete(name)
        return false
      }
      if (!(await decideKept(name))) return false
      const { commit } = entry
      if (commit.fromOffset === batch.fromOffset && commit.toOffset === batch.toOffset) {
        kept.delete(name)
        return true
      }
      kept.delete(name)
      throw new BatonError(
        'WATERMARK_MISMATCH',
        `The commit up to offset ${commit.toOffset} of ${describe(commit.key)}, whose answer was lost, did ` +
          `commit, but this actor now retries from ${batch.fromOffset ?? 'the start'} to ${batch.toOffset}. ` +
          'Nothing was applied; the actor restarts and resumes from the watermark.',
      )
    },

    async settleAll() {
      for (const name of [...kept.keys()]) await decideKept(name)
    },
  }
}

/** A partition's key as one string, for maps. */
export function keyName(key: PartitionKey): string {
  return `${key.group}\u0000${tpString(key)}`
}

function describe(key: PartitionKey): string {
  return `${tpString(key)} of group '${key.group}'`
}

function fenced(commit: UnknownCommit): BatonError {
  return new BatonError(
    'FENCED',
    `Partition ${describe(commit.key)} is owned by a newer epoch than ${commit.epoch}, whose commit up to ` +
      `${commit.toOffset} had no answer: another actor took the partition, so this one must stop.`,
  )
}

function stale(commit: UnknownCommit): BatonError {
  return new BatonError(
    'WATERMARK_MISMATCH',
    `Partition ${describe(commit.key)} is neither at the start nor at the end (${commit.toOffset}) of the ` +
      `commit of epoch ${commit.epoch} that had no answer, and no newer epoch holds it: the actor restarts and ` +
      'resumes from the watermark.',
  )
}

function unknown(commit: UnknownCommit, err: unknown, target: PostgresTarget): unknown {
  const wrapped = toSinkError(
    err,
    target,
    `settling the commit up to ${commit.toOffset} of ${describe(commit.key)}`,
  )
  if (!(wrapped instanceof BatonError) || wrapped.code !== 'SINK_UNAVAILABLE') return wrapped
  return new BatonError(
    'SINK_UNAVAILABLE',
    `${wrapped.message} Whether that commit took effect is not known yet; it is settled from the watermark ` +
      'row before the partition commits again.',
    { cause: err },
  )
}
