/**
 * `npm run test:chaos`: every fault-injection scenario (issue 9), through test/run.ts (type check, lint,
 * services up, `bun test`, services down), then the table of this run's results, also kept in
 * test/chaos/results.json. Arguments go on to `bun test` (e.g. `-t 1a`).
 *
 * `*.test.ts` scenarios also run in `npm test`; `*.chaos.ts` ones only here (bun test does not pick them
 * up by itself), which keeps `npm test` within its 15 minutes. About 35 minutes on a 2-core machine (scenario 9 holds
 * three 6-minute outages).
 */
import { readdirSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { formatTable, readResults } from './runner.ts'

const root = resolve(import.meta.dir, '..', '..')
/** In the order of the scenarios. */
const scenarios = [
  'sigkill.test.ts', // 1a, 1b
  'kafka-broker.chaos.ts', // 2
  'postgres.test.ts', // 3
  'redis.chaos.ts', // 4
  'sigstop.test.ts', // 5
  'network.chaos.ts', // 6
  'rebalance-storm.chaos.ts', // 7
  'slow-sink.chaos.ts', // 8
  'long-outage.chaos.ts', // 9a, 9b, 9c
  'quarantine-release.test.ts', // 10a, issue 20: SIGKILL during a per-key quarantine release (embedded)
  'quarantine-release.chaos.ts', // 10b: the same in a cluster, the partition taken over by another node
  'grouped-commits.chaos.ts', // 11a, 11b, issue 16: a crash and a zombie where batches share transactions
]
const unit = ['toxic-proxy.test.ts']

const present = readdirSync(import.meta.dir).filter((f) => /\.(test|chaos)\.ts$/.test(f))
const unlisted = present.filter((f) => !scenarios.includes(f) && !unit.includes(f))
if (unlisted.length > 0) {
  process.stderr.write(`test/chaos/run.ts: add ${unlisted.join(', ')} to its list of scenarios\n`)
  process.exit(2)
}

const resultsFile = join(import.meta.dir, 'results.json')
const began = new Date().toISOString()
const files = [...unit, ...scenarios].map((f) => `./${relative(root, join(import.meta.dir, f))}`)
const child = Bun.spawn(
  [process.execPath, 'test/run.ts', '--timeout', '600000', ...files, ...process.argv.slice(2)],
  {
    cwd: root,
    env: { ...process.env, BATON_CHAOS_RESULTS: resultsFile },
    stdio: ['inherit', 'inherit', 'inherit'],
  },
)
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal))
const code = await child.exited
const results = readResults(resultsFile).filter((r) => r.finishedAt >= began)
if (results.length > 0) {
  process.stdout.write(
    `\nchaos scenarios of this run (${relative(root, resultsFile)}):\n${formatTable(results)}\n`,
  )
  const failed = results.filter((r) => !r.passed)
  for (const r of failed)
    process.stdout.write(`\n${r.scenario}:\n- ${r.problems.slice(0, 10).join('\n- ')}\n`)
}
process.exit(code)
