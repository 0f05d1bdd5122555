import { readFileSync } from 'node:fs'
import { BatonError, errorMessage } from '../../actors/core/errors.ts'
import { isRunning } from './processes.ts'
import type { ServiceDriver, ServiceRecord } from './types.ts'

/** Rejects with `what` timed out when `promise` takes longer than `ms`; for clients that could hang. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** The last `lines` lines of a service's log, indented, for an error message. */
export function logTail(file: string, lines = 8): string {
  try {
    const text = readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines)
    return text.map((line) => `    ${line}`).join('\n')
  } catch {
    return '    (no log written)'
  }
}

/**
 * Probes a just-launched service until it answers a real request. Fails fast when its process exits,
 * and after `timeoutMs` otherwise; both errors name the log file and show its last lines.
 */
export async function waitUntilReady(
  driver: ServiceDriver,
  record: ServiceRecord,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    if (record.pid === null || !isRunning(record.pid, record.pidIdentity)) {
      throw new BatonError(
        'SERVICE_START_FAILED',
        `${driver.name} exited during start-up. Its log, ${record.logFile}, ends with:\n${logTail(record.logFile)}`,
      )
    }
    try {
      await driver.probe(record.url, Math.min(5000, Math.max(500, deadline - Date.now())), record.secureEnv)
      return
    } catch (err) {
      lastError = err
    }
    if (Date.now() >= deadline) {
      throw new BatonError(
        'SERVICE_START_FAILED',
        `${driver.name} did not answer within ${timeoutMs / 1000} s (last error: ${errorMessage(lastError)}). Its log, ${record.logFile}, ends with:\n${logTail(record.logFile)}`,
        { cause: lastError },
      )
    }
    await Bun.sleep(100)
  }
}
