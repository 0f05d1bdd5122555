import { afterAll, test } from 'bun:test'
import postgres from 'postgres'
import { serviceEnv } from '../../test/support/env.ts'
import { uniqueName } from '../../test/support/names.ts'
import { quarantineProperty } from '../../test/support/quarantine-property.ts'
import { applied, appliedPipeline } from '../../test/support/quarantine-scenario.ts'
import { createRedisCheckpoints } from '../redis/checkpoints.ts'
import { createPostgresSink } from './sink.ts'

const group = uniqueName('g')
const topics: string[] = []
const sql = postgres(serviceEnv().DATABASE_URL, { max: 1, onnotice: () => {} })

afterAll(async () => {
  await sql`delete from quarantine_test_applied where topic = any(${topics})`
  await sql`delete from baton_dead_letters where group_id = ${group}`
  await sql`delete from baton_watermarks where group_id = ${group}`
  await sql.end()
})

test('property on PostgreSQL: each key gets its events once, in offset order, without the skipped', async () => {
  await quarantineProperty(
    async () => {
      const topic = uniqueName('quarantine')
      topics.push(topic)
      const sink = await createPostgresSink({
        url: serviceEnv().DATABASE_URL,
        pipeline: appliedPipeline(new Set()),
        group,
        max: 2,
      })
      const checkpoints = await createRedisCheckpoints({ url: serviceEnv().REDIS_URL })
      return {
        key: { group, topic, partition: 0 },
        sink,
        store: sink.quarantine,
        checkpoints,
        realIo: true,
        pipeline: appliedPipeline,
        applied: () => applied(sink, topic),
        letter: async (id) => {
          const [letter] = await sink.deadLetters.get([id])
          if (!letter) throw new Error(`no dead letter ${id} (test)`)
          return letter.record
        },
        close: async () => {
          await checkpoints.close()
          await sink.close()
        },
      }
    },
    { numRuns: 20, maxOps: 20 },
  )
}, 300_000)
