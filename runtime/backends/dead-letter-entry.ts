import type { StoredDeadLetter } from '../../actors/ports.ts'
import type { DeadLetterEntry } from '../node-api.ts'

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
  }
}
