import { BatonError } from '../../actors/core/errors.ts'
import type { DeadLetterPage, DeadLetterQuery, StoredDeadLetter } from '../../actors/ports.ts'
import type { DeadLetterEntry } from '../node-api.ts'
import type { Backend } from './backend.ts'

/** What both sinks' dead-letter tables offer the API. */
export interface DeadLetterStore {
  list(query?: DeadLetterQuery): Promise<DeadLetterPage>
  get(ids: readonly number[]): Promise<StoredDeadLetter[]>
  markReplayed(ids: readonly number[]): Promise<number>
}

/** What a replay appends for a dead letter: its original key, value, headers and time. */
export interface ReplayedEvent {
  readonly key: Buffer | null
  readonly value: Buffer | null
  readonly headers: Readonly<Record<string, string>>
  readonly time: number
}

/**
 * GET /v1/dlq and POST /v1/dlq/replay over a sink's dead-letter table. A replay appends the letters'
 * original key, value, headers and time to their topic again (through `append`: the embedded log, or
 * Kafka) and marks them replayed; selecting by topic replays only letters never replayed before.
 */
export function deadLetterApi(
  store: DeadLetterStore,
  topics: readonly string[],
  append: (topic: string, events: readonly ReplayedEvent[]) => Promise<unknown>,
  /** The letters that hold a key back (per-key quarantine): a replay refuses them. */
  heldLetterIds: (topic?: string, partition?: number) => Promise<Set<number>> = async () => new Set(),
): Pick<Backend, 'listDeadLetters' | 'replayDeadLetters'> {
  async function unreplayed(topic: string, partition: number | undefined): Promise<StoredDeadLetter[]> {
    const out: StoredDeadLetter[] = []
    let after: number | undefined
    for (;;) {
      const page = await store.list({ topic, partition, after, limit: 1000 })
      out.push(...page.letters.filter((l) => l.replayedAt === null && !l.resolution))
      if (page.next === null) return out
      after = page.next
    }
  }
  return {
    async listDeadLetters(query) {
      const page = await store.list(query)
      return { entries: page.letters.map(toEntry), next: page.next }
    },
    async replayDeadLetters(selection) {
      // A letter that holds its key back is released by retry or skip, never replayed: a replay would
      // apply it behind the key's later events, or twice.
      const held = await ('ids' in selection
        ? heldLetterIds()
        : heldLetterIds(selection.topic, selection.partition))
      const letters =
        'ids' in selection
          ? await store.get(selection.ids)
          : (await unreplayed(selection.topic, selection.partition)).filter((l) => !held.has(l.id))
      for (const letter of letters) {
        if (held.has(letter.id) || letter.resolution) {
          throw new BatonError(
            'QUARANTINE_CONFLICT',
            `Dead letter ${letter.id} ${letter.resolution ? `was ${letter.resolution} already` : 'holds its key back'}: release it with POST /v1/dlq/${letter.id}/retry or /skip instead of a replay. Nothing was replayed.`,
          )
        }
      }
      for (const letter of letters) {
        if (!topics.includes(letter.record.topic)) {
          throw new BatonError(
            'BAD_REQUEST',
            `Dead letter ${letter.id} belongs to topic '${letter.record.topic}', which this node does not serve.`,
          )
        }
      }
      for (const topic of new Set(letters.map((l) => l.record.topic))) {
        const events = letters
          .filter((l) => l.record.topic === topic)
          .map(({ record }) => ({
            key: record.key,
            value: record.value,
            headers: record.headers,
            time: record.timestamp,
          }))
        await append(topic, events)
      }
      await store.markReplayed(letters.map((l) => l.id))
      return letters.length
    },
  }
}

/** A stored dead letter as the HTTP API shows it. */
export function toEntry(letter: StoredDeadLetter): DeadLetterEntry {
  return {
    id: letter.id,
    topic: letter.record.topic,
    partition: letter.record.partition,
    offset: letter.record.offset,
    key: letter.record.key?.toString('utf8') ?? null,
    value: letter.record.value?.toString('utf8') ?? null,
    headers: letter.record.headers,
    error: letter.error,
    errorCode: letter.code,
    attempts: letter.attempts,
    failedAt: letter.failedAt.toISOString(),
    replayedAt: letter.replayedAt?.toISOString() ?? null,
    resolution: letter.resolution ?? null,
  }
}
