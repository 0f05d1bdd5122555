import { describe, expect, test } from 'bun:test'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import pkg from '../../package.json'

const root = join(import.meta.dir, '..', '..')
const dockerfile = readFileSync(join(root, 'deploy', 'Dockerfile'), 'utf8')
const dockerignore = readFileSync(join(root, 'deploy', 'Dockerfile.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'))

/** The Dockerfile's instructions, continuation lines joined and comments dropped, split into stages. */
function stages(): { from: string; lines: string[] }[] {
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
  const result: { from: string; lines: string[] }[] = []
  for (const line of instructions) {
    if (line.startsWith('FROM ')) result.push({ from: line.slice(5), lines: [] })
    else result.at(-1)?.lines.push(line)
  }
  return result
}

/** Where the CLI lists its sub-commands, each loaded by a dynamic import when it runs. */
const commandIndex = 'runtime/cli/commands/index.ts'

/**
 * Every file `baton <command>` can load for the given commands, following static and literal dynamic
 * imports from the CLI's entry point, and every package those files import. In the command index only the
 * given commands' imports are followed: loading another sub-command is a plugin load that these runs
 * never make.
 */
function importGraph(commands: readonly string[]): { files: Set<string>; packages: Set<string> } {
  const transpiler = new Bun.Transpiler({ loader: 'ts' })
  const files = new Set<string>()
  const packages = new Set<string>()
  const pending = [resolve(root, 'runtime/cli/baton.ts')]
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (files.has(file)) continue
    files.add(file)
    if (!file.endsWith('.ts')) continue
    const inIndex = relative(root, file) === commandIndex
    for (const { path, kind } of transpiler.scanImports(withoutShebang(readFileSync(file, 'utf8')))) {
      if (inIndex && kind === 'dynamic-import' && !commands.some((c) => path === `./${c}.ts`)) continue
      if (path.startsWith('.')) {
        const target = resolve(dirname(file), path)
        if (!existsSync(target))
          throw new Error(`${relative(root, file)} imports ${path}, which does not exist`)
        pending.push(target)
      } else if (!path.startsWith('node:') && !path.startsWith('bun:') && path !== 'bun') {
        const parts = path.split('/')
        packages.add(path.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string))
      }
    }
  }
  return { files: new Set([...files].map((f) => relative(root, f))), packages }
}

// The CLI's entry point starts with `#!/usr/bin/env bun`, which the transpiler does not accept.
const withoutShebang = (source: string) => source.replace(/^#!.*/, '')

describe('deploy/Dockerfile', () => {
  const all = stages()
  const final = all.at(-1) as { from: string; lines: string[] }

  test('multi-stage, every stage on the Bun image, dependencies installed for production only', () => {
    expect(all.length).toBeGreaterThanOrEqual(2)
    for (const stage of all) expect(stage.from).toStartWith('oven/bun:')
    const installs = all.flatMap((s) => s.lines).filter((l) => /\bbun install\b/.test(l))
    expect(installs.length).toBeGreaterThan(0)
    for (const install of installs) expect(install).toContain('--production')
    expect(final.lines.filter((l) => l.startsWith('RUN '))).toEqual([])
    expect(final.lines).toContainEqual(expect.stringMatching(/^COPY --from=deps \/app\/node_modules /))
  })

  test('the final stage runs as a numeric non-root user', () => {
    const user = final.lines.filter((l) => l.startsWith('USER ')).at(-1)
    const uid = Number(user?.slice(5).split(':')[0])
    expect(uid).toBeGreaterThan(0)
  })

  test('copies every file `baton start` and `baton produce` load, and every package they load is a production dependency', () => {
    const copied = final.lines
      .filter((l) => l.startsWith('COPY ') && !l.includes('--from='))
      .flatMap((l) => l.slice(5).split(/\s+/).slice(0, -1))
    const { files, packages } = importGraph(['start', 'produce'])
    const missing = [...files].filter(
      (f) => f.endsWith('.test.ts') || !copied.some((src) => f === src || f.startsWith(`${src}/`)),
    )
    expect(missing).toEqual([])
    const dependencies = Object.keys(pkg.dependencies)
    expect([...packages].filter((p) => !dependencies.includes(p))).toEqual([])
  })

  test('`baton start` and `baton produce` load nothing under bench/ or deploy/local/, so the image leaves them out', () => {
    const { files } = importGraph(['start', 'produce'])
    // The walk reached the sub-commands and what they import lazily in turn (the cluster backend).
    for (const file of [
      'runtime/cli/commands/start.ts',
      'runtime/cli/commands/produce.ts',
      'runtime/backends/cluster.ts',
    ])
      expect(files).toContain(file)
    expect([...files].filter((f) => f.startsWith('bench/') || f.startsWith('deploy/local/'))).toEqual([])
    const copied = final.lines.filter((l) => l.startsWith('COPY ')).join('\n')
    expect(copied).not.toMatch(/\b(bench|deploy\/local)\b/)
  })

  test('its .dockerignore lets in what it copies and keeps tests out', () => {
    expect(dockerignore[0]).toBe('**')
    const copied = final.lines
      .filter((l) => l.startsWith('COPY ') && !l.includes('--from='))
      .flatMap((l) => l.slice(5).split(/\s+/).slice(0, -1))
    for (const src of [...copied, 'package-lock.json'])
      expect(dockerignore.some((p) => p === `!${src}` || p === `!${src}/**`)).toBe(true)
    expect(dockerignore).toContain('**/*.test.ts')
  })
})
