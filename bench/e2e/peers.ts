import { join } from 'node:path'
import type { Dataset } from './dataset.ts'
import type { BenchServices } from './services.ts'

/** The peers: KafkaJS consumers as Node.js teams write them, each in bench/e2e/peers/. */
export type PeerName = 'kafkajsEachMessage' | 'kafkajsEachBatch'

export const peerScripts: Record<PeerName, string> = {
  kafkajsEachMessage: 'each-message.mjs',
  kafkajsEachBatch: 'each-batch.mjs',
}

/** One peer run, timed like baton's: from its first stored event to its last. */
export interface PeerRun {
  readonly eventsPerSec: number
  /** Events it stored in the timed span: all of them, or what it managed before its time cap. */
  readonly events: number
  readonly seconds: number
  readonly cpuSecondsPerMillion: number
  readonly peakRssMb: number
}

/**
 * Runs `peer` under Node.js (`node`, found on PATH) in a new consumer group over the whole topic, into
 * its own table shaped like baton_events, until it stored every event or `maxSeconds` passed since its
 * first one (a cap for the eachMessage peer, which would take many minutes for a million events). The
 * table is emptied afterwards.
 */
export async function peerRun(
  services: BenchServices,
  dataset: Dataset,
  peer: PeerName,
  group: string,
  maxSeconds: number,
): Promise<PeerRun> {
  const table = `peer_${peer.toLowerCase()}`
  await services.sql.unsafe(`create table if not exists ${table} (like baton_events including all)`)
  await services.settle()
  const config = {
    brokers: services.brokers,
    topic: dataset.topic,
    group,
    databaseUrl: services.databaseUrl,
    table,
    events: dataset.events,
    maxSeconds,
  }
  const proc = Bun.spawn(
    ['node', join(import.meta.dir, 'peers', peerScripts[peer]), JSON.stringify(config)],
    {
      stdout: 'pipe',
      stderr: 'pipe',
    },
  )
  // A peer that stops making progress would hang the benchmark: give it its cap and a minute more.
  const timer = setTimeout(() => proc.kill('SIGKILL'), (maxSeconds + 60) * 1000)
  try {
    const [out, err, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ])
    if (code !== 0) throw new Error(`peer ${peer} exited with ${code}:\n${out}\n${err}`)
    const result = JSON.parse(out.trim().split('\n').at(-1) ?? '') as {
      events: number
      seconds: number
      cpuSeconds: number
      peakRssMb: number
    }
    return {
      eventsPerSec: result.events / result.seconds,
      events: result.events,
      seconds: result.seconds,
      cpuSecondsPerMillion: (result.cpuSeconds / result.events) * 1e6,
      peakRssMb: result.peakRssMb,
    }
  } finally {
    clearTimeout(timer)
    await services.sql.unsafe(`truncate ${table}`)
  }
}
