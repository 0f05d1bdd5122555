/** What the benchmark passes a peer: one JSON argument after its command. */
export interface PeerConfig {
  readonly brokers: readonly string[]
  readonly topic: string
  /** A consumer group of its own, new, so that it reads the topic from the beginning. */
  readonly group: string
  readonly databaseUrl: string
  /** Its table, shaped like baton_events. */
  readonly table: string
  /** It stops once it stored this many events... */
  readonly events: number
  /** ...or this long after its first. */
  readonly maxSeconds: number
  readonly partitions: number
}

/** What a peer prints as the last line of its stdout, timed from its first stored event. */
export interface PeerReport {
  readonly events: number
  readonly seconds: number
  readonly cpuSeconds: number
  readonly peakRssMb: number
}

/**
 * Runs a peer's `command` with `config` and returns its report; throws with its output when it exits
 * with an error, and stops it after `killAfterSeconds` (a peer that stops making progress would hang).
 */
export async function runPeerProcess(
  command: readonly string[],
  config: PeerConfig,
  killAfterSeconds: number,
): Promise<PeerReport> {
  const proc = Bun.spawn([...command, JSON.stringify(config)], { stdout: 'pipe', stderr: 'pipe' })
  // SIGTERM first, so that a peer which runs a process of its own (connect-run.ts's JVM) stops it too.
  const timer = setTimeout(() => {
    proc.kill('SIGTERM')
    setTimeout(() => proc.kill('SIGKILL'), 10_000).unref()
  }, killAfterSeconds * 1000)
  try {
    const [out, err, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ])
    if (code !== 0) throw new Error(`${command.join(' ')} exited with ${code}:\n${out}\n${err}`)
    return JSON.parse(out.trim().split('\n').at(-1) ?? '') as PeerReport
  } finally {
    clearTimeout(timer)
  }
}
