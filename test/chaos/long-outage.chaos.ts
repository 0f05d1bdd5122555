/**
 * Chaos scenario 9: each service baton needs is stopped for 6 minutes under load, longer than every
 * patience, intensity period and backoff cap in a node's supervision tree (the longest, a topic
 * supervisor's intensity period, is 5 minutes). While it is away every node stays alive (`/healthz` 200)
 * and says why it is not ready (`/readyz` 503 naming the service); memory stays bounded. Once it is back,
 * every event is stored exactly once and every poison event dead-lettered once within 60 s, and no node
 * process was restarted. The three services are private to this file.
 *
 * `BATON_CHAOS_OUTAGE_MS` shortens the outage for a trial run; the scenario says so in its notes.
 */
import { expect, test } from 'bun:test'
import { type ServiceName, startService, stopService } from '../../deploy/local/services.ts'
import { ChaosScenario, scenarioFile } from './runner.ts'

const ids = ['baton-0', 'baton-1', 'baton-2']
const file = scenarioFile(['postgres', 'redis', 'kafka'])
const outageMs = Number(process.env.BATON_CHAOS_OUTAGE_MS ?? 360_000)
/** How long a node may take to notice: the service probes run every 2 s, the Kafka client's requests time out later. */
const noticeMs = 45_000

const names: Record<ServiceName, string> = { postgres: 'PostgreSQL', redis: 'Redis', kafka: 'Kafka' }

interface Probe {
  readonly at: number
  readonly node: string
  readonly health: number | null
  readonly ready: number | null
  readonly reasons: readonly string[]
}

for (const [id, service] of [
  ['9a-postgres-6min', 'postgres'],
  ['9b-redis-6min', 'redis'],
  ['9c-kafka-6min', 'kafka'],
] as const) {
  const name = names[service]
  test(
    `9: ${name} stopped for ${outageMs / 60_000} min under load: alive and saying why, then exactly once within 60 s`,
    async () => {
      file.scenario = await ChaosScenario.begin({
        id,
        title: `${name} stopped for ${outageMs / 60_000} min under load (longer than every patience in the tree)`,
        services: file.services,
        rssBoundMb: 400,
      })
      const s = file.scenario
      const dir = file.services.dir
      if (outageMs !== 360_000) s.notes.push(`outage shortened to ${outageMs} ms by BATON_CHAOS_OUTAGE_MS`)
      await s.startNodes(ids)
      s.startTraffic(outageMs + 300_000)
      await s.waitCommitted(3_000)

      const probes: Probe[] = []
      let watching = false
      let stoppedAt = 0
      const watch = async () => {
        while (watching) {
          for (const node of ids) {
            const url = s.node(node).url
            const health = await s.get(url, '/healthz').catch(() => null)
            const ready = await s.get<{ reasons?: string[] }>(url, '/readyz').catch(() => null)
            probes.push({
              at: performance.now() - stoppedAt,
              node,
              health: health?.status ?? null,
              ready: ready?.status ?? null,
              reasons: ready?.body.reasons ?? [],
            })
          }
          await Bun.sleep(5_000)
        }
      }
      let watcher: Promise<void> = Promise.resolve()
      const record = await s.fault(
        `${name} stopped for ${outageMs / 60_000} min`,
        async () => {
          await stopService(service, { dir, mode: 'graceful', deadlineMs: 30_000 })
          stoppedAt = performance.now()
          watching = true
          watcher = watch()
        },
        async () => {
          watching = false
          await watcher
          await startService(service, { dir })
        },
        { holdMs: outageMs, recoveryTimeoutMs: 60_000 },
      )

      const noticed = probes.filter((p) => p.at >= noticeMs)
      const unhealthy = probes.filter((p) => p.health !== 200)
      const silent = noticed.filter((p) => p.ready !== 503 || !p.reasons.some((r) => r.includes(name)))
      s.notes.push(
        `while ${name} was stopped: ${probes.length} probes; /healthz not 200 in ${unhealthy.length}; ` +
          `after ${noticeMs / 1000} s, /readyz not 503 naming ${name} in ${silent.length} of ${noticed.length}`,
      )
      if (unhealthy.length > 0)
        s.fail(`/healthz did not answer 200 while ${name} was stopped: ${JSON.stringify(unhealthy[0])}`)
      if (noticed.length === 0) s.fail(`no /readyz probe was taken after ${noticeMs / 1000} s of the outage`)
      if (silent.length > 0) s.fail(`/readyz did not say 503 naming ${name}: ${JSON.stringify(silent[0])}`)
      if (record.recoveryMs === null)
        s.fail(`the nodes did not commit everything within 60 s of ${name}'s return`)

      await s.flow(10_000)
      const result = await s.finish({ ids })
      expect(result.duplicates).toBe(0)
      expect(result.lost).toBe(0)
      expect(result.passed).toBe(true)
    },
    outageMs + 540_000,
  )
}
