import { BatonError } from '../../actors/core/errors.ts'
import type { BatchCommit, SinkTx, SourceRecord } from '../../actors/ports.ts'
import { tpString } from '../../actors/ports.ts'
import type {
  LetterHold,
  NewHeadLetter,
  QuarantinedKey,
  QuarantineEntry,
  QuarantineState,
  QuarantineStore,
  ReleaseStep,
  ReleaseStepResult,
} from '../../actors/quarantine.ts'
import type { MemorySink, MemoryTx } from './memory-sink.ts'

interface Letter {
  readonly id: number
  readonly record: SourceRecord
  resolution: 'retried' | 'skipped' | null
}

interface HeldKey {
  readonly tp: string
  readonly key: Buffer
  letterId: number
  state: QuarantineState
  /** Held events in offset order. */
  readonly rows: SourceRecord[]
}

/**
 * The quarantine tables of a {@link MemorySink}, with the rules of the real ones: written only by the
 * sink's commit, released only by a step whose epoch holds the watermark row, and what a release hands to
 * `apply` lands in the sink's `stored` only when the step applies. Dead letters of every commit are kept
 * here too, with ids, so that releases can name them.
 */
export class MemoryQuarantine implements QuarantineStore {
  readonly letters = new Map<number, Letter>()
  readonly keys = new Map<string, HeldKey>()
  #nextId = 1

  constructor(readonly sink: MemorySink) {}

  /** Called by the sink's commit once the batch's work succeeded (the same transaction). */
  write(batch: BatchCommit): void {
    const tp = tpString(batch.key)
    const byOffset = new Map<number, number>()
    for (const letter of batch.deadLetters) {
      const id = this.#nextId++
      this.letters.set(id, { id, record: letter.record, resolution: null })
      byOffset.set(letter.record.offset, id)
    }
    for (const { key, letterOffset } of batch.quarantine?.newKeys ?? []) {
      const letterId = byOffset.get(letterOffset) as number
      this.keys.set(`${tp}/${key.toString('hex')}`, { tp, key, letterId, state: 'quarantined', rows: [] })
    }
    for (const record of batch.quarantine?.held ?? []) {
      this.#held(tp, record.key as Buffer).rows.push(record)
    }
  }

  async load(key: { topic: string; partition: number }): Promise<QuarantinedKey[]> {
    this.#check()
    return [...this.keys.values()]
      .filter((k) => k.tp === tpString(key))
      .map((k) => ({ key: k.key, state: k.state, deadLetterId: k.letterId, events: k.rows.length }))
  }

  async release(step: ReleaseStep): Promise<ReleaseStepResult> {
    this.#check()
    this.#fence(step.key, step.epoch)
    const held = this.#held(tpString(step.key), step.recordKey)
    const letter = step.mark && this.letters.get(step.mark.letterId)
    if (step.mark && (held.letterId !== step.mark.letterId || held.state !== 'quarantined' || !letter)) {
      throw new BatonError('QUARANTINE_CONFLICT', `letter ${step.mark.letterId} holds no key (test)`)
    }
    const rows = held.rows.slice(0, step.take)
    const applied = step.mark ? (step.mark.outcome === 'retried' ? [step.mark.letter] : []) : rows
    const tx: MemoryTx = { kind: 'memory', stored: [] }
    await step.apply(applied, tx as unknown as SinkTx)
    this.#check()
    if (letter && step.mark) letter.resolution = step.mark.outcome
    held.state = 'releasing'
    held.rows.splice(0, rows.length)
    const stored = this.sink.stored.get(tpString(step.key)) ?? []
    stored.push(...tx.stored)
    this.sink.stored.set(tpString(step.key), stored)
    const done = held.rows.length === 0
    if (done) this.keys.delete(`${held.tp}/${held.key.toString('hex')}`)
    return { applied, done }
  }

  async newHead(l: NewHeadLetter): Promise<number> {
    this.#check()
    this.#fence(l.key, l.epoch)
    const held = this.#held(tpString(l.key), l.record.key as Buffer)
    if (held.rows[0]?.offset !== l.record.offset)
      throw new Error('newHead of a row that is not the head (test)')
    held.rows.shift()
    const id = this.#nextId++
    this.letters.set(id, { id, record: l.record, resolution: null })
    held.letterId = id
    held.state = 'quarantined'
    return id
  }

  async list(): Promise<{ entries: QuarantineEntry[]; next: number | null }> {
    this.#check()
    const entries = [...this.keys.values()].map((k) => ({
      topic: k.rows[0]?.topic ?? '',
      partition: k.rows[0]?.partition ?? 0,
      key: k.key,
      deadLetterId: k.letterId,
      state: k.state,
      events: k.rows.length,
      oldestEventTime: k.rows[0]?.timestamp ?? null,
    }))
    return { entries, next: null }
  }

  async holder(deadLetterId: number): Promise<LetterHold | null> {
    this.#check()
    const k = [...this.keys.values()].find((h) => h.letterId === deadLetterId)
    const letter = this.letters.get(deadLetterId)
    if (!k || !letter) return null
    return { topic: letter.record.topic, partition: letter.record.partition, key: k.key, state: k.state }
  }

  #held(tp: string, key: Buffer): HeldKey {
    const held = this.keys.get(`${tp}/${key.toString('hex')}`)
    if (!held) throw new BatonError('QUARANTINE_CONFLICT', `key ${key.toString()} is not quarantined (test)`)
    return held
  }

  #fence(key: { topic: string; partition: number }, epoch: number): void {
    const row = this.sink.watermarks.get(tpString(key))
    if (!row || row.epoch !== epoch) throw new BatonError('FENCED', `owned by epoch ${row?.epoch} (test)`)
  }

  #check(): void {
    if (this.sink.down) throw new BatonError('SINK_UNAVAILABLE', 'memory sink is down (test)')
  }
}
