import { afterAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runBaton } from '../../deploy/local/node-process.ts'

const dir = mkdtempSync(join(tmpdir(), 'baton-embedded-start-'))
// Embedded mode creates this folder when it opens its log: still missing after a refusal, nothing was taken.
const dataDir = join(dir, 'data')

afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('embedded baton start refuses a broken set-up at once, with the reason and a non-zero exit', () => {
  test('an HTTP port another process holds: LISTEN_FAILED naming the port, before the log is opened', async () => {
    const holder = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response('taken') })
    try {
      const { code, output } = await runBaton({
        BATON_DATA_DIR: dataDir,
        BATON_HTTP_PORT: String(holder.port),
      })
      expect(code).not.toBe(0)
      expect(output).toContain('[LISTEN_FAILED]')
      expect(output).toContain(`127.0.0.1:${holder.port}`)
      expect(output).toContain('BATON_HTTP_PORT')
      expect(existsSync(dataDir)).toBe(false)
    } finally {
      await holder.stop(true)
    }
  }, 90_000)

  test('a BATON_PIPELINE module that does not exist', async () => {
    const { code, output } = await runBaton({
      BATON_DATA_DIR: dataDir,
      BATON_PIPELINE: './no/such/pipeline.ts',
    })
    expect(code).not.toBe(0)
    expect(output).toContain('[PIPELINE_INVALID]')
    expect(output).toContain('no/such/pipeline.ts')
    expect(existsSync(dataDir)).toBe(false)
  }, 90_000)

  test('a pipeline module that throws at import, after leaving a timer running', async () => {
    // A module that opened something (a client, a timer) before it failed must not keep the process alive.
    const file = join(dir, 'throws-at-import.ts')
    writeFileSync(
      file,
      "setInterval(() => {}, 1_000)\nthrow new Error('PRICING_API_URL is not set')\nexport default {}\n",
    )
    const { code, output } = await runBaton({ BATON_DATA_DIR: dataDir, BATON_PIPELINE: file })
    expect(code).not.toBe(0)
    expect(output).toContain('[PIPELINE_INVALID]')
    expect(output).toContain('PRICING_API_URL is not set')
    expect(existsSync(dataDir)).toBe(false)
  }, 90_000)
})
