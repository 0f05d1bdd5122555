import { BatonError, errorMessage } from '../core/errors.ts'
import type { PipelineEvent } from '../pipeline.ts'
import type { DeadLetter, SourceRecord } from '../ports.ts'
import type { QuarantinedKey, QuarantineState, QuarantineWrite } from '../quarantine.ts'
import type { BatchItem } from './batcher.ts'
import { failureCode } from './failure.ts'

/** What one transaction of a batch hands to `handle`, dead-letters and holds back. */
export interface Plan<E> {
  readonly events: PipelineEvent<E>[]
  readonly deadLetters: DeadLetter[]
  /** Undefined when the transaction touches no quarantine (the common case: no extra statement). */
  readonly quarantine: QuarantineWrite | undefined
  /** Makes the plan's new keys and held events count; call once its transaction committed. */
  readonly committed: () => void
}

/**
 * The quarantined keys of one partition, in the partition actor's memory: loaded from the sink when the
 * actor takes the partition, changed only after the transaction that changed them in the sink committed.
 * With `onPoison` 'dead-letter' no key is ever added, but keys a previous configuration left are still
 * held (they stay quarantined in the sink until released).
 */
export class QuarantinedKeys {
  readonly #keys = new Map<string, QuarantineState>()
  /** Held events of all keys, as far as this actor knows (loaded, plus held, minus released). */
  events = 0

  constructor(
    readonly onPoison: 'dead-letter' | 'quarantine-key',
    readonly maxKeys: number,
  ) {}

  load(keys: readonly QuarantinedKey[]): void {
    this.#keys.clear()
    this.events = 0
    for (const k of keys) {
      this.#keys.set(k.key.toString('hex'), k.state)
      this.events += k.events
    }
  }

  get size(): number {
    return this.#keys.size
  }

  get full(): boolean {
    return this.#keys.size >= this.maxKeys
  }

  state(key: Buffer | null): QuarantineState | undefined {
    return key === null ? undefined : this.#keys.get(key.toString('hex'))
  }

  /** Keys left `releasing` by an actor that stopped mid-release: this one finishes them. */
  releasing(): Buffer[] {
    return [...this.#keys].filter(([, s]) => s === 'releasing').map(([hex]) => Buffer.from(hex, 'hex'))
  }

  setState(key: Buffer, state: QuarantineState | null): void {
    if (state === null) this.#keys.delete(key.toString('hex'))
    else this.#keys.set(key.toString('hex'), state)
  }

  /**
   * Sorts `items` (offset order) into handled events, dead letters and held events: an item of a
   * quarantined key is held, whatever it is (a poison event behind the head letter waits its turn too);
   * a dead letter of a keyed event quarantines its key under 'quarantine-key', for the items after it as
   * well. `extra` is a letter that isolation decided on (it lies after `items`). Throws QUARANTINE_FULL,
   * before anything is written, when a new key would pass `maxKeys`.
   */
  plan<E>(items: readonly BatchItem<E>[], extra: DeadLetter | null): Plan<E> {
    const events: PipelineEvent<E>[] = []
    const deadLetters: DeadLetter[] = []
    const held: SourceRecord[] = []
    const added = new Map<string, { key: Buffer; letterOffset: number }>()
    const letter = (l: DeadLetter) => {
      deadLetters.push(l)
      const { key, offset } = l.record
      if (this.onPoison !== 'quarantine-key' || key === null) return
      if (this.#keys.size + added.size >= this.maxKeys) {
        throw new BatonError(
          'QUARANTINE_FULL',
          `Partition ${l.record.topic}/${l.record.partition} holds ${this.#keys.size} quarantined keys, the most BATON_QUARANTINE_MAX_KEYS allows: it pauses until one is released (POST /v1/dlq/:id/retry or skip; GET /v1/quarantine lists them).`,
        )
      }
      added.set(key.toString('hex'), { key, letterOffset: offset })
    }
    for (const item of items) {
      // The batch path's common case holds no key: no key is encoded then.
      const hex = this.#keys.size + added.size > 0 ? item.record.key?.toString('hex') : undefined
      if (hex !== undefined && (this.#keys.has(hex) || added.has(hex))) held.push(item.record)
      else if (item.ok) events.push(item)
      else
        letter({
          record: item.record,
          error: errorMessage(item.error),
          code: failureCode(item.error),
          attempts: 1,
        })
    }
    if (extra) letter(extra)
    const newKeys = [...added.values()]
    return {
      events,
      deadLetters,
      quarantine: newKeys.length === 0 && held.length === 0 ? undefined : { newKeys, held },
      committed: () => {
        for (const k of newKeys) this.#keys.set(k.key.toString('hex'), 'quarantined')
        this.events += held.length
      },
    }
  }
}
