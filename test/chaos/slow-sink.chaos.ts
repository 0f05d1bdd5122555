/**
 * Chaos scenario 8: a slow sink. All three nodes reach PostgreSQL through a toxic proxy, which throttles
 * it to 128 KB/s with 100 ms of latency each way for 30 s while 3,000 events of 2 KB a second keep
 * coming (6 MB/s). The nodes fall behind (the lag grows) but must not buffer the backlog: each node's RSS
 * stays under the stated bound and none dies; after the throttle is lifted they catch up, exactly once.
 * Shared services.
 */
import { afterEach, expect, test } from 'bun:test'
import { mb } from '../cluster/support.ts'
import { ChaosScenario } from './runner.ts'
import { ToxicProxy } from './toxic-proxy.ts'

const ids = ['baton-0', 'baton-1', 'baton-2']
/**
 * The stated bound on each node's resident memory, throughout. Under the throttle the nodes stay near
 * their idle size (a partition buffers at most 16 fetched chunks of 64 KiB); catching up at full speed
 * with 2 KB events they peaked at 210-315 MB in our runs, which is the garbage collector's slack.
 */
const rssBoundMb = 400
let scenario: ChaosScenario | undefined
let proxy: ToxicProxy | undefined

afterEach(async () => {
  await scenario?.cleanup()
  await proxy?.close()
  scenario = undefined
  proxy = undefined
})

test(`8: PostgreSQL throttled to 128 KB/s for 30 s under 6 MB/s of events: lag grows, RSS stays under ${rssBoundMb} MB, catch-up exactly once`, async () => {
  const rate = 3_000
  const valueBytes = 2_000
  const throttle = { bandwidth: 128 * 1024, latencyMs: 100 }
  const holdMs = 30_000
  // The proxy needs the scenario's PostgreSQL address; the scenario's nodes need the proxy's.
  const { serviceEnv } = await import('../support/env.ts')
  const target = new URL(serviceEnv().DATABASE_URL)
  proxy = await ToxicProxy.start({ host: target.hostname, port: Number(target.port) })
  const throughProxy = new URL(target)
  throughProxy.port = String(proxy.port)
  scenario = await ChaosScenario.begin({
    id: '8-slow-sink',
    title: `PostgreSQL throttled to 128 KB/s + 100 ms for 30 s (through a proxy) under ${rate} events/s of ${valueBytes} B`,
    rate,
    events: { keys: 1_000, valueBytes, poison: 0.01 },
    rssBoundMb,
    nodeEnv: { DATABASE_URL: throughProxy.toString() },
  })
  const s = scenario
  const link = proxy
  await s.startNodes(ids)
  s.startTraffic()
  await s.waitCommitted(5_000)
  const lagOf = async () => s.ledger.produced - (await s.committed())
  const lagBefore = await lagOf()
  let maxLag = 0
  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      maxLag = Math.max(maxLag, await lagOf())
      await Bun.sleep(1_000)
    }
  })()
  let rssAtHeal: Record<string, number> = {}
  await s.fault(
    `PostgreSQL throttled to 128 KB/s + 100 ms for ${holdMs / 1000} s`,
    () => link.toxics(throttle),
    async () => {
      sampling = false
      await sampler
      rssAtHeal = s.peakRssMb()
      link.heal()
    },
    { holdMs, recoveryTimeoutMs: 180_000 },
  )
  const backlogMb = mb(maxLag * valueBytes)
  for (const [id, peak] of Object.entries(rssAtHeal)) {
    if (peak >= rssBoundMb)
      throw new Error(`${id} reached ${peak} MB RSS under the throttle (bound ${rssBoundMb} MB)`)
  }
  s.notes.push(
    `lag before ${lagBefore} events, at most ${maxLag} (${backlogMb} MB) under the throttle; peak RSS by then ` +
      `${Object.entries(rssAtHeal)
        .map(([id, m]) => `${id} ${m} MB`)
        .join(', ')} (bound ${rssBoundMb} MB)`,
  )
  console.info(`[8] ${s.notes.at(-1)}`)
  await s.flow(10_000)
  const result = await s.finish({ ids })
  expect(result.duplicates).toBe(0)
  expect(result.lost).toBe(0)
  // The sink really was the bottleneck: the backlog grew by more than 10 s of traffic.
  expect(maxLag - lagBefore).toBeGreaterThan(rate * 10)
}, 600_000)
