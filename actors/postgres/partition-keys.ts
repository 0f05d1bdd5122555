import { describeKey, type PartitionKey, tpString } from '../ports.ts'

/**
 * Partition keys as parallel arrays, for one statement over many partitions:
 * `unnest(${groups}::text[], ${topics}::text[], ${partitions}::int[]) with ordinality as k(g, t, p, i)`,
 * where `i` (from 1) says which key a row answers.
 */
export function keyColumns(keys: readonly PartitionKey[]) {
  return {
    groups: keys.map((k) => k.group),
    topics: keys.map((k) => k.topic),
    partitions: keys.map((k) => k.partition),
  }
}

/** A key's identity, for maps and for `coalesce`'s one-call-per-key batches. */
export const keyString = (key: PartitionKey): string => `${key.group}\u0000${tpString(key)}`

/** What an error names: the partition, or how many there were. */
export function describeKeys(keys: readonly PartitionKey[]): string {
  return keys.length === 1 ? describeKey(keys[0] as PartitionKey) : `${keys.length} partitions`
}

/** Rows that carry the ordinality `i` of the key they answer, sorted out per key, in the order they came. */
export function rowsPerKey<R extends { i: string | number }>(count: number, rows: readonly R[]): R[][] {
  const answers: R[][] = Array.from({ length: count }, () => [])
  for (const row of rows) answers[Number(row.i) - 1]?.push(row)
  return answers
}
