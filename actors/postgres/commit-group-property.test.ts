/**
 * Grouped commits under random interleavings (fast-check), against the real PostgreSQL: two nodes' sinks
 * commit batches of many partitions at once, partitions move between them (a newer epoch claims the row)
 * while the old owner, now a zombie, goes on committing. Whatever the grouping, every owner's batch
 * commits, every zombie's is FENCED, and each partition's rows are its offsets from 0, once each, in
 * offset order. Some partitions' pipelines are copy-only (rows through tx.copy): groups of those alone
 * commit without savepoints, mixed groups with them.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import fc from 'fast-check'
import { serviceEnv } from '../../test/support/env.ts'
import { uniqueName } from '../../test/support/names.ts'
import { isBatonError } from '../core/errors.ts'
import { eventStore } from '../event-store.ts'
import type { PartitionKey } from '../ports.ts'
import { createPostgresSink, type PostgresSink } from './sink.ts'
import { record, storedOffsets, storeEvents, testDatabase, watermark } from './testing.ts'

const db = testDatabase()
const keys: PartitionKey[] = []
/** What the batches write: a row per offset, numbered in the order the rows were written. */
const table = uniqueName('gc_rows')

beforeAll(async () => {
  await db.sql.unsafe(
    `create table ${table} (seq bigserial primary key, topic text not null, partition int not null, "offset" bigint not null)`,
  )
})

afterAll(async () => {
  await db.sql.unsafe(`drop table if exists ${table}`)
  await db.cleanup(keys)
})

/** One partition's actor on one node: its epoch and the watermark it believes in. */
interface Actor {
  readonly key: PartitionKey
  readonly node: number
  readonly epoch: number
  readonly copyOnly: boolean
  next: number | null
  fenced: boolean
}

const wave = fc.record({
  /** Partitions whose owner commits a batch of `size` events in this wave (all at once). */
  moves: fc.array(fc.record({ partition: fc.nat(7), size: fc.integer({ min: 1, max: 4 }) }), {
    maxLength: 12,
  }),
  /** A partition the other node takes over before the wave: its owner becomes a zombie. */
  takeover: fc.option(fc.nat(7), { nil: undefined }),
})

const scenario = fc.record({
  partitions: fc.integer({ min: 2, max: 8 }),
  /** Partitions whose pipeline is copy-only (the event store's kind: rows through tx.copy, no statement). */
  copyOnly: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
  maxBatches: fc.integer({ min: 1, max: 5 }),
  maxInFlight: fc.integer({ min: 1, max: 2 }),
  waves: fc.array(wave, { minLength: 1, maxLength: 8 }),
})

test('random interleavings of many partitions, with zombies of older epochs: nothing lost or doubled, order kept per partition', async () => {
  await fc.assert(
    fc.asyncProperty(scenario, async ({ partitions, copyOnly, maxBatches, maxInFlight, waves }) => {
      const group = uniqueName('g')
      const topic = uniqueName('t')
      const sinks: PostgresSink[] = []
      try {
        for (let node = 0; node < 2; node++) {
          sinks.push(
            await createPostgresSink({
              url: serviceEnv().DATABASE_URL,
              pipeline: eventStore,
              group,
              grouping: { maxBatches, maxInFlight },
            }),
          )
        }
        const owners: Actor[] = []
        const zombies: Actor[] = []
        for (let partition = 0; partition < partitions; partition++) {
          const key = { group, topic, partition }
          keys.push(key)
          owners.push(await claim(sinks, key, 0, 1, copyOnly[partition] === true))
        }
        for (const { moves, takeover } of waves) {
          if (takeover !== undefined) {
            const old = owners[takeover % partitions] as Actor
            zombies.push(old)
            owners[takeover % partitions] = await claim(
              sinks,
              old.key,
              1 - old.node,
              old.epoch + 1,
              old.copyOnly,
            )
          }
          // Each actor commits at most one batch at a time, as a partition actor does.
          const batches = new Map<Actor, number>()
          for (const m of moves) batches.set(owners[m.partition % partitions] as Actor, m.size)
          for (const z of zombies) if (!z.fenced) batches.set(z, 1)
          await Promise.all(
            [...batches].map(([actor, size]) => commit(sinks[actor.node] as PostgresSink, actor, size)),
          )
          // An owner's batch always commits, a zombie's never.
          for (const [actor] of batches) {
            const { partition } = actor.key
            expect({ partition, epoch: actor.epoch, fenced: actor.fenced }).toEqual({
              partition,
              epoch: actor.epoch,
              fenced: zombies.includes(actor),
            })
          }
        }
        for (const owner of owners) {
          const rows = owner.copyOnly
            ? await storedOffsets(db.sql, owner.key)
            : (
                await db.sql<{ offset: string }[]>`
                  select "offset" from ${db.sql(table)} where topic = ${topic} and partition = ${owner.key.partition}
                  order by seq`
              ).map((r) => Number(r.offset))
          const end = owner.next ?? 0
          expect(rows).toEqual(Array.from({ length: end }, (_, o) => o))
          expect(await watermark(db.sql, owner.key)).toEqual({ nextOffset: owner.next, epoch: owner.epoch })
        }
      } finally {
        for (const sink of sinks) await sink.close()
      }
    }),
    { numRuns: 25 },
  )
}, 120_000)

async function claim(
  sinks: PostgresSink[],
  key: PartitionKey,
  node: number,
  epoch: number,
  copyOnly: boolean,
): Promise<Actor> {
  const next = await (sinks[node] as PostgresSink).claim(key, epoch)
  return { key, node, epoch, copyOnly, next, fenced: false }
}

/** Commits the actor's next `size` offsets; FENCED marks it fenced, anything else fails the property. */
async function commit(sink: PostgresSink, actor: Actor, size: number): Promise<void> {
  const from = actor.next ?? 0
  const offsets = Array.from({ length: size }, (_, i) => from + i)
  try {
    await sink.commit({
      key: actor.key,
      epoch: actor.epoch,
      fromOffset: actor.next,
      toOffset: from + size,
      deadLetters: [],
      ...(actor.copyOnly
        ? { copyOnly: true, work: storeEvents(offsets.map((o) => record(actor.key, o))) }
        : {
            work: async (tx) => {
              if (tx.kind !== 'postgres') return
              await tx.sql`
                insert into ${tx.sql(table)} (topic, partition, "offset")
                select ${actor.key.topic}, ${actor.key.partition}, o from unnest(${offsets}::bigint[]) as o`
            },
          }),
    })
    actor.next = from + size
  } catch (err) {
    if (!isBatonError(err, 'FENCED')) throw err
    actor.fenced = true
  }
}
