import { expect } from 'bun:test'
import { isBatonError } from '../../actors/core/errors.ts'
import { type ActorRef, ActorSystem, backoff } from '../../actors/core/index.ts'
import {
  type PartitionMsg,
  partitionActor,
  type ReleaseReply,
} from '../../actors/partition/partition-actor.ts'
import type { PartitionStatus } from '../../actors/partition/stats.ts'
import { definePipeline, type Pipeline, PoisonEventError } from '../../actors/pipeline.ts'
import type { Checkpoints, PartitionKey, Sink, SinkTx, SourceRecord } from '../../actors/ports.ts'
import type { QuarantineStore } from '../../actors/quarantine.ts'
import { MemoryPartition } from './memory-feed.ts'
import { testPartitionDeps } from './partition-deps.ts'
import { until } from './until.ts'

/** Writes each handled event's offset to `quarantine_test_applied`, in the order handled (`seq`). */
export function appliedPipeline(poison: Set<number>): Pipeline {
  return definePipeline({
    name: 'quarantine-test',
    onPoison: 'quarantine-key',
    migrations: {
      postgres: [
        `create table if not exists quarantine_test_applied
           (seq bigserial primary key, topic text not null, "offset" bigint not null)`,
      ],
      sqlite: [
        `create table if not exists quarantine_test_applied
           (seq integer primary key autoincrement, topic text not null, "offset" integer not null)`,
      ],
    },
    decode(record) {
      if (poison.has(record.offset)) throw new PoisonEventError(`offset ${record.offset} is poison (test)`)
      return record.offset
    },
    async handle(batch, tx) {
      const offsets = batch.events.map((e) => e.value as number)
      if (tx.kind === 'postgres') {
        await tx.sql`insert into quarantine_test_applied (topic, "offset")
                     select ${batch.topic}, o from unnest(${offsets}::bigint[]) as u(o)`
      } else {
        const insert = tx.db.prepare('insert into quarantine_test_applied (topic, "offset") values (?, ?)')
        for (const o of offsets) insert.run(batch.topic, o)
      }
    },
  }) as Pipeline
}

/** The offsets `appliedPipeline` handled for `topic`, in the order handled. */
export function applied(sink: Sink, topic: string): Promise<number[]> {
  return sink.read(async (tx: SinkTx) => {
    if (tx.kind === 'postgres') {
      const rows = await tx.sql<{ offset: string }[]>`
        select "offset" from quarantine_test_applied where topic = ${topic} order by seq`
      return rows.map((r) => Number(r.offset))
    }
    const rows = tx.db
      .prepare('select "offset" from quarantine_test_applied where topic = ? order by seq')
      .all(topic) as { offset: number }[]
    return rows.map((r) => r.offset)
  })
}

/**
 * Per-key quarantine against a real sink, through partition actors on the real clock: a poison payment
 * holds back its own key, a retry that fails changes nothing, a zombie's release is fenced, a new owner
 * loads the quarantine, a retry after the fix releases the key in offset order, a held poison event
 * becomes the key's new head letter on release, and a skip releases the rest. Nothing is applied twice.
 */
