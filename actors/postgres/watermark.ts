/** The fenced watermark statements that open every batch's part of a transaction (batch-transaction.ts). */
import type { TransactionSql } from 'postgres'
import { BatonError } from '../core/errors.ts'
import { type BatchCommit, describeKey } from '../ports.ts'
import { deadLetterColumns } from './dead-letters.ts'

/**
 * Moves the watermark and inserts the dead letters if it moved, in one round trip. Returns the backend's pid
 * when it moved (what settling an unknown outcome terminates), null when it did not.
 */
export async function moveWatermark(tx: TransactionSql, batch: BatchCommit): Promise<number | null> {
  const { group, topic, partition } = batch.key
  const l = deadLetterColumns(batch.deadLetters)
  const [result] = await tx<{ moved: number; pid: number }[]>`
    with moved as (
      update baton_watermarks set next_offset = ${batch.toOffset}, updated_at = now()
      where group_id = ${group} and topic = ${topic} and partition = ${partition}
        and epoch = ${batch.epoch} and next_offset is not distinct from ${batch.fromOffset}::bigint
      returning 1
    ), letters as (
      insert into baton_dead_letters
        (group_id, topic, partition, "offset", key, value, headers, event_time, error, error_code, attempts)
      select ${group}, ${topic}, ${partition}, o, decode(k, 'hex'), decode(v, 'hex'), h::jsonb,
        to_timestamp(t / 1000.0), e, c, a
      from unnest(${l.offsets}::bigint[], ${l.keys}::text[], ${l.values}::text[], ${l.headers}::text[],
        ${l.times}::float8[], ${l.errors}::text[], ${l.codes}::text[], ${l.attempts}::int[])
        as u(o, k, v, h, t, e, c, a)
      where exists (select from moved)
      -- A letter for this offset is already stored (the offsets were processed again after a seek back).
      on conflict (group_id, topic, partition, "offset") do nothing
    )
    select count(*)::int as moved, pg_backend_pid() as pid from moved`
  return result?.moved === 1 ? result.pid : null
}

/**
 * Answers a batch whose watermark did not move: returns when this epoch already committed exactly this batch
 * (nothing to do), otherwise throws FENCED saying why the batch was refused.
 */
export async function refuse(tx: TransactionSql, batch: BatchCommit): Promise<void> {
  const { group, topic, partition } = batch.key
  const [row] = await tx<{ epoch: string; next_offset: string | null }[]>`
    select epoch, next_offset from baton_watermarks
    where group_id = ${group} and topic = ${topic} and partition = ${partition}`
  const where = describeKey(batch.key)
  if (!row) {
    throw new BatonError(
      'WATERMARK_MISMATCH',
      `Partition ${where} has no watermark row: nothing was applied; the actor restarts and claims it.`,
    )
  }
  const epoch = Number(row.epoch)
  const next = row.next_offset === null ? null : Number(row.next_offset)
  if (epoch === batch.epoch && next === batch.toOffset) return
  if (epoch > batch.epoch) {
    throw new BatonError(
      'FENCED',
      `Partition ${where} is owned by epoch ${epoch}; the batch of epoch ${batch.epoch} was refused and ` +
        'rolled back. Another actor took the partition: this one must stop.',
    )
  }
  if (epoch < batch.epoch) {
    throw new BatonError(
      'WATERMARK_MISMATCH',
      `Partition ${where} was never claimed by epoch ${batch.epoch} (it holds epoch ${epoch}): nothing was ` +
        'applied; the actor restarts and claims it.',
    )
  }
  throw new BatonError(
    'WATERMARK_MISMATCH',
    `Partition ${where} is at offset ${next ?? 'null (no progress yet)'}, but the batch of epoch ` +
      `${batch.epoch} starts at ${batch.fromOffset ?? 'null (first batch)'}: a duplicate or out-of-order batch, refused and rolled back. The actor ` +
      'restarts and resumes from the watermark.',
  )
}
