import { afterAll, expect, test } from 'bun:test'
import postgres from 'postgres'
import { serviceEnv } from '../../test/support/env.ts'
import { MemoryPartition } from '../../test/support/memory-feed.ts'
import { uniqueName } from '../../test/support/names.ts'
import { until } from '../../test/support/until.ts'
import { BatonError } from '../core/errors.ts'
import { ActorSystem } from '../core/index.ts'
import { eventStore } from '../event-store.ts'
import type { Pipeline } from '../pipeline.ts'
import { createPostgresSink, type PostgresSink } from '../postgres/index.ts'
import { createRedisCheckpoints, type RedisCheckpoints } from '../redis/checkpoints.ts'
import { noObserver } from './observer.ts'
import { type PartitionMsg, partitionActor } from './partition-actor.ts'
import type { PartitionStatus } from './stats.ts'
import { PartitionStats } from './stats.ts'

const topic = uniqueName('t')
const group = uniqueName('g')
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

test('a restarted partition actor skips nothing: records its failed instance left in the mailbox are fetched again', async () => {
  sink = await createPostgresSink({ url: serviceEnv().DATABASE_URL, pipeline: eventStore as Pipeline, group })
  checkpoints = await createRedisCheckpoints({ url: serviceEnv().REDIS_URL })
  // The sink refuses the first commit as unreachable; with no outage allowed, the actor fails at once and
  // its supervisor restarts it, while the next records already wait in its mailbox.
  let refusals = 1
  const flaky = new Proxy(sink, {
    get(target, name) {
      if (name === 'commit')
        return async (...args: Parameters<PostgresSink['commit']>) => {
          if (refusals-- > 0)
            throw new BatonError('SINK_UNAVAILABLE', 'PostgreSQL away for one commit (test)')
          return target.commit(...args)
        }
      const value = Reflect.get(target, name, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  const partition = new MemoryPartition({ topic, partition: 0 })
  const stats = new PartitionStats()
  const system = new ActorSystem({ name: 'restart', onEvent: () => {} })
  const actor = system.spawn<PartitionMsg>(
    'p0',
    partitionActor({
      key: { group, topic, partition: 0 },
      pipeline: eventStore as Pipeline,
      sink: flaky,
      checkpoints,
      openFeed: () => partition.feed(),
      deadLetters: null,
      limits: { maxEvents: 10, maxBytes: 1e6, maxWaitMs: 20 },
      maxRetries: 0,
      sinkOutageMs: 0,
      stats,
      observer: noObserver,
    }),
    { restart: 'permanent' },
  )
  const status = () => actor.ask<PartitionStatus>((reply) => ({ type: 'status', reply }))
  await until('the actor running', 10_000, async () =>
    (await status()).state === 'running' ? true : undefined,
  )
  const firstEpoch = stats.epoch

  // Two deliveries, queued before the actor handles the first: offsets 0-9 (a full batch, whose commit
  // is refused) and 10-19 (left in the mailbox when the actor fails).
  partition.append(Array.from({ length: 10 }, (_, i) => JSON.stringify({ i })))
  partition.append(Array.from({ length: 10 }, (_, i) => JSON.stringify({ i: 10 + i })))
  await until('20 events committed', 20_000, async () =>
    (await status()).committedOffset === 20 ? true : undefined,
  )
  expect(refusals).toBeLessThan(0)
  // It was restarted: the new instance claimed the partition with a new epoch.
  expect(stats.epoch).toBeGreaterThan(firstEpoch)
  const rows = await sql<{ offset: string }[]>`
    select e."offset"::text from baton_events e where e.topic = ${topic} order by e."offset"`
  expect(rows.map((r) => Number(r.offset))).toEqual(Array.from({ length: 20 }, (_, i) => i))
  await system.shutdown(5_000)
}, 30_000)
