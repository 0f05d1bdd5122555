/**
 * Chaos scenario 2: the Kafka broker fails under three nodes. First it is SIGKILLed mid-stream and
 * started again 5 s later (its log recovers from disk); then it is restarted cleanly (SIGTERM, start).
 * The broker is private to this file (a temporary services folder); PostgreSQL and Redis are the shared
 * ones. The producer keeps its rate throughout: requests that fail while the broker is away are not sent
 * again, and the check reads the topic back to learn which of them landed.
 */
import { expect, test } from 'bun:test'
import { killService, startService, stopService } from '../../deploy/local/services.ts'
import { ChaosScenario, scenarioFile } from './runner.ts'

const ids = ['baton-0', 'baton-1', 'baton-2']
const file = scenarioFile(['kafka'])

test('2: the Kafka broker SIGKILLed and restarted mid-stream, then restarted cleanly: exactly once, one owner each', async () => {
  file.scenario = await ChaosScenario.begin({
    id: '2-kafka-broker',
    title: 'the Kafka broker SIGKILLed mid-stream and started 5 s later; then a clean broker restart',
    services: file.services,
  })
  const s = file.scenario
  const dir = file.services.dir
  await s.startNodes(ids)
  s.startTraffic()
  await s.waitCommitted(3_000)
  await s.fault(
    'broker SIGKILLed, started 5 s later',
    () => killService('kafka', { dir }),
    () => startService('kafka', { dir }),
    { holdMs: 5_000, recoveryTimeoutMs: 180_000 },
  )
  await s.flow(5_000)
  await s.fault(
    'broker restarted cleanly',
    () => stopService('kafka', { dir, mode: 'graceful', deadlineMs: 30_000 }),
    () => startService('kafka', { dir }),
    { holdMs: 0, recoveryTimeoutMs: 180_000 },
  )
  await s.flow(10_000)
  const result = await s.finish({ ids })
  expect(result.duplicates).toBe(0)
  expect(result.lost).toBe(0)
}, 600_000)
