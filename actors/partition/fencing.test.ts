import { afterAll, expect, test } from 'bun:test'
import postgres from 'postgres'
import { serviceEnv } from '../../test/support/env.ts'
import { MemoryPartition } from '../../test/support/memory-feed.ts'
import { uniqueName } from '../../test/support/names.ts'
import { ActorSystem } from '../core/index.ts'
import { eventStore } from '../event-store.ts'
import type { Pipeline } from '../pipeline.ts'
import { createPostgresSink, type PostgresSink } from '../postgres/index.ts'
import { createRedisCheckpoints, type RedisCheckpoints } from '../redis/checkpoints.ts'
import { noObserver } from './observer.ts'
import { type PartitionActorDeps, type PartitionMsg, partitionActor } from './partition-actor.ts'
import { PartitionStats, type PartitionStatus } from './stats.ts'

const topic = uniqueName('t')
const group = uniqueName('g')
const key = { group, topic, partition: 0 }
const sql = postgres(serviceEnv().DATABASE_URL, { max: 1, onnotice: () => {} })
let sink: PostgresSink
let checkpoints: RedisCheckpoints

afterAll(async () => {
  await sql`delete from baton_events where topic = ${topic}`
  await sql`delete from baton_watermarks where group_id = ${group}`
  await sql.end()
  await sink?.close()
  await checkpoints?.close()
})

test('two actors for one partition: the older epoch is fenced and stops; only the newer one commits', async () => {
  sink = await createPostgresSink({ url: serviceEnv().DATABASE_URL, pipeline: eventStore as Pipeline, group })
  checkpoints = await createRedisCheckpoints({ url: serviceEnv().REDIS_URL })
  const partition = new MemoryPartition({ topic, partition: 0 })
  const deps = (stats: PartitionStats): PartitionActorDeps<unknown> => ({
    key,
    pipeline: eventStore as Pipeline,
    sink,
    checkpoints,
    openFeed: () => partition.feed(),
    deadLetters: null,
    limits: { maxEvents: 10, maxBytes: 1e6, maxWaitMs: 20 },
    maxRetries: 0,
    stats,
    observer: noObserver,
  })
  const system = new ActorSystem({ name: 'fencing', onEvent: () => {} })
  const oldStats = new PartitionStats()
  const newStats = new PartitionStats()
  const status = (ref: ReturnType<typeof system.spawn<PartitionMsg>>) =>
    ref.ask<PartitionStatus>((reply) => ({ type: 'status', reply }))

  // The old owner takes the partition and commits the first events.
  const old = system.spawn<PartitionMsg>('old', partitionActor(deps(oldStats)), { restart: 'temporary' })
  partition.append(Array.from({ length: 10 }, (_, i) => JSON.stringify({ i })))
  await waitFor(async () => (await status(old)).committedOffset === 10)
  // It freezes (a paused process): its feed stops delivering, so nothing reaches it for now.
  old.tell({ type: 'pause' })
  await status(old)

  // A new owner takes the partition with a higher epoch and goes on from the watermark.
  const fresh = system.spawn<PartitionMsg>('new', partitionActor(deps(newStats)), { restart: 'temporary' })
  await waitFor(async () => (await status(fresh)).state === 'running')
  expect(newStats.epoch).toBeGreaterThan(oldStats.epoch)
  partition.append(Array.from({ length: 10 }, (_, i) => JSON.stringify({ i: 10 + i })))
  await waitFor(async () => (await status(fresh)).committedOffset === 20)

  // The zombie wakes up and tries to commit what it now receives: refused, and it stops as fenced.
  old.tell({ type: 'resume' })
  await waitFor(async () => old.snapshot().status === 'stopped')
  expect(oldStats.fencedCommits).toBe(1)
  expect(oldStats.lastError?.code).toBe('FENCED')
  expect(fresh.snapshot().status).toBe('running')

  const rows = await sql<{ offset: string; epoch: string }[]>`
    select e."offset"::text, w.epoch::text from baton_events e
    join baton_watermarks w on w.topic = e.topic and w.group_id = ${group}
    where e.topic = ${topic} order by e."offset"`
  expect(rows.map((r) => Number(r.offset))).toEqual(Array.from({ length: 20 }, (_, i) => i))
  expect(Number(rows[0]?.epoch)).toBe(newStats.epoch)
  await system.shutdown(5_000)
}, 30_000)

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await Bun.sleep(20)
  }
  throw new Error(`condition not met within ${timeoutMs} ms`)
}
