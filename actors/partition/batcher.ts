import { recordBytes, type SourceRecord } from '../ports.ts'

/** A record with its decoded value, or with the reason it could not be decoded (a poison event). */
export type BatchItem<E> =
  | { readonly record: SourceRecord; readonly ok: true; readonly value: E }
  | { readonly record: SourceRecord; readonly ok: false; readonly error: unknown }

export interface BatchLimits {
  /** Flush once this many events are waiting. */
  readonly maxEvents: number
  /** Flush once the keys and values waiting add up to this many bytes. */
  readonly maxBytes: number
  /** Flush this long after the first event of a batch arrived, however few are waiting. */
  readonly maxWaitMs: number
}

/**
 * Collects one partition's items until a limit is reached. It only counts; the partition actor owns the
 * timer (a message to itself) and decides when to take the batch.
 */
export class Batcher<E> {
  #items: BatchItem<E>[] = []
  #bytes = 0
  #openedAt = 0

  constructor(readonly limits: BatchLimits) {}

  /** Adds an item; returns true when the batch is full and should be flushed now. */
  add(item: BatchItem<E>, now: number): boolean {
    if (this.#items.length === 0) this.#openedAt = now
    this.#items.push(item)
    this.#bytes += recordBytes(item.record)
    return this.#items.length >= this.limits.maxEvents || this.#bytes >= this.limits.maxBytes
  }

  get size(): number {
    return this.#items.length
  }

  get bytes(): number {
    return this.#bytes
  }

  /** When the current batch got its first item (clock milliseconds); meaningless when empty. */
  get openedAt(): number {
    return this.#openedAt
  }

  /** Hands over the waiting items and starts an empty batch. */
  take(): BatchItem<E>[] {
    const items = this.#items
    this.#items = []
    this.#bytes = 0
    return items
  }
}
