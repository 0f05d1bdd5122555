import { afterAll, expect, test } from 'bun:test'
import postgres from 'postgres'
import { serviceEnv } from '../../test/support/env.ts'
import { uniqueName } from '../../test/support/names.ts'
import { appliedPipeline, quarantineScenario } from '../../test/support/quarantine-scenario.ts'
import { eventStore } from '../event-store.ts'
import type { QuarantinedKey } from '../quarantine.ts'
import { createRedisCheckpoints } from '../redis/checkpoints.ts'
import { postgresQuarantine } from './quarantine.ts'
import { createPostgresSink } from './sink.ts'
import { postgresTarget } from './target.ts'
import { countingClients } from './testing.ts'

const topic = uniqueName('quarantine')
const group = uniqueName('g')
const sql = postgres(serviceEnv().DATABASE_URL, { max: 1, onnotice: () => {} })

afterAll(async () => {
  await sql`delete from quarantine_test_applied where topic = ${topic}`
  await sql`delete from baton_dead_letters where group_id = ${group}`
  await sql`delete from baton_watermarks where group_id = ${group}`
  await sql.end()
})

test('per-key quarantine in PostgreSQL: held, fenced, loaded by a new owner, released in order once', async () => {
  const poison = new Set<number>()
  const sink = await createPostgresSink({
    url: serviceEnv().DATABASE_URL,
    pipeline: appliedPipeline(poison),
    group,
  })
  const checkpoints = await createRedisCheckpoints({ url: serviceEnv().REDIS_URL })
  try {
    await quarantineScenario(sink, checkpoints, { group, topic, partition: 0 }, poison)
  } finally {
    await checkpoints.close()
    await sink.close()
  }
})

test('partitions starting together load their quarantined keys in one statement, each its own', async () => {
  // Created through the sink so the tables exist; rows written directly, as a previous owner left them.
  const sink = await createPostgresSink({ url: serviceEnv().DATABASE_URL, pipeline: eventStore, group })
  const { clients, statements } = countingClients()
  const store = postgresQuarantine(clients, group, postgresTarget(serviceEnv().DATABASE_URL), 30_000)
  const loadTopic = uniqueName('load')
  const at = (partition: number) => ({ group, topic: loadTopic, partition })
  try {
    await sql`
      insert into baton_quarantined_keys (group_id, topic, partition, key, dead_letter_id, state) values
        (${group}, ${loadTopic}, 0, ${Buffer.from('a')}, 7, 'quarantined'),
        (${group}, ${loadTopic}, 0, ${Buffer.from('b')}, 8, 'releasing'),
        (${group}, ${loadTopic}, 2, ${Buffer.from('a')}, 9, 'quarantined')`
    await sql`
      insert into baton_quarantine (group_id, topic, partition, "offset", key, event_time, dead_letter_id) values
        (${group}, ${loadTopic}, 0, 10, ${Buffer.from('a')}, now(), 7),
        (${group}, ${loadTopic}, 0, 11, ${Buffer.from('a')}, now(), 7),
        (${group}, ${loadTopic}, 2, 12, ${Buffer.from('a')}, now(), 9)`
    const before = statements()
    const [zero, one, two] = await Promise.all([0, 1, 2].map((p) => store.load(at(p))))
    expect(statements() - before).toBe(1)
    const byKey = (entries: QuarantinedKey[]) =>
      entries.map((e) => ({ ...e, key: e.key.toString() })).sort((x, y) => x.key.localeCompare(y.key))
    expect(byKey(zero ?? [])).toEqual([
      { key: 'a', state: 'quarantined', deadLetterId: 7, events: 2 },
      { key: 'b', state: 'releasing', deadLetterId: 8, events: 0 },
    ])
    expect(one).toEqual([])
    expect(byKey(two ?? [])).toEqual([{ key: 'a', state: 'quarantined', deadLetterId: 9, events: 1 }])
    // Alone, each load answers the same.
    expect(byKey(await store.load(at(0)))).toEqual(byKey(zero ?? []))
  } finally {
    await sql`delete from baton_quarantine where group_id = ${group}`
    await sql`delete from baton_quarantined_keys where group_id = ${group}`
    await clients.end(5)
    await sink.close()
  }
})
