import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BatonError } from '../../actors/core/errors.ts'
import { isRunning } from './processes.ts'

// Long enough for another caller to start Kafka from a cold jar cache.
const waitLimitMs = 300_000

function holderOf(file: string): number | null {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim())
    return Number.isInteger(pid) && pid > 0 ? pid : null
  } catch {
    return null
  }
}

/**
 * Runs `fn` while holding the services folder's lock, so two `up`s (two test runs in the same tree, say)
 * never start the same service twice. A lock left by a dead process is taken over.
 */
export async function withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  mkdirSync(dir, { recursive: true })
  const file = join(dir, 'lock')
  const deadline = Date.now() + waitLimitMs
  for (;;) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx' })
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    const holder = holderOf(file)
    // A lock file without a pid may be one being written right now; it gets the same grace as a live one.
    if (holder !== null && holder !== process.pid && !isRunning(holder)) {
      rmSync(file, { force: true })
      continue
    }
    if (Date.now() >= deadline) {
      throw new BatonError(
        'SERVICES_BUSY',
        `waited ${waitLimitMs / 1000} s for process ${holder} to release ${file}. If that process is stuck, stop it or delete the file.`,
      )
    }
    await Bun.sleep(100)
  }
  try {
    return await fn()
  } finally {
    rmSync(file, { force: true })
  }
}
