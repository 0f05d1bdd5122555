import type { Sql } from 'postgres'
import { coalesce } from '../core/coalesce.ts'
import { BatonError } from '../core/errors.ts'
import { describeKey, type PartitionKey } from '../ports.ts'
import { toSinkError } from './classify-error.ts'
import type { PostgresClients } from './clients.ts'
import { describeKeys, keyColumns, keyString } from './partition-keys.ts'
import type { PostgresTarget } from './target.ts'

/** The sink's `storedEpoch` and `claim`, each batched over the partitions that ask in the same tick. */
export interface PartitionClaims {
  storedEpoch(key: PartitionKey): Promise<number | null>
  claim(key: PartitionKey, epoch: number): Promise<number | null>
}

/**
 * A node that takes thousands of partitions at once reads their epochs and claims their watermark rows in
 * one statement per batch (unnest of arrays), not one per partition; each partition still gets its own
 * answer, exactly as a claim of it alone would have given (FENCED, WATERMARK_MISMATCH, the next offset).
 */
export function partitionClaims(
  clients: PostgresClients,
  target: PostgresTarget,
  deadlineMs: number,
): PartitionClaims {
  const storedEpoch = coalesce(
    async (keys: readonly PartitionKey[]) => {
      try {
        return await clients.run((sql) => storedEpochs(sql, keys), deadlineMs)
      } catch (err) {
        throw toSinkError(err, target, `reading the epoch of ${describeKeys(keys)}`)
      }
    },
    { identity: keyString },
  )
  const claim = coalesce<Claim, number | null>(
    async (claims: readonly Claim[]) => {
      try {
        return await clients.run((sql) => claimAll(sql, claims), deadlineMs)
      } catch (err) {
        throw toSinkError(err, target, `claiming ${describeKeys(claims.map((c) => c.key))}`)
      }
    },
    // One statement may not update a row twice.
    { identity: (c) => keyString(c.key) },
  )
  return { storedEpoch, claim: (key, epoch) => claim({ key, epoch }) }
}

interface Claim {
  readonly key: PartitionKey
  readonly epoch: number
}

async function storedEpochs(sql: Sql, keys: readonly PartitionKey[]): Promise<(number | null)[]> {
  const c = keyColumns(keys)
  const rows = await sql<{ i: string; epoch: string | null }[]>`
    select k.i, w.epoch
    from unnest(${c.groups}::text[], ${c.topics}::text[], ${c.partitions}::int[]) with ordinality as k(g, t, p, i)
    left join baton_watermarks w on w.group_id = k.g and w.topic = k.t and w.partition = k.p`
  const epochs: (number | null)[] = keys.map(() => null)
  for (const row of rows) if (row.epoch !== null) epochs[Number(row.i) - 1] = Number(row.epoch)
  return epochs
}

/**
 * Takes each watermark row for its epoch if no newer epoch holds it, in one statement; creates the row
 * (without progress) for a partition never seen. Rows are locked in (topic, partition) order, the same in
 * every batch, so two nodes claiming overlapping partitions wait for each other instead of deadlocking.
 * A claim that did not apply gets FENCED when a newer epoch owns the row, WATERMARK_MISMATCH when this
 * epoch already claimed it (an epoch is claimed once), read after the statement as a single claim does.
 */
async function claimAll(sql: Sql, claims: readonly Claim[]): Promise<(number | null | BatonError)[]> {
  const c = keyColumns(claims.map((claim) => claim.key))
  const epochs = claims.map((claim) => claim.epoch)
  const claimed = await sql<
    { group_id: string; topic: string; partition: number; next_offset: string | null }[]
  >`
    insert into baton_watermarks (group_id, topic, partition, next_offset, epoch, updated_at)
    select g, t, p, null, e, now()
    from unnest(${c.groups}::text[], ${c.topics}::text[], ${c.partitions}::int[], ${epochs}::bigint[])
      as u(g, t, p, e)
    order by t, p
    on conflict (group_id, topic, partition) do update set epoch = excluded.epoch, updated_at = now()
      where baton_watermarks.epoch < excluded.epoch
    returning group_id, topic, partition, next_offset`
  const offsets = new Map<string, number | null>()
  for (const row of claimed) {
    const key = { group: row.group_id, topic: row.topic, partition: row.partition }
    offsets.set(keyString(key), row.next_offset === null ? null : Number(row.next_offset))
  }
  const refused = claims.filter((claim) => !offsets.has(keyString(claim.key)))
  const held =
    refused.length === 0
      ? []
      : await storedEpochs(
          sql,
          refused.map((claim) => claim.key),
        )
  return claims.map((claim) => {
    const at = refused.indexOf(claim)
    return at < 0 ? (offsets.get(keyString(claim.key)) ?? null) : refusal(claim, held[at] ?? null)
  })
}

function refusal({ key, epoch }: Claim, held: number | null): BatonError {
  if (held === epoch) {
    return new BatonError(
      'WATERMARK_MISMATCH',
      `Partition ${describeKey(key)} is already claimed by epoch ${epoch}: an epoch is claimed once. ` +
        'The actor restarts with a new epoch.',
    )
  }
  return new BatonError(
    'FENCED',
    `Partition ${describeKey(key)} is owned by epoch ${held}, newer than this actor's ${epoch}: ` +
      'another actor took the partition, so this one must stop.',
  )
}
