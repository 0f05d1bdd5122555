/**
 * The port of per-key quarantine (issue 20): under a pipeline's `onPoison: 'quarantine-key'`, a dead-lettered
 * event of key K holds back every later event of K in its partition (table `baton_quarantine`), while the
 * other keys flow, until an operator retries or skips the letter and the owning partition actor releases
 * K's events in offset order. Each sink implements it on its own tables; the partition actor only sees this.
 */
import { BatonError } from './core/errors.ts'
import type { PartitionKey, SinkTx, SourceRecord } from './ports.ts'

/** `releasing`: the letter was retried or skipped, and K's held events are being handed to `handle`. */
export type QuarantineState = 'quarantined' | 'releasing'

/** One quarantined key of a partition, as a new owner loads it after claiming the partition. */
export interface QuarantinedKey {
  readonly key: Buffer
  readonly state: QuarantineState
  /** The dead letter holding the key back (its head letter). */
  readonly deadLetterId: number
  /** How many events of the key are held. */
  readonly events: number
}

/** What a batch commit adds to the quarantine, in the transaction that moves the watermark past it. */
export interface QuarantineWrite {
  /** Keys quarantined by this batch: each by the dead letter of this batch at `letterOffset`. */
  readonly newKeys: readonly { readonly key: Buffer; readonly letterOffset: number }[]
  /** Events of quarantined keys, in offset order, held instead of handled. */
  readonly held: readonly SourceRecord[]
}

/** A letter's decision, as `POST /v1/dlq/:id/{retry,skip}` asks for it. */
export type ReleaseOutcome = 'retried' | 'skipped'

/**
 * One release transaction of key `recordKey`. It first touches the partition's watermark row under `epoch`
 * (FENCED if another epoch holds it), then:
 * - with `mark`: marks the letter retried or skipped and the key `releasing` (CONFLICT if the letter does
 *   not hold the key as `quarantined` any more), and `apply`s the letter's record when retried;
 * - with `take` > 0: deletes the key's next `take` held rows (`DELETE … RETURNING`) and `apply`s them;
 * and un-quarantines the key when no held row of it remains. What `apply` throws rolls it all back.
 */
export interface ReleaseStep {
  readonly key: PartitionKey
  readonly epoch: number
  readonly recordKey: Buffer
  readonly mark: {
    readonly letterId: number
    readonly outcome: ReleaseOutcome
    readonly letter: SourceRecord
  } | null
  readonly take: number
  readonly apply: (records: readonly SourceRecord[], tx: SinkTx) => Promise<void>
}

export interface ReleaseStepResult {
  /** The records handed to `apply` (the retried letter's, then held rows in offset order). */
  readonly applied: readonly SourceRecord[]
  /** True when the key was un-quarantined in this transaction. */
  readonly done: boolean
}

/** A held event that failed on release: it becomes the key's new head letter, the rest stay held. */
export interface NewHeadLetter {
  readonly key: PartitionKey
  readonly epoch: number
  readonly record: SourceRecord
  readonly error: string
  readonly code: string
  readonly attempts: number
}

/** One row of `GET /v1/quarantine`. */
export interface QuarantineEntry {
  readonly topic: string
  readonly partition: number
  readonly key: Buffer
  readonly deadLetterId: number
  readonly state: QuarantineState
  readonly events: number
  /** Event time of the oldest held event (ms), null when none is held yet. */
  readonly oldestEventTime: number | null
}

export interface QuarantineQuery {
  readonly topic?: string
  readonly partition?: number
  /** The `next` of the previous page (a dead-letter id); omit for the first page. */
  readonly after?: number
  readonly limit?: number
}

/** Which key a dead letter holds back, and how; null from `holder` when it holds none. */
export interface LetterHold {
  readonly topic: string
  readonly partition: number
  readonly key: Buffer
  readonly state: QuarantineState
}

/**
 * The quarantine tables of one consumer group in a sink. Held events get in only through the sink's batch
 * commit (`BatchCommit.quarantine`) and out only through `release`/`newHead`, both fenced by the epoch.
 * All throw SINK_UNAVAILABLE when the database cannot be reached, FENCED for a zombie.
 */
export interface QuarantineStore {
  load(key: PartitionKey): Promise<QuarantinedKey[]>
  release(step: ReleaseStep): Promise<ReleaseStepResult>
  /** Returns the new letter's id. */
  newHead(letter: NewHeadLetter): Promise<number>
  list(query?: QuarantineQuery): Promise<{ entries: QuarantineEntry[]; next: number | null }>
  holder(deadLetterId: number): Promise<LetterHold | null>
}

/** FENCED for a release (or new head letter) whose epoch no longer holds the partition's watermark row. */
export function releaseFenced(key: PartitionKey, epoch: number): BatonError {
  return new BatonError(
    'FENCED',
    `Partition ${key.topic}/${key.partition} of group '${key.group}' is not held by epoch ${epoch} any more: the release was refused and rolled back. Another actor owns the partition.`,
  )
}

/** QUARANTINE_CONFLICT for a letter that holds no key any more (or, null, a held event already gone). */
export function quarantineConflict(letterId: number | null): BatonError {
  return new BatonError(
    'QUARANTINE_CONFLICT',
    letterId === null
      ? 'The held event to dead-letter is not in baton_quarantine any more; nothing was changed.'
      : `Dead letter ${letterId} does not hold its key back any more (it was retried, skipped or replayed); nothing was changed.`,
  )
}
