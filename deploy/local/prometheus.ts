import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BatonError } from '../../actors/core/errors.ts'
import { freeLoopbackPort } from './ports.ts'
import { requirePrometheus } from './prerequisites.ts'
import { isRunning, launchDetached, stopProcessTree } from './processes.ts'
import { logTail } from './readiness.ts'

export interface PrometheusOptions {
  /** A folder of the caller's own: the config, rules, TSDB and log go there. */
  readonly dir: string
  /** The scrape jobs: `job_name` and the `host:port` targets whose `/metrics` it scrapes. */
  readonly jobs: readonly { readonly name: string; readonly targets: readonly string[] }[]
  /** Rule groups (`{ groups: [...] }`) to load, as a rules file holds them. */
  readonly rules: object
  /** Scrape and rule evaluation interval, e.g. `1s` in tests (Prometheus' default is 1m). */
  readonly interval: string
  /** How long to wait for `/-/ready` (default 30 s). */
  readonly readyTimeoutMs?: number
}

export interface LocalPrometheus {
  /** `http://127.0.0.1:<port>`: the HTTP API (`/api/v1/query`, `/api/v1/alerts`). */
  readonly url: string
  readonly logFile: string
  /** SIGTERM, then SIGKILL after 5 s; resolves once it and its children are gone. */
  stop(): Promise<void>
}

/**
 * Starts Prometheus from the system's `prometheus` binary on a free loopback port, as `baton services`
 * starts its services: a process in a session of its own, logging to a file in `dir`, counted as up once
 * it answers `/-/ready`. Its config and rules are written as JSON, which Prometheus reads as YAML.
 *
 * @example
 * const prom = await startPrometheus({ dir, jobs: [{ name: 'baton', targets: ['127.0.0.1:8080'] }], rules, interval: '1s' })
 * await fetch(`${prom.url}/api/v1/alerts`)
 * await prom.stop()
 */
export async function startPrometheus(options: PrometheusOptions): Promise<LocalPrometheus> {
  const command = requirePrometheus()
  const port = await freeLoopbackPort()
  mkdirSync(join(options.dir, 'data'), { recursive: true })
  const rulesFile = join(options.dir, 'rules.yaml')
  const configFile = join(options.dir, 'prometheus.yml')
  const logFile = join(options.dir, 'prometheus.log')
  writeFileSync(rulesFile, JSON.stringify(options.rules))
  writeFileSync(
    configFile,
    JSON.stringify({
      global: {
        scrape_interval: options.interval,
        // A scrape may not take longer than the interval between two.
        scrape_timeout: options.interval,
        evaluation_interval: options.interval,
      },
      rule_files: [rulesFile],
      scrape_configs: options.jobs.map((job) => ({
        job_name: job.name,
        static_configs: [{ targets: job.targets }],
      })),
    }),
  )
  const pid = await launchDetached({
    command,
    args: [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(options.dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    logFile,
    cwd: options.dir,
  })
  const url = `http://127.0.0.1:${port}`
  const running: LocalPrometheus = {
    url,
    logFile,
    async stop() {
      await stopProcessTree(pid, 'SIGTERM', 5_000)
    },
  }
  const timeoutMs = options.readyTimeoutMs ?? 30_000
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!isRunning(pid)) break
    const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) }).then(
      (res) => res.ok,
      () => false,
    )
    if (ready) return running
    await Bun.sleep(100)
  }
  await running.stop()
  throw new BatonError(
    'SERVICE_START_FAILED',
    `Prometheus did not answer /-/ready within ${timeoutMs / 1000} s or exited. Its log, ${logFile}, ends with:\n${logTail(logFile)}`,
  )
}
