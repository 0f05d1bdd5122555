import { readFile } from 'node:fs/promises'

/**
 * The host's CPU time since boot (/proc/stat, its first line), in clock ticks: `busy` counts everything
 * but idle; time waiting for a disk (iowait) counts as busy, since a disk still writing out a previous
 * phase disturbs the next as much as a busy core does.
 */
export interface CpuTimes {
  readonly busy: number
  readonly total: number
}

/** The `cpu` line of a /proc/stat text; null when there is none. */
export function parseCpuTimes(stat: string): CpuTimes | null {
  const line = /^cpu\s+(.*)$/m.exec(stat)?.[1]
  if (!line) return null
  // user nice system idle iowait irq softirq steal (guest time is already inside user and nice)
  const ticks = line.trim().split(/\s+/).slice(0, 8).map(Number)
  if (ticks.length < 4 || ticks.some((t) => !Number.isFinite(t))) return null
  const total = ticks.reduce((sum, t) => sum + t, 0)
  return { busy: total - (ticks[3] as number), total }
}

export async function readCpuTimes(): Promise<CpuTimes | null> {
  try {
    return parseCpuTimes(await readFile('/proc/stat', 'utf8'))
  } catch {
    return null
  }
}

export interface IdleWait {
  /** False when the host was still busier than asked at the deadline, or it has no /proc/stat. */
  readonly idle: boolean
  readonly waitedMs: number
  /** The share of the host's CPU time that was busy in the last window, 0..1; null without /proc/stat. */
  readonly busy: number | null
}

export interface IdleOptions {
  /** The host counts as idle after a window in which at most this share of its CPU time was busy. */
  readonly maxBusy: number
  readonly windowMs: number
  readonly timeoutMs: number
}

/**
 * Waits, one window at a time, until the host's CPUs were busy for at most `maxBusy` of a window, or
 * `timeoutMs` passed. On a machine that the services share with the node under test, what they still do
 * after one phase is charged to the next: a broker that has just created a topic of 4,096 partitions and
 * its dead-letter topic spends 30 s of CPU creating their logs, 5-8 s of it during the first two rounds
 * of `bench scale` at 4,096 partitions (0.6 s in the fourth).
 */
export async function waitForIdleHost(
  options: IdleOptions,
  sleep: (ms: number) => Promise<unknown> = Bun.sleep,
  now: () => number = () => performance.now(),
  read: () => Promise<CpuTimes | null> = readCpuTimes,
): Promise<IdleWait> {
  const started = now()
  let before = await read()
  if (before === null) return { idle: false, waitedMs: 0, busy: null }
  for (;;) {
    await sleep(options.windowMs)
    const after = await read()
    if (after === null) return { idle: false, waitedMs: now() - started, busy: null }
    const busy = after.total > before.total ? (after.busy - before.busy) / (after.total - before.total) : 0
    const waitedMs = now() - started
    if (busy <= options.maxBusy) return { idle: true, waitedMs, busy }
    if (waitedMs >= options.timeoutMs) return { idle: false, waitedMs, busy }
    before = after
  }
}
