import { readFileSync } from 'node:fs'

// The measuring part of a peer, kept apart from the consumer code a team would write. It times the
// peer from its first stored event until it stored `events` (or `maxSeconds` passed), as the benchmark
// times baton from its first commit, and prints the figures as one JSON line on stdout.

/**
 * @param {{ events: number, maxSeconds: number }} config
 */
export function meter({ events, maxSeconds }) {
  let stored = 0
  let firstAt = 0
  let firstCpu = process.cpuUsage()
  let doneAt = 0
  let doneCpu = firstCpu
  /** @type {() => void} */
  let finish = () => {}
  const finished = new Promise((resolve) => {
    finish = () => resolve(undefined)
  })
  return {
    /** Resolves once the peer stored enough events, or ran out of time. */
    finished,
    /** Called after each write committed, with how many events it stored. */
    stored(/** @type {number} */ n) {
      if (doneAt !== 0) return
      const now = performance.now()
      if (firstAt === 0) {
        firstAt = now
        firstCpu = process.cpuUsage()
      }
      stored += n
      if (stored >= events || now - firstAt >= maxSeconds * 1000) {
        doneAt = now
        doneCpu = process.cpuUsage(firstCpu)
        finish()
      }
    },
    report() {
      const seconds = (doneAt - firstAt) / 1000
      const cpuSeconds = (doneCpu.user + doneCpu.system) / 1e6
      // VmHWM, not resourceUsage().maxRSS: Linux carries ru_maxrss over an exec, so a child would report
      // the benchmark process's peak instead of its own.
      const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]
      const peakRssMb = Math.round(Number(kb) / 1024)
      process.stdout.write(`${JSON.stringify({ events: stored, seconds, cpuSeconds, peakRssMb })}\n`)
    },
  }
}

/**
 * The peer's settings, as the benchmark passes them: one JSON argument.
 * @returns {{ brokers: string[], topic: string, group: string, databaseUrl: string, table: string,
 *   events: number, maxSeconds: number }}
 */
export function peerConfig() {
  return JSON.parse(process.argv[2] ?? '{}')
}

/** KafkaJS headers (Buffers) as the JSON object baton_events stores. */
export function headersJson(/** @type {Record<string, unknown> | undefined} */ headers) {
  /** @type {Record<string, string>} */
  const out = {}
  for (const [name, value] of Object.entries(headers ?? {})) out[name] = String(value ?? '')
  return JSON.stringify(out)
}
