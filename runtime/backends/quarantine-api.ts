import { BatonError } from '../../actors/core/errors.ts'
import type { StoredDeadLetter } from '../../actors/ports.ts'
import type { LetterHold, QuarantineQuery, QuarantineStore } from '../../actors/quarantine.ts'
import type { QuarantinePage } from '../node-api.ts'
import type { DeadLetterStore } from './dead-letters.ts'

/** What both backends offer the API about per-key quarantine (issue 20), over a sink's tables. */
export interface QuarantineApi {
  listQuarantine(query: QuarantineQuery): Promise<QuarantinePage>
  /**
   * The letter `id` and the key it holds back, for a retry or skip. NOT_FOUND for an unknown id;
   * QUARANTINE_CONFLICT for a letter already retried, skipped or replayed, or one that holds no key.
   */
  letterHold(id: number): Promise<{ letter: StoredDeadLetter; hold: LetterHold }>
  /** The ids of the letters that hold a key back in `topic` (all topics when omitted). */
  heldLetterIds(topic?: string, partition?: number): Promise<Set<number>>
}

export function quarantineApi(letters: DeadLetterStore, store: QuarantineStore): QuarantineApi {
  return {
    async listQuarantine(query) {
      const page = await store.list(query)
      return {
        entries: page.entries.map((e) => ({
          topic: e.topic,
          partition: e.partition,
          // As GET /v1/dlq shows keys: their UTF-8 text.
          key: e.key.toString('utf8'),
          deadLetterId: e.deadLetterId,
          state: e.state,
          events: e.events,
          oldestEventTime: e.oldestEventTime === null ? null : new Date(e.oldestEventTime).toISOString(),
        })),
        next: page.next,
      }
    },

    async letterHold(id) {
      const [letter] = await letters.get([id])
      if (!letter)
        throw new BatonError('NOT_FOUND', `There is no dead letter ${id} (GET /v1/dlq lists them).`)
      const done = letter.replayedAt ? 'replayed' : letter.resolution
      if (done) {
        throw new BatonError(
          'QUARANTINE_CONFLICT',
          `Dead letter ${id} was ${done} already; nothing was changed.`,
        )
      }
      const hold = await store.holder(id)
      if (!hold) {
        throw new BatonError(
          'QUARANTINE_CONFLICT',
          `Dead letter ${id} holds no key back (its pipeline dead-letters without quarantine, or its key was released); replay it with POST /v1/dlq/replay instead.`,
        )
      }
      if (hold.state === 'releasing') {
        throw new BatonError(
          'QUARANTINE_CONFLICT',
          `Dead letter ${id} was decided already and its key is being released (GET /v1/quarantine shows it releasing).`,
        )
      }
      return { letter, hold }
    },

    async heldLetterIds(topic, partition) {
      const ids = new Set<number>()
      let after: number | undefined
      for (;;) {
        const page = await store.list({ topic, partition, after, limit: 1000 })
        for (const e of page.entries) ids.add(e.deadLetterId)
        if (page.next === null) return ids
        after = page.next
      }
    },
  }
}
