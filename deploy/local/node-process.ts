import { join } from 'node:path'
import type { Subprocess } from 'bun'
import { freeLoopbackPort } from './ports.ts'

const root = join(import.meta.dir, '..', '..')

export interface NodeProcess {
  readonly url: string
  readonly proc: Subprocess
  /** Everything the node wrote to stderr and stdout so far (logs), for assertions and failure reports. */
  output(): string
  /** SIGKILL: the crash case. */
  kill(): Promise<void>
  /** SIGTERM and wait for the exit code (the graceful case). */
  stop(timeoutMs?: number): Promise<number | null>
}

/** `baton <args>` as its own process, with what it writes collected. */
function spawnBaton(
  env: Record<string, string>,
  port: number,
  args: readonly string[],
  wrap: readonly string[] = [],
) {
  return spawnNode(env, port, [...wrap, process.execPath, join(root, 'runtime/cli/baton.ts'), ...args])
}

/**
 * `command` (a way to run a node, e.g. `['npm', 'start']`) in the project's folder with the env of
 * `startNodeProcess`, with what it writes collected; `drained` resolves when its output ends.
 */
export function spawnNode(
  env: Record<string, string>,
  port: number,
  command: readonly string[],
): { proc: Subprocess; output: () => string; drained: Promise<unknown> } {
  let output = ''
  // The services' variables `npm test` sets would turn every node into a cluster node: a test that wants
  // one passes them in `env`.
  const { KAFKA_BROKERS, DATABASE_URL, REDIS_URL, ...inherited } = process.env
  const proc = Bun.spawn([...command], {
    cwd: root,
    env: {
      ...inherited,
      BATON_LOG_LEVEL: 'info',
      // A cluster node without API tokens refuses to start; tests that check tokens pass them (or '' here).
      BATON_INSECURE: 'true',
      // Loopback, so nothing outside this machine reaches a test node; a test of the token rule for other
      // addresses passes its own (a refused node never listens).
      BATON_HTTP_HOST: '127.0.0.1',
      ...env,
      BATON_HTTP_PORT: String(port),
    },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder()
    for await (const chunk of stream) output += decoder.decode(chunk, { stream: true })
  }
  const drained = Promise.all([
    collect(proc.stdout as ReadableStream<Uint8Array>),
    collect(proc.stderr as ReadableStream<Uint8Array>),
  ])
  return { proc, output: () => output, drained }
}

/**
 * Runs `baton <args>` (default `start`) to its exit, as users do, with the env of `startNodeProcess` (on
 * `env.BATON_HTTP_PORT` when given, else a free port). A process that has not exited after 60 s is
 * SIGKILLed and the call throws with its output: a start-up failure that hangs instead of ending fails the test.
 */
export async function runBaton(
  env: Record<string, string>,
  args: readonly string[] = ['start'],
): Promise<{ code: number; output: string }> {
  const port = env.BATON_HTTP_PORT ? Number(env.BATON_HTTP_PORT) : await freeLoopbackPort()
  const { proc, output, drained } = spawnBaton(env, port, args)
  let killed = false
  const timer = setTimeout(() => {
    killed = true
    proc.kill('SIGKILL')
  }, 60_000)
  const code = await proc.exited
  clearTimeout(timer)
  await drained
  if (killed) {
    throw new Error(
      `baton ${args.join(' ')} did not exit within 60 s, so it was killed. Its output:\n${output()}`,
    )
  }
  return { code, output: output() }
}

/**
 * Runs `baton start` as a separate process, as users do (embedded unless `env` names the services), and waits until it answers /readyz (or
 * throws with its output when it exits or does not get ready within `readyTimeoutMs`). `wrap` is a command
 * that execs the rest, e.g. `['ip', 'netns', 'exec', ns]` (the pid stays the node's).
 */
export async function startNodeProcess(
  env: Record<string, string>,
  options: { readyTimeoutMs?: number; waitReady?: boolean; wrap?: readonly string[] } = {},
): Promise<NodeProcess> {
  const port = env.BATON_HTTP_PORT ? Number(env.BATON_HTTP_PORT) : await freeLoopbackPort()
  const url = `http://127.0.0.1:${port}`
  const { proc, output } = spawnBaton(env, port, ['start'], options.wrap)
  const node: NodeProcess = {
    url,
    proc,
    output,
    async kill() {
      proc.kill('SIGKILL')
      await proc.exited
    },
    async stop(timeoutMs = 30_000) {
      proc.kill('SIGTERM')
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs)
      const code = await proc.exited
      clearTimeout(timer)
      return code
    },
  }
  if (options.waitReady === false) return node
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000)
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`baton start exited with ${proc.exitCode}:\n${output()}`)
    try {
      const res = await fetch(`${url}/readyz`)
      if (res.status === 200) return node
    } catch {
      // not listening yet
    }
    await Bun.sleep(100)
  }
  proc.kill('SIGKILL')
  throw new Error(`baton start did not get ready within ${options.readyTimeoutMs ?? 60_000} ms:\n${output()}`)
}
