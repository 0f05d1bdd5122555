import { describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Admin } from '@platformatic/kafka'
import { clientOptions } from '../../actors/kafka/kafka-client.ts'
import { runBaton } from '../../deploy/local/node-process.ts'
import { freeLoopbackPort } from '../../deploy/local/ports.ts'
import { kafkaBrokers, serviceEnv } from '../support/env.ts'
import { uniqueName } from '../support/names.ts'

const root = join(import.meta.dir, '..', '..')

/** Runs `baton start` over the test services to its exit; start-up failures must end it with a message. */
function start(env: Record<string, string>): Promise<{ code: number; output: string }> {
  return runBaton({ ...serviceEnv(), ...env })
}

async function topicExists(topic: string): Promise<boolean> {
  const admin = new Admin(clientOptions('start-up-test', kafkaBrokers()))
  try {
    return (await admin.listTopics()).includes(topic)
  } finally {
    await admin.close()
  }
}

describe('baton start refuses a broken set-up with a clear message and a non-zero exit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-start-'))

  test('a BATON_PIPELINE path that does not exist', async () => {
    const { code, output } = await start({
      BATON_PIPELINE: './no/such/pipeline.ts',
      BATON_TOPICS: uniqueName('t'),
    })
    expect(code).not.toBe(0)
    expect(output).toContain('BATON_PIPELINE')
    expect(output).toContain('no/such/pipeline.ts')
  })

  test('a pipeline module without handle', async () => {
    const file = join(dir, 'no-handle.ts')
    writeFileSync(file, "export default { name: 'broken' }\n")
    const { code, output } = await start({ BATON_PIPELINE: file, BATON_TOPICS: uniqueName('t') })
    expect(code).not.toBe(0)
    expect(output).toContain('handle(batch, tx)')
  })

  test('a pipeline whose PostgreSQL migration is invalid: MIGRATION_FAILED naming it, and no topic created', async () => {
    const file = join(dir, 'bad-migration.ts')
    writeFileSync(
      file,
      `import { definePipeline } from '${join(root, 'actors/pipeline.ts')}'\n` +
        "export default definePipeline({ name: 'bad-migration', migrations: { postgres: ['create tabel oops (id int)'] }, async handle() {} })\n",
    )
    const topic = uniqueName('t')
    const { code, output } = await start({ BATON_PIPELINE: file, BATON_TOPICS: topic })
    expect(code).not.toBe(0)
    expect(output).toContain('[MIGRATION_FAILED]')
    expect(output).toContain("pipeline 'bad-migration' migration 1")
    expect(await topicExists(topic)).toBe(false)
  }, 90_000)

  test('an HTTP port another process holds: LISTEN_FAILED naming the port, before any service is touched', async () => {
    const holder = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response('taken') })
    const topic = uniqueName('t')
    try {
      const { code, output } = await start({ BATON_TOPICS: topic, BATON_HTTP_PORT: String(holder.port) })
      expect(code).not.toBe(0)
      expect(output).toContain('[LISTEN_FAILED]')
      expect(output).toContain(`127.0.0.1:${holder.port}`)
      expect(output).toContain('BATON_HTTP_PORT')
    } finally {
      await holder.stop(true)
    }
    // Topics are created before the node joins its group: without one, no partition was taken.
    expect(await topicExists(topic)).toBe(false)
  }, 90_000)

  test('an unreachable PostgreSQL: named without its password, and no topic created', async () => {
    const topic = uniqueName('t')
    const port = await freeLoopbackPort()
    const { code, output } = await start({
      BATON_TOPICS: topic,
      DATABASE_URL: `postgres://baton:s3cret-pw@127.0.0.1:${port}/baton`,
    })
    expect(code).not.toBe(0)
    expect(output).toContain(`127.0.0.1:${port}`)
    expect(output).not.toContain('s3cret-pw')
    expect(await topicExists(topic)).toBe(false)
    rmSync(dir, { recursive: true, force: true })
  }, 90_000)

  test('an unreachable Redis: named, and nothing created', async () => {
    const topic = uniqueName('t')
    const port = await freeLoopbackPort()
    const { code, output } = await start({ BATON_TOPICS: topic, REDIS_URL: `redis://127.0.0.1:${port}` })
    expect(code).not.toBe(0)
    expect(output).toContain(`127.0.0.1:${port}`)
    expect(await topicExists(topic)).toBe(false)
  }, 90_000)

  test('BATON_CREATE_TOPICS=false and a topic that does not exist: named, and nothing created', async () => {
    const topic = uniqueName('t')
    const { code, output } = await start({ BATON_TOPICS: topic, BATON_CREATE_TOPICS: 'false' })
    expect(code).not.toBe(0)
    expect(output).toContain('[PREREQUISITE_MISSING]')
    expect(output).toContain(`has no topic ${topic}, ${topic}.dlq`)
    expect(await topicExists(topic)).toBe(false)
  }, 90_000)

  test('a malformed configuration lists every bad variable at once', async () => {
    const { code, output } = await start({
      BATON_PARTITIONS: 'many',
      BATON_BATCH_MAX_EVENTS: '0',
      REDIS_URL: 'http://x',
    })
    expect(code).not.toBe(0)
    for (const name of ['BATON_PARTITIONS', 'BATON_BATCH_MAX_EVENTS', 'REDIS_URL'])
      expect(output).toContain(name)
  })
})
