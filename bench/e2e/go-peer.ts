import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

/** The `go` peer's sources: bench/peers/go, a Go module of its own. */
export const goPeerSources = resolve(import.meta.dir, '../peers/go')

/** The built `go` peer and its toolchain (e.g. go1.26.8), or why this machine cannot run it. */
export type GoPeerBuild =
  | { readonly binary: string; readonly toolchain: string }
  | { readonly skipped: string }

/** The module versions the `go` peer is built with, from its go.mod (e.g. `github.com/twmb/franz-go` -> `v1.22.3`). */
export function goPeerModules(): Record<string, string> {
  const goMod = readFileSync(join(goPeerSources, 'go.mod'), 'utf8')
  const modules: Record<string, string> = {}
  for (const [, path, version] of goMod.matchAll(/^\s*(?:require\s+)?([\w.-]+\.[\w./-]+)\s+(v\S+)/gm))
    if (path && version) modules[path] = version
  return modules
}

/**
 * Builds the `go` peer with the Go toolchain on PATH into the user's cache
 * (`${XDG_CACHE_HOME:-~/.cache}/baton/baton-bench-peer-go`), again only when its sources or the toolchain
 * changed. Without `go` on PATH, or when the build fails, it says why instead: the benchmark then runs
 * without this peer. The first build downloads franz-go and pgx through the Go module proxy (go.sum pins
 * them).
 */
export async function buildGoPeer(progress: (line: string) => void): Promise<GoPeerBuild> {
  const go = Bun.which('go', { PATH: process.env.PATH ?? '' })
  if (!go)
    return { skipped: '`go` is not on PATH: install Go 1.26 or newer (go.dev/dl) to measure this peer' }
  const version = Bun.spawnSync([go, 'version'], { stdout: 'pipe', stderr: 'pipe' })
  if (version.exitCode !== 0) return { skipped: `\`go version\` failed: ${version.stderr.toString().trim()}` }
  // "go version go1.26.8 linux/amd64" -> "go1.26.8"
  const said = version.stdout.toString().trim()
  const toolchain = /\bgo\d+\.\d+\S*/.exec(said)?.[0] ?? said
  const dir = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'baton')
  const binary = join(dir, 'baton-bench-peer-go')
  const stamp = `${binary}.source`
  const source = sourceHash(toolchain)
  if (existsSync(binary) && existsSync(stamp) && readFileSync(stamp, 'utf8') === source) {
    progress(`peer go: ${binary} is up to date`)
    return { binary, toolchain }
  }
  progress(`peer go: building ${binary} with ${toolchain}`)
  mkdirSync(dir, { recursive: true })
  // Built beside the target and renamed over it, so that a concurrent run never starts a half-written file.
  const partial = `${binary}.${process.pid}.partial`
  const build = Bun.spawn([go, 'build', '-o', partial, '.'], {
    cwd: goPeerSources,
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [code, out, err] = await Promise.all([
    build.exited,
    new Response(build.stdout).text(),
    new Response(build.stderr).text(),
  ])
  for (const line of `${out}${err}`.split('\n').filter(Boolean)) progress(`  ${line}`)
  if (code !== 0) return { skipped: `\`go build\` in ${goPeerSources} failed (exit ${code}): ${err.trim()}` }
  renameSync(partial, binary)
  writeFileSync(stamp, source)
  return { binary, toolchain }
}

/** What the binary is built from: the module's files and the toolchain. */
function sourceHash(toolchain: string): string {
  const hash = createHash('sha256').update(toolchain)
  for (const name of readdirSync(goPeerSources).sort()) {
    if (!/\.go$|^go\.(mod|sum)$/.test(name)) continue
    hash.update(`\0${name}\0`).update(readFileSync(join(goPeerSources, name)))
  }
  return hash.digest('hex')
}
