import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isBatonError } from '../actors/core/errors.ts'
import { loadPipeline } from './pipeline-loader.ts'

const dir = mkdtempSync(join(tmpdir(), 'baton-pipeline-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const pipelineApi = join(import.meta.dir, '..', 'actors', 'pipeline.ts')

function write(name: string, source: string): string {
  const file = join(dir, name)
  writeFileSync(file, source)
  return file
}

async function failure(path: string | undefined, sink: 'postgres' | 'sqlite' = 'sqlite') {
  try {
    await loadPipeline(path, sink)
  } catch (err) {
    return err
  }
  throw new Error('expected loadPipeline to fail')
}

describe('loadPipeline', () => {
  test('no BATON_PIPELINE: the built-in event store', async () => {
    expect((await loadPipeline(undefined, 'sqlite')).name).toBe('event-store')
  })

  test('a module exporting definePipeline as default', async () => {
    const file = write(
      'ok.ts',
      `import { definePipeline } from '${pipelineApi}'\nexport default definePipeline({ name: 'mine', handle() {} })\n`,
    )
    expect((await loadPipeline(file, 'postgres')).name).toBe('mine')
  })

  test('a missing file names the path', async () => {
    const err = await failure(join(dir, 'nope.ts'))
    expect(isBatonError(err, 'PIPELINE_INVALID')).toBe(true)
    expect((err as Error).message).toContain('nope.ts')
  })

  test('a module without handle says so', async () => {
    const file = write('nohandle.ts', `export default { name: 'x' }\n`)
    const err = await failure(file)
    expect((err as Error).message).toContain('handle(batch, tx)')
  })

  test('a PostgreSQL-only pipeline refuses embedded mode and says how to run it', async () => {
    const file = write(
      'pg.ts',
      `import { definePipeline } from '${pipelineApi}'\nexport default definePipeline({ name: 'pg', sinks: ['postgres'], handle() {} })\n`,
    )
    const err = await failure(file, 'sqlite')
    expect((err as Error).message).toContain('cluster mode')
  })
})
