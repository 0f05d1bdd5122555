import { BatonError } from '../../actors/core/errors.ts'
import type { BatchCommit, Checkpoints, DeadLetter, PartitionKey, Sink, SinkTx } from '../../actors/ports.ts'
import { tpString } from '../../actors/ports.ts'
import { MemoryQuarantine } from './memory-quarantine.ts'

/** What a {@link MemorySink} transaction carries: the offsets a pipeline stored in it. */
export interface MemoryTx {
  readonly kind: 'memory'
  readonly stored: number[]
}

/** The transaction handed to a pipeline's `handle` by a {@link MemorySink} (see `storeOffsets`). */
export const memoryTx = (tx: SinkTx): MemoryTx => tx as unknown as MemoryTx

/**
 * A transactional sink in memory, with the watermark rules of the real ones (claim with a newer epoch,
 * commit only from the stored offset under the claiming epoch): for unit tests of the partition actor
 * and the supervision tree on a ManualClock. `down` makes every call fail as SINK_UNAVAILABLE, as a
 * database that is away does. What pipelines store through {@link memoryTx} lands in `stored` per
 * partition, and only when the commit applies.
 */
export class MemorySink implements Sink {
  readonly kind = 'postgres' as const
  down = false
  readonly watermarks = new Map<string, { epoch: number; next: number | null }>()
  /** The offsets stored per partition (`topic/partition`), in commit order. */
  readonly stored = new Map<string, number[]>()
  /** The dead letters committed, in commit order (the sink's table is the DLQ, as in embedded mode). */
  readonly deadLetters: DeadLetter[] = []
  commits = 0
  /** Called inside every commit before the watermark check: tests make one commit fail on purpose. */
  beforeCommit: ((batch: BatchCommit) => void) | null = null
  /** Per-key quarantine tables (and the dead letters, with ids), for `PartitionActorDeps.quarantine`. */
  readonly quarantine: MemoryQuarantine = new MemoryQuarantine(this)

  #check(what: string): void {
    if (this.down) throw new BatonError('SINK_UNAVAILABLE', `memory sink is down (test): ${what}`)
  }

  async storedEpoch(key: PartitionKey): Promise<number | null> {
    this.#check('storedEpoch')
    return this.watermarks.get(tpString(key))?.epoch ?? null
  }

  async claim(key: PartitionKey, epoch: number): Promise<number | null> {
    this.#check('claim')
    const row = this.watermarks.get(tpString(key))
    if (row && row.epoch > epoch) throw new BatonError('FENCED', `owned by epoch ${row.epoch} (test)`)
    if (row && row.epoch === epoch) throw new BatonError('WATERMARK_MISMATCH', 'claimed once (test)')
    this.watermarks.set(tpString(key), { epoch, next: row?.next ?? null })
    return row?.next ?? null
  }

  async commit(batch: BatchCommit): Promise<void> {
    this.#check('commit')
    this.beforeCommit?.(batch)
    const row = this.watermarks.get(tpString(batch.key))
    if (row && row.epoch > batch.epoch) throw new BatonError('FENCED', `owned by epoch ${row.epoch} (test)`)
    if (!row || row.epoch !== batch.epoch || row.next !== batch.fromOffset) {
      throw new BatonError('WATERMARK_MISMATCH', `watermark at ${row?.next} (test)`)
    }
    const tx: MemoryTx = { kind: 'memory', stored: [] }
    if (batch.work) await batch.work(tx as unknown as SinkTx)
    this.#check('commit') // a sink that went away during the work commits nothing
    this.quarantine.write(batch)
    row.next = batch.toOffset
    const list = this.stored.get(tpString(batch.key)) ?? []
    list.push(...tx.stored)
    this.stored.set(tpString(batch.key), list)
    this.deadLetters.push(...batch.deadLetters)
    this.commits++
  }

  async read<T>(fn: (tx: SinkTx) => Promise<T> | T): Promise<T> {
    this.#check('read')
    return fn({ kind: 'memory', stored: [] } as unknown as SinkTx)
  }

  async close(): Promise<void> {}
}

/** Epochs and checkpoints in memory, fenced as the Redis ones are. */
export class MemoryCheckpoints implements Checkpoints {
  down = false
  readonly #epochs = new Map<string, number>()
  readonly #checkpoints = new Map<string, { nextOffset: number; epoch: number }>()

  #check(what: string): void {
    if (this.down)
      throw new BatonError('CHECKPOINT_UNAVAILABLE', `memory checkpoints are down (test): ${what}`)
  }

  async nextEpoch(key: PartitionKey, above = 0): Promise<number> {
    this.#check('nextEpoch')
    const epoch = Math.max(this.#epochs.get(tpString(key)) ?? 0, above) + 1
    this.#epochs.set(tpString(key), epoch)
    return epoch
  }

  async read(key: PartitionKey) {
    this.#check('read')
    return this.#checkpoints.get(tpString(key)) ?? null
  }

  async write(key: PartitionKey, epoch: number, nextOffset: number): Promise<boolean> {
    this.#check('write')
    if (epoch !== this.#epochs.get(tpString(key))) return false
    this.#checkpoints.set(tpString(key), { nextOffset, epoch })
    return true
  }

  async close(): Promise<void> {}
}
