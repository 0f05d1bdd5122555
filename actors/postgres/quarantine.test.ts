import { afterAll, test } from 'bun:test'
import postgres from 'postgres'
import { serviceEnv } from '../../test/support/env.ts'
import { uniqueName } from '../../test/support/names.ts'
import { appliedPipeline, quarantineScenario } from '../../test/support/quarantine-scenario.ts'
import { createRedisCheckpoints } from '../redis/checkpoints.ts'
import { createPostgresSink } from './sink.ts'

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
