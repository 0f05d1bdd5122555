import { rmSync } from 'node:fs'
import { kafkaService } from './kafka.ts'
import { postgresService } from './postgres.ts'
import { isRunning, processIdentity, stopProcessTree } from './processes.ts'
import { waitUntilReady } from './readiness.ts'
import { redisService } from './redis.ts'
import type { ServicesState } from './state.ts'
import { writeState } from './state.ts'
import type { ServiceDriver, ServiceName, ServiceRecord, StopMode } from './types.ts'

/** The module that knows how to run each service. */
export const drivers: Record<ServiceName, ServiceDriver> = {
  kafka: kafkaService,
  postgres: postgresService,
  redis: redisService,
}

// Generous for a cold JVM on a busy two-core CI machine; a healthy start takes a few seconds.
const readyTimeoutMs: Record<ServiceName, number> = { kafka: 120_000, postgres: 60_000, redis: 30_000 }

/** The pid of a recorded service whose process still runs, or null. */
export function livePid(record: ServiceRecord): number | null {
  return record.pid !== null && isRunning(record.pid, record.pidIdentity) ? record.pid : null
}

/**
 * Launches a recorded service, records its pid at once (so an interrupted caller leaves nothing
 * unrecorded behind), and waits until it answers a real request.
 */
export async function launchAndWait(dir: string, state: ServicesState, record: ServiceRecord): Promise<void> {
  const driver = drivers[record.name]
  record.pid = await driver.launch(record)
  record.pidIdentity = processIdentity(record.pid)
  state.services[record.name] = record
  writeState(dir, state)
  await waitUntilReady(driver, record, readyTimeoutMs[record.name])
}

/** Stops a recorded service's process group (if it runs) and marks it stopped; its data stays. */
export async function stopRecord(
  dir: string,
  state: ServicesState,
  record: ServiceRecord,
  mode: StopMode,
  deadlineMs: number,
): Promise<void> {
  const driver = drivers[record.name]
  const pid = livePid(record)
  const killed = pid !== null && (await stopProcessTree(pid, driver.signalFor(mode), deadlineMs))
  await driver.afterStop?.(record, pid !== null && mode === 'graceful' && !killed)
  record.pid = null
  record.pidIdentity = null
  state.services[record.name] = record
  writeState(dir, state)
}

/** Stops a service and forgets it: its data is deleted, its log stays in its home until the next `up`. */
export async function removeRecord(
  dir: string,
  state: ServicesState,
  record: ServiceRecord,
  deadlineMs: number,
): Promise<void> {
  await stopRecord(dir, state, record, 'graceful', deadlineMs)
  rmSync(record.dataDir, { recursive: true, force: true })
  delete state.services[record.name]
  writeState(dir, state)
}
