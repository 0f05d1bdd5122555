import { ensureKafkaJars } from '../../deploy/local/kafka-jars.ts'
import type { Dataset } from './dataset.ts'

/** Kafka's own consumer reading the dataset and doing nothing else: the ceiling of any Kafka consumer. */
export interface ConsumeLimit {
  /** `fetch.nMsg.sec` of kafka-consumer-perf-test: messages/s over the fetch time, rebalance excluded. */
  readonly consumePerSec: number
  readonly fetchSeconds: number
}

/**
 * Runs `kafka-consumer-perf-test` (org.apache.kafka.tools.ConsumerPerformance, from the jars that
 * `baton services` caches) over the whole topic in a new group, and parses its summary line.
 */
export async function consumeLimit(
  brokers: readonly string[],
  dataset: Dataset,
  group: string,
): Promise<ConsumeLimit> {
  const jars = await ensureKafkaJars(() => {})
  const proc = Bun.spawn(
    [
      'java',
      // As much heap as the broker gets; the tool keeps nothing, but a small heap would make it GC-bound.
      '-Xmx512m',
      '-cp',
      `${jars}/*`,
      'org.apache.kafka.tools.ConsumerPerformance',
      '--bootstrap-server',
      brokers.join(','),
      '--topic',
      dataset.topic,
      '--messages',
      String(dataset.events),
      '--group',
      group,
      '--timeout',
      '60000',
    ],
    { stdout: 'pipe', stderr: 'pipe' },
  )
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ])
  if (code !== 0) throw new Error(`kafka-consumer-perf-test exited with ${code}:\n${out}\n${err}`)
  return parseSummary(out)
}

/** The header and value lines the tool prints, e.g. `start.time, …, fetch.nMsg.sec`. */
export function parseSummary(output: string): ConsumeLimit {
  const lines = output.split('\n').map((line) => line.split(',').map((cell) => cell.trim()))
  const header = lines.findIndex((cells) => cells.includes('fetch.nMsg.sec'))
  const names = lines[header] ?? []
  const values = lines[header + 1] ?? []
  const value = (name: string) => Number(values[names.indexOf(name)])
  const consumePerSec = value('fetch.nMsg.sec')
  if (!(consumePerSec > 0))
    throw new Error(`no fetch.nMsg.sec in kafka-consumer-perf-test's output:\n${output}`)
  return { consumePerSec, fetchSeconds: value('fetch.time.ms') / 1000 }
}
