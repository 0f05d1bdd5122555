/**
 * A network namespace for one baton node, so that every byte between that node and Kafka, PostgreSQL and
 * Redis passes a toxic proxy of the suite, under the services' real addresses. (A proxy address given to
 * the node is not enough for Kafka: the broker's metadata sends clients to its advertised 127.0.0.1 port.)
 *
 *   node in namespace -> 127.0.0.1:<service port> (namespace loopback) -> netns-bridge.ts
 *     -> Unix socket (shared file system) -> ToxicProxy on the host (toxics here) -> 127.0.0.1:<service port>
 *
 * and the other way for the node's HTTP port, which the host reaches on the same 127.0.0.1 port number,
 * so the URL the node advertises works from the host and from the other nodes.
 *
 * Needs root (`ip netns`). Only namespaces this module creates are touched, and `delete()` removes them.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Subprocess } from 'bun'
import { ToxicProxy } from './toxic-proxy.ts'

/** A service port the namespace reaches through a toxic proxy, under a name the test uses for it. */
export interface Outbound {
  readonly name: string
  readonly port: number
}

const created = new Set<Netns>()

export class Netns {
  readonly name: string
  readonly #dir: string
  readonly #bridge: Subprocess
  readonly #proxies: ToxicProxy[]
  /** The host-side proxy of each outbound service, by name: set its toxics to fault that link. */
  readonly links: ReadonlyMap<string, ToxicProxy>

  private constructor(
    name: string,
    dir: string,
    bridge: Subprocess,
    proxies: ToxicProxy[],
    links: Map<string, ToxicProxy>,
  ) {
    this.name = name
    this.#dir = dir
    this.#bridge = bridge
    this.#proxies = proxies
    this.links = links
  }

  /** `ip netns exec <name>`: run a command inside (it execs, so the pid stays the command's). */
  get wrap(): string[] {
    return ['ip', 'netns', 'exec', this.name]
  }

  /**
   * Creates a namespace with its loopback up, a host proxy per `outbound` service, and inbound bridges to
   * the namespace's `inbound` ports (a node's HTTP port: the host must not use that port itself).
   */
  static async create(outbound: readonly Outbound[], inbound: readonly number[]): Promise<Netns> {
    const name = `baton_chaos_${process.pid}_${Math.random().toString(16).slice(2, 8)}`
    const dir = mkdtempSync(join(tmpdir(), 'baton-ns-'))
    const proxies: ToxicProxy[] = []
    const links = new Map<string, ToxicProxy>()
    let bridge: Subprocess | null = null
    try {
      run(['ip', 'netns', 'add', name])
      run(['ip', 'netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up'])
      const args: string[] = []
      for (const { name: service, port } of outbound) {
        const socket = join(dir, `out-${port}.sock`)
        const proxy = await ToxicProxy.start({ host: '127.0.0.1', port }, { path: socket })
        proxies.push(proxy)
        links.set(service, proxy)
        args.push('--out', `${port}=${socket}`)
      }
      for (const port of inbound) {
        const socket = join(dir, `in-${port}.sock`)
        args.push('--in', `${socket}=${port}`)
      }
      bridge = Bun.spawn(
        ['ip', 'netns', 'exec', name, process.execPath, join(import.meta.dir, 'netns-bridge.ts'), ...args],
        { stdin: 'pipe', stdout: 'pipe', stderr: 'inherit' },
      )
      const reader = (bridge.stdout as ReadableStream<Uint8Array>).getReader()
      let timer: ReturnType<typeof setTimeout> | undefined
      const first = await Promise.race([
        reader.read().then((r) => new TextDecoder().decode(r.value ?? new Uint8Array())),
        new Promise<string>((resolve) => {
          timer = setTimeout(() => resolve('no answer within 15 s'), 15_000)
        }),
      ])
      clearTimeout(timer)
      reader.releaseLock()
      if (!first.startsWith('ready')) throw new Error(`the namespace bridge did not start: ${first}`)
      // Inbound: the host listens on the same port number as the node inside, through the bridge's socket.
      for (const port of inbound) {
        proxies.push(
          await ToxicProxy.start({ path: join(dir, `in-${port}.sock`) }, { host: '127.0.0.1', port }),
        )
      }
      const ns = new Netns(name, dir, bridge, proxies, links)
      created.add(ns)
      return ns
    } catch (err) {
      bridge?.kill('SIGKILL')
      await Promise.allSettled(proxies.map((p) => p.close()))
      runQuietly(['ip', 'netns', 'del', name])
      rmSync(dir, { recursive: true, force: true })
      throw err
    }
  }

  /** Stops the bridge and the proxies and deletes the namespace (kill the processes inside first). */
  async delete(): Promise<void> {
    created.delete(this)
    this.#bridge.kill('SIGKILL')
    await this.#bridge.exited
    await Promise.allSettled(this.#proxies.map((p) => p.close()))
    runQuietly(['ip', 'netns', 'del', this.name])
    rmSync(this.#dir, { recursive: true, force: true })
  }

  /** For an exit handler: synchronous, best effort. */
  static deleteAllSync(): void {
    for (const ns of created) {
      ns.#bridge.kill('SIGKILL')
      runQuietly(['ip', 'netns', 'del', ns.name])
      rmSync(ns.#dir, { recursive: true, force: true })
    }
    created.clear()
  }
}

function run(cmd: string[]): void {
  const result = Bun.spawnSync(cmd, { stderr: 'pipe' })
  if (result.exitCode !== 0)
    throw new Error(`${cmd.join(' ')} failed (${result.exitCode}): ${result.stderr.toString().trim()}`)
}

function runQuietly(cmd: string[]): void {
  Bun.spawnSync(cmd, { stderr: 'ignore', stdout: 'ignore' })
}
