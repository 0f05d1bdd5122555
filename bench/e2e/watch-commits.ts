import type { ProducedEvent } from '../../actors/kafka/producer.ts'
import { quantile } from '../kit/stats.ts'
import type { BenchServices } from './services.ts'

/** Commit times of any pipeline, read from its watermarks; see `watchCommits`. */
export interface CommitTimes {
  /** Records where produced events landed and their event time. */
  sent(events: readonly ProducedEvent[], time: number): void
  /** Event time to commit of the events sent at or after `from` (ms since the epoch), as percentiles in ms. */
  latencies(from: number): Promise<{ p50Ms: number; p99Ms: number; p999Ms: number; maxMs: number }>
  stop(): Promise<void>
}

const POLL_MS = 20

/**
 * For pipelines other than the event store, which leave no per-event commit time: polls the group's
 * `baton_watermarks` rows, whose `updated_at` is the time of the transaction that moved them. An event
 * counts as committed at the first watermark seen past it, so when two commits of a partition fall
 * between polls the earlier one's events get the later time: an upper bound, never an underestimate.
 */
export function watchCommits(services: BenchServices, group: string, topic: string): CommitTimes {
  /** Per partition: watermark and commit time (ms since the epoch) of each change seen, in order. */
  const seen = new Map<number, { offsets: number[]; times: number[] }>()
  const produced: { partition: number; offset: number; time: number }[] = []
  let stopped = false
  const pollOnce = async () => {
    const rows = await services.sql<{ partition: number; next: string | null; at: number }[]>`
        select partition, next_offset as next, extract(epoch from updated_at) * 1000 as at
        from baton_watermarks where group_id = ${group} and topic = ${topic}`
    for (const row of rows) {
      if (row.next === null) continue
      let s = seen.get(row.partition)
      if (!s) {
        s = { offsets: [], times: [] }
        seen.set(row.partition, s)
      }
      const next = Number(row.next)
      if (next > (s.offsets.at(-1) ?? -1)) {
        s.offsets.push(next)
        s.times.push(Number(row.at))
      }
    }
  }
  const poll = async () => {
    while (!stopped) {
      await pollOnce()
      await Bun.sleep(POLL_MS)
    }
  }
  const polling = poll()
  return {
    sent(events, time) {
      for (const e of events) produced.push({ partition: e.partition, offset: e.offset, time })
    },
    async latencies(from) {
      // The caller saw every event committed; this poll sees the last watermarks too.
      await pollOnce()
      const measured = produced.filter((e) => e.time >= from)
      const ms = new Float64Array(measured.length)
      measured.forEach((e, i) => {
        const s = seen.get(e.partition)
        const at = s ? firstAbove(s.offsets, e.offset) : -1
        ms[i] = at < 0 ? Number.NaN : (s?.times[at] as number) - e.time
      })
      ms.sort()
      return {
        p50Ms: quantile(ms, 0.5),
        p99Ms: quantile(ms, 0.99),
        p999Ms: quantile(ms, 0.999),
        maxMs: ms[ms.length - 1] ?? Number.NaN,
      }
    },
    async stop() {
      stopped = true
      await polling
    },
  }
}

/** Index of the first of ascending `offsets` above `offset` (the watermark that covers it), or -1. */
function firstAbove(offsets: readonly number[], offset: number): number {
  let low = 0
  let high = offsets.length
  while (low < high) {
    const mid = (low + high) >> 1
    if ((offsets[mid] as number) > offset) high = mid
    else low = mid + 1
  }
  return low < offsets.length ? low : -1
}
