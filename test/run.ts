/**
 * `npm test`: type check and lint, bring up real Kafka, PostgreSQL and Redis (reusing running ones),
 * run `bun test` with their env vars and any extra arguments (`npm test -- test/services.test.ts`),
 * then stop the services this run started, also when tests fail or on Ctrl-C. The exit code is the
 * tests' verdict.
 */
import { resolve } from 'node:path'
import type { Subprocess } from 'bun'
import { errorMessage } from '../actors/core/errors.ts'
import { ensurePrerequisites } from '../deploy/local/install.ts'
import { requirePrometheus, requirePromtool } from '../deploy/local/prerequisites.ts'
import { leaseServices, type ServicesLease } from '../deploy/local/services.ts'

const root = resolve(import.meta.dir, '..')
const testTimeoutMs = 120_000

function say(line: string): void {
  process.stderr.write(`[npm test] ${line}\n`)
}

async function timed<T>(phase: string, fn: () => Promise<T>): Promise<T> {
  const began = performance.now()
  try {
    return await fn()
  } finally {
    say(`${phase}: ${seconds(began)}`)
  }
}

const running = new Set<Subprocess>()
let interruptedBy: NodeJS.Signals | null = null

// The services run in sessions of their own, so a Ctrl-C reaches only this process and `bun test`;
// this process then stops what it started instead of dying at once.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    interruptedBy ??= signal
    for (const child of running) child.kill(signal)
  })
}

async function run(cmd: string[], opts: { env?: Record<string, string | undefined>; quiet?: boolean } = {}) {
  const child = Bun.spawn(cmd, {
    cwd: root,
    env: opts.env ?? process.env,
    stdio: ['inherit', opts.quiet ? 'pipe' : 'inherit', opts.quiet ? 'pipe' : 'inherit'],
  })
  running.add(child)
  const [code, out, err] = await Promise.all([
    child.exited,
    child.stdout instanceof ReadableStream ? new Response(child.stdout).text() : '',
    child.stderr instanceof ReadableStream ? new Response(child.stderr).text() : '',
  ])
  running.delete(child)
  return { code, output: `${out}${err}` }
}

// All three run on Bun, so a machine with only `bun install` (no Node.js) can run the checks too. The
// import rule is .dependency-cruiser.cjs (README.md, Layout).
async function checks(): Promise<boolean> {
  const all = [
    ['tsc --noEmit', ['node_modules/typescript/bin/tsc', '--noEmit']],
    ['biome check .', ['node_modules/@biomejs/biome/bin/biome', 'check', '.']],
    [
      'import rule (depcruise)',
      [
        'node_modules/dependency-cruiser/bin/dependency-cruiser.mjs',
        '--config',
        '.dependency-cruiser.cjs',
        '.',
      ],
    ],
  ] as const
  const results = await Promise.all(all.map(([, args]) => run([process.execPath, ...args], { quiet: true })))
  results.forEach((result, i) => {
    if (result.code !== 0) say(`${all[i]?.[0]} failed:\n${result.output.trimEnd()}`)
  })
  return results.every((result) => result.code === 0)
}

function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`
}

async function release(lease: ServicesLease): Promise<void> {
  const began = performance.now()
  const stopped = await lease.release()
  const what =
    stopped.length > 0 ? `stopped ${stopped.join(', ')}` : 'left running (not ours, or still in use)'
  say(`services down, ${what}: ${seconds(began)}`)
}

async function main(): Promise<number> {
  let lease: ServicesLease | null = null
  try {
    // The tests run Prometheus and promtool beside the services: installed like them when missing (as
    // root with apt-get), or named with their install line.
    try {
      ensurePrerequisites([requirePrometheus, requirePromtool], say)
    } catch (err) {
      say(errorMessage(err))
      return 1
    }
    // Type checking and the JVM start are the slow parts; they overlap.
    const [checked, leased] = await Promise.allSettled([
      timed('checks (tsc, biome, import rule)', checks),
      timed('services up', () => leaseServices({ onProgress: (line) => say(line) })),
    ])
    if (leased.status === 'rejected') {
      say(`could not bring the services up: ${errorMessage(leased.reason)}`)
      return 1
    }
    lease = leased.value
    if (checked.status === 'rejected' || !checked.value || interruptedBy) return 1
    const env = { ...process.env, ...lease.env }
    const args = process.argv.slice(2)
    // Bun's 5 s default is too short for tests that restart real services; an explicit --timeout wins.
    const timeout = args.some((a) => a.startsWith('--timeout')) ? [] : ['--timeout', String(testTimeoutMs)]
    const tests = await timed('tests', () => run([process.execPath, 'test', ...timeout, ...args], { env }))
    return tests.code
  } finally {
    if (lease) await release(lease)
  }
}

const signalExit = { SIGINT: 130, SIGTERM: 143 } as const
const code = await main()
process.exit(interruptedBy ? signalExit[interruptedBy] : code)
