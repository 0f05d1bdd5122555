/**
 * The `connect` peer of `baton bench e2e`: starts a Kafka Connect standalone worker with Debezium's JDBC
 * sink (connect-config.ts), times it as baton is timed, from the first row it committed to the last,
 * reads the worker's CPU and peak RSS from /proc, stops it, and prints the figures as one JSON line on
 * stdout, like the other peers. The worker's own output goes to stderr only when it fails.
 *
 * Usage: bun connect-run.ts '<ConnectSetup JSON>' '{"brokers":[…],"topic":…,"group":…,"databaseUrl":…,
 *   "table":…,"events":…,"maxSeconds":…,"partitions":…}'
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { localDeployDir } from '../../deploy/local/paths.ts'
import { cpuSeconds, peakRssMb } from '../kit/process-stats.ts'
import { propertiesText, sinkProperties, workerProperties } from './connect-config.ts'
import type { ConnectSetup } from './connect-peer.ts'
import type { PeerConfig, PeerReport } from './peer-process.ts'

/** As bin/connect-standalone.sh runs the worker: its heap and kafka-run-class.sh's JVM flags. */
const jvmFlags = [
  '-Xms256M',
  '-Xmx2G',
  '-server',
  '-XX:+UseG1GC',
  '-XX:MaxGCPauseMillis=20',
  '-XX:InitiatingHeapOccupancyPercent=35',
  '-XX:+ExplicitGCInvokesConcurrent',
  '-Djava.awt.headless=true',
  `-Dlog4j2.configurationFile=${join(localDeployDir, 'log4j2.properties')}`,
]

const POLL_MS = 50
/** The JVM's start, the plugin scan and the group join: slow on a busy 2-core machine, never this slow. */
const START_MS = 120_000
/** A worker that commits nothing for this long has failed; its log tells why. */
const STALL_MS = 60_000

const [setupArg, configArg] = process.argv.slice(2)
if (!setupArg || !configArg) {
  process.stderr.write('usage: bun connect-run.ts <setup JSON> <config JSON>\n')
  process.exit(2)
}
const setup = JSON.parse(setupArg) as ConnectSetup
const config = JSON.parse(configArg) as PeerConfig
process.exitCode = await run(setup, config)

async function run(setup: ConnectSetup, config: PeerConfig): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), 'baton-bench-connect-'))
  const log = join(work, 'connect.log')
  // Connect loads each sub-folder of plugin.path as a plugin with a class loader of its own.
  const plugins = join(work, 'plugins')
  mkdirSync(plugins)
  symlinkSync(setup.connectorJars, join(plugins, 'debezium-connector-jdbc'))
  const settings = { ...config, pluginPath: plugins, offsetsFile: join(work, 'offsets') }
  writeFileSync(join(work, 'worker.properties'), propertiesText(workerProperties(settings)))
  writeFileSync(join(work, 'sink.properties'), propertiesText(sinkProperties(settings)))
  const worker = Bun.spawn(
    [
      setup.java,
      ...jvmFlags,
      '-cp',
      `${setup.kafkaJars}/*`,
      'org.apache.kafka.connect.cli.ConnectStandalone',
      join(work, 'worker.properties'),
      join(work, 'sink.properties'),
    ],
    { stdout: Bun.file(log), stderr: Bun.file(log), stdin: 'ignore' },
  )
  // The JVM would outlive this process: stopped along with it (a Ctrl-C, the benchmark's time-out).
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.on(signal, () => {
      worker.kill('SIGKILL')
      process.exit(1)
    })
  const sql = postgres(config.databaseUrl, { max: 1, onnotice: () => {} })
  try {
    const figures = await measure(worker, sql, config)
    process.stdout.write(`${JSON.stringify(figures)}\n`)
    return 0
  } catch (err) {
    const tail = readFileSync(log, 'utf8').split('\n').slice(-60).join('\n')
    process.stderr.write(`${(err as Error).message}\nthe worker's last lines:\n${tail}\n`)
    return 1
  } finally {
    await stop(worker)
    await sql.end({ timeout: 5 })
    rmSync(work, { recursive: true, force: true })
  }
}

/** Polls the table until it holds `events` rows or `maxSeconds` passed since the first. */
async function measure(worker: Bun.Subprocess, sql: postgres.Sql, config: PeerConfig): Promise<PeerReport> {
  const rows = rowCounter(sql, config)
  const started = performance.now()
  let firstAt = 0
  let firstCpu = 0
  let lastChange = started
  let stored = 0
  for (;;) {
    await Bun.sleep(POLL_MS)
    const now = performance.now()
    const count = await rows()
    if (count > stored) {
      lastChange = now
      if (firstAt === 0) {
        firstAt = now
        firstCpu = cpuSeconds(worker.pid)
      }
    }
    stored = count
    if (stored >= config.events || (firstAt > 0 && now - firstAt >= config.maxSeconds * 1000)) break
    if (worker.exitCode !== null) throw new Error(`the worker exited with ${worker.exitCode}`)
    if (now - lastChange > (firstAt === 0 ? START_MS : STALL_MS))
      throw new Error(`the worker stored ${stored} of ${config.events} events and then nothing more`)
  }
  const seconds = (performance.now() - firstAt) / 1000
  return {
    events: stored,
    seconds,
    cpuSeconds: cpuSeconds(worker.pid) - firstCpu,
    peakRssMb: peakRssMb(worker.pid),
  }
}

/**
 * The rows stored so far, counted per partition past the highest offset seen before: a range scan of the
 * primary key, cheap however full the table is. Each partition is written by one task, batch after
 * batch, so its rows commit in offset order.
 */
function rowCounter(sql: postgres.Sql, config: PeerConfig): () => Promise<number> {
  const after = Array.from({ length: config.partitions }, () => -1)
  let total = 0
  return async () => {
    const found = await sql.unsafe<{ partition: number; n: number; last: string }[]>(
      `select t.partition, count(*)::int as n, max(t."offset")::text as last
       from unnest($1::int[], $2::bigint[]) as s(partition, after)
       join ${config.table} t on t.topic = $3 and t.partition = s.partition and t."offset" > s.after
       group by t.partition`,
      [after.map((_, p) => p), after, config.topic],
    )
    for (const { partition, n, last } of found) {
      after[partition] = Number(last)
      total += n
    }
    return total
  }
}

/** SIGTERM, as a deployment stops it; SIGKILL when it has not stopped within 20 s. */
async function stop(worker: Bun.Subprocess): Promise<void> {
  if (worker.exitCode !== null) return
  worker.kill('SIGTERM')
  const timer = setTimeout(() => worker.kill('SIGKILL'), 20_000)
  await worker.exited
  clearTimeout(timer)
}