export async function quarantineScenario(
  sink: Sink & { readonly quarantine: QuarantineStore },
  checkpoints: Checkpoints,
  key: PartitionKey,
  poison: Set<number>,
): Promise<void> {
  const pipeline = appliedPipeline(poison)
  const feed = new MemoryPartition(key)
  const system = new ActorSystem({
    name: 'quarantine',
    onEvent: () => {},
    supervision: { decider: (err) => (isBatonError(err, 'FENCED') ? 'stop' : 'restart') },
  })
  let generation = 0
  const spawn = () =>
    system.spawn<PartitionMsg>(
      `p${generation++}`,
      partitionActor(
        testPartitionDeps({
          key,
          pipeline,
          sink,
          checkpoints,
          openFeed: () => feed.feed(),
          limits: { maxEvents: 50, maxBytes: 1_000_000, maxWaitMs: 20 },
          retry: backoff({ minMs: 10, maxMs: 10, jitter: 0 }),
          quarantine: { store: sink.quarantine, maxKeys: 100 },
        }),
      ),
    )
  const status = (ref: ActorRef<PartitionMsg>) =>
    ref.ask<PartitionStatus>((reply) => ({ type: 'status', reply }))
  const decide = async (ref: ActorRef<PartitionMsg>, k: string, outcome: 'retried' | 'skipped') => {
    const { entries } = await sink.quarantine.list({ topic: key.topic, partition: key.partition })
    const entry = entries.find((e) => e.key.toString() === k)
    if (!entry) throw new Error(`key ${k} is not quarantined (test)`)
    const letter = feed.records[await letterOffset(entry.deadLetterId)] as SourceRecord
    return ref.ask<ReleaseReply>((reply) => ({
      type: 'release',
      letterId: entry.deadLetterId,
      recordKey: Buffer.from(k),
      outcome,
      letter,
      reply,
    }))
  }
  // The letter's offset, as the HTTP route reads the letter from the sink.
  const letterOffset = (id: number) =>
    sink.read(async (tx) => {
      if (tx.kind === 'postgres') {
        const [row] = await tx.sql<
          { offset: string }[]
        >`select "offset" from baton_dead_letters where id = ${id}`
        return Number(row?.offset)
      }
      const row = tx.db.prepare('select "offset" from baton_dead_letters where id = ?').get(id) as {
        offset: number
      }
      return row.offset
    })
  const appliedNow = () => applied(sink, key.topic)
  const reaches = (what: string, want: number[]) =>
    until(what, 30_000, async () => {
      const got = await appliedNow()
      return got.length >= want.length ? got : undefined
    }).then((got) => expect(got).toEqual(want))

  try {
    const first = spawn()
    poison.add(1)
    feed.append(['{"pay":1}'], 'a') // 0
    feed.append(['{"pay":2}'], 'a') // 1: poison: quarantines a
    feed.append(['{"pay":3}'], 'b') // 2
    feed.append(['{"pay":4}'], 'a') // 3: held
    feed.append(['{"pay":5}'], 'b') // 4
    await reaches('the other key flows', [0, 2, 4])
    await until('a is held', 30_000, async () =>
      (await status(first)).quarantinedEvents === 1 ? true : undefined,
    )

    expect(await decide(first, 'a', 'retried')).toMatchObject({ status: 'failed' })

    // A new owner takes the partition while the first still runs: the first is a zombie now.
    const owner = spawn()
    await until('the new owner runs', 30_000, async () =>
      (await status(owner)).state === 'running' ? true : undefined,
    )
    expect(await status(owner)).toMatchObject({ quarantinedKeys: 1, quarantinedEvents: 1 })
    const refused = await decide(first, 'a', 'skipped').catch((err) => ({ status: (err as Error).name }))
    expect(['moved', 'BatonError']).toContain((refused as { status: string }).status)

    poison.delete(1) // the fix is deployed
    feed.append(['{"pay":6}'], 'a') // 5: held behind 3
    await until('5 is held', 30_000, async () =>
      (await status(owner)).quarantinedEvents === 2 ? true : undefined,
    )
    expect(await decide(owner, 'a', 'retried')).toMatchObject({ status: 'done', released: 2 })
    expect(await appliedNow()).toEqual([0, 2, 4, 1, 3, 5])
    await expect(decide(owner, 'a', 'retried')).rejects.toThrow('not quarantined')

    // A poison event held behind another: on release it becomes c's new head letter, 9 stays held.
    poison.add(6).add(8)
    feed.append(['{"pay":7}', '{"pay":8}', '{"pay":9}', '{"pay":10}'], 'c') // 6 to 9
    await until('c holds 3', 30_000, async () =>
      (await status(owner)).quarantinedEvents === 3 ? true : undefined,
    )
    const partly = await decide(owner, 'c', 'skipped')
    expect(partly).toMatchObject({ status: 'held', released: 1 })
    expect(await appliedNow()).toEqual([0, 2, 4, 1, 3, 5, 7])
    const { entries } = await sink.quarantine.list({ topic: key.topic })
    expect(entries).toHaveLength(1)
    expect(entries[0]).toMatchObject({ state: 'quarantined', events: 1 })
    expect(await decide(owner, 'c', 'skipped')).toMatchObject({ status: 'done', released: 1 })
    expect(await appliedNow()).toEqual([0, 2, 4, 1, 3, 5, 7, 9])
    expect((await sink.quarantine.list({ topic: key.topic })).entries).toEqual([])
    expect(await status(owner)).toMatchObject({
      quarantinedKeys: 0,
      quarantinedEvents: 0,
      committedOffset: 10,
    })
  } finally {
    await system.shutdown(10_000)
  }
}
