import { afterEach, expect, test } from 'bun:test'
import { buildGoPeer, goPeerModules } from './go-peer.ts'

const path = process.env.PATH
afterEach(() => {
  process.env.PATH = path
})

test('without go on PATH, the go peer is skipped with a reason that says so, and nothing is built', async () => {
  process.env.PATH = '/nonexistent'
  const lines: string[] = []
  const build = await buildGoPeer((line) => lines.push(line))
  expect(build).toEqual({ skipped: expect.stringContaining('`go` is not on PATH') })
  expect(lines).toEqual([])
})

test('reads the versions of franz-go and pgx from the go peer go.mod', () => {
  expect(goPeerModules()).toMatchObject({
    'github.com/twmb/franz-go': expect.stringMatching(/^v1\./),
    'github.com/jackc/pgx/v5': expect.stringMatching(/^v5\./),
  })
})
