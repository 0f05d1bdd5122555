/**
 * A small TCP (or Unix socket) proxy with toxiproxy-like toxics, to fault the link between one baton node
 * and one service: a node is given the proxy's address instead of the service's (or reaches it through
 * a network namespace's bridge, see netns.ts), and the test turns toxics on and off while traffic flows.
 *
 * Toxics act on every connection, open or new, in both directions:
 * - `latency(ms)`: every chunk is held `ms` before it is passed on (order kept).
 * - `bandwidth(bytesPerSec)`: each direction is throttled to that rate.
 * - `blackhole()`: nothing passes, nothing is lost, no connection is closed: what a dropped route does to
 *   TCP until it comes back. Readers stop reading when their queue is full, so memory stays bounded.
 * - `reset()`: every open connection is cut with a TCP RST, and new ones are cut at once, until `heal()`.
 * - `corrupt(pattern)`: one bit of the first byte of every occurrence of `pattern` is flipped, also when
 *   the pattern spans two reads (a tail that may begin it is held until the next read, at most 20 ms):
 *   what a damaged link or disk does to the bytes, here aimed at chosen bytes (a marker in a record value).
 * `heal()` removes them all; held data then flows on.
 *
 * `hold(direction)` acts on the connections open at that moment only: one direction of each stops passing
 * data (held, not lost), while new connections pass as usual. That is a request whose answer never comes
 * (`'down'`) or that never arrives (`'up'`), on a connection the client keeps waiting on. `heal()` ends it.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net'

/** Where a proxy listens or connects: a loopback TCP port or a Unix socket path. */
export type Address = { readonly host: string; readonly port: number } | { readonly path: string }

export interface Toxics {
  latencyMs: number
  /** Bytes per second in each direction; 0: unlimited. */
  bandwidth: number
  blackhole: boolean
  reset: boolean
  /** Flip a bit of every occurrence of these bytes; null: pass bytes untouched. */
  corrupt: Buffer | null
}

const none: Toxics = { latencyMs: 0, bandwidth: 0, blackhole: false, reset: false, corrupt: null }
/** How long a held tail that may begin the corrupt pattern waits for the next read. */
const corruptHoldMs = 20
/** A reader stops reading while this much waits to be passed on. */
const maxQueuedBytes = 1024 * 1024

export class ToxicProxy {
  readonly #server: Server
  readonly #upstream: Address
  readonly #links = new Set<Link>()
  /** The client-to-server (`up`) or server-to-client (`down`) links that `hold` stopped. */
  readonly #held = new Set<Link>()
  readonly #sockets = new Set<Socket>()
  #toxics: Toxics = { ...none }
  #address: Address | null = null
  /** Connections accepted, and cut by a `reset` toxic, since the start. */
  readonly counts = { accepted: 0, reset: 0 }

  private constructor(upstream: Address) {
    this.#upstream = upstream
    this.#server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) =>
      this.#accept(socket),
    )
  }

  /**
   * Starts a proxy to `upstream`, listening on `listen` (default: a free 127.0.0.1 port).
   *
   * @example
   * const pg = await ToxicProxy.start({ host: '127.0.0.1', port: 5432 })
   * // DATABASE_URL=postgres://postgres@127.0.0.1:${pg.port}/baton
   * pg.toxics({ latencyMs: 200 }); …; pg.heal()
   */
  static async start(
    upstream: Address,
    listen: Address = { host: '127.0.0.1', port: 0 },
  ): Promise<ToxicProxy> {
    const proxy = new ToxicProxy(upstream)
    await new Promise<void>((resolve, reject) => {
      proxy.#server.once('error', reject)
      const done = () => {
        proxy.#server.off('error', reject)
        resolve()
      }
      if ('path' in listen) proxy.#server.listen(listen.path, done)
      else proxy.#server.listen(listen.port, listen.host, done)
    })
    const bound = proxy.#server.address()
    proxy.#address =
      'path' in listen
        ? listen
        : { host: listen.host, port: typeof bound === 'object' && bound ? bound.port : listen.port }
    return proxy
  }

  /** The TCP port it listens on (throws for a Unix socket proxy). */
  get port(): number {
    if (!this.#address || 'path' in this.#address) throw new Error('this proxy listens on a Unix socket')
    return this.#address.port
  }

  get current(): Readonly<Toxics> {
    return this.#toxics
  }

  /** Sets the given toxics (the others stay as they are). */
  toxics(change: Partial<Toxics>): void {
    this.#toxics = { ...this.#toxics, ...change }
    if (this.#toxics.reset) for (const socket of this.#sockets) this.#cut(socket)
    for (const link of this.#links) link.pump()
  }

  /** Stops one direction of every connection open now (see the class comment) until `heal()`. */
  hold(direction: 'up' | 'down'): void {
    for (const link of this.#links) if (link.direction === direction) this.#held.add(link)
    for (const link of this.#held) link.held = true
  }

  /** Removes every toxic and hold; data held by a blackhole, a hold or latency flows on. */
  heal(): void {
    for (const link of this.#held) link.held = false
    this.#held.clear()
    this.toxics({ ...none })
  }

  /** Stops listening and cuts every connection. */
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  #accept(client: Socket): void {
    this.counts.accepted++
    this.#track(client)
    if (this.#toxics.reset) {
      this.#cut(client)
      return
    }
    const upstream =
      'path' in this.#upstream
        ? createConnection({ path: this.#upstream.path, allowHalfOpen: true })
        : createConnection({ host: this.#upstream.host, port: this.#upstream.port, allowHalfOpen: true })
    this.#track(upstream)
    const toxics = () => this.#toxics
    const up = new Link(client, upstream, toxics, 'up')
    const down = new Link(upstream, client, toxics, 'down')
    for (const link of [up, down]) {
      this.#links.add(link)
      link.onDone = () => {
        this.#links.delete(link)
        this.#held.delete(link)
      }
    }
    const fail = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('error', fail)
    upstream.on('error', fail)
    client.on('close', fail)
    upstream.on('close', fail)
    client.resume()
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket)
    socket.on('close', () => this.#sockets.delete(socket))
  }

  #cut(socket: Socket): void {
    this.counts.reset++
    const rst = (socket as Socket & { resetAndDestroy?: () => Socket }).resetAndDestroy
    if (typeof rst === 'function') rst.call(socket)
    else socket.destroy()
  }
}

/** One direction of one connection: reads `from`, applies the toxics, writes `to`. */
class Link {
  readonly #from: Socket
  readonly #to: Socket
  readonly #toxics: () => Toxics
  readonly #queue: { chunk: Buffer; at: number }[] = []
  #queued = 0
  #ended = false
  #timer: ReturnType<typeof setTimeout> | null = null
  /** The end of the last read, held because it may begin the corrupt pattern. */
  #held: Buffer | null = null
  #heldTimer: ReturnType<typeof setTimeout> | null = null
  /** When the bandwidth toxic next lets bytes through (ms, performance clock). */
  #nextSendAt = 0
  /** Set by `ToxicProxy.hold`: nothing passes until it is cleared. */
  held = false
  onDone: () => void = () => {}

  constructor(
    from: Socket,
    to: Socket,
    toxics: () => Toxics,
    readonly direction: 'up' | 'down',
  ) {
    this.#from = from
    this.#to = to
    this.#toxics = toxics
    from.on('data', (chunk: Buffer) => this.#take(chunk))
    from.on('end', () => {
      this.#release()
      this.#ended = true
      this.pump()
    })
    to.on('drain', () => this.pump())
    from.on('close', () => this.#stop())
    to.on('close', () => this.#stop())
  }

  #take(read: Buffer): void {
    let chunk = read
    if (this.#held) {
      chunk = Buffer.concat([this.#held, chunk])
      this.#held = null
      if (this.#heldTimer) clearTimeout(this.#heldTimer)
    }
    const pattern = this.#toxics().corrupt
    if (pattern && pattern.length > 0) {
      for (let at = chunk.indexOf(pattern); at >= 0; at = chunk.indexOf(pattern, at + 1))
        chunk[at] = (chunk[at] as number) ^ 0x01
      const tail = partialMatchAtEnd(chunk, pattern)
      if (tail > 0) {
        this.#held = chunk.subarray(chunk.length - tail)
        chunk = chunk.subarray(0, chunk.length - tail)
        this.#heldTimer = setTimeout(() => this.#release(), corruptHoldMs)
      }
    }
    this.#enqueue(chunk)
  }

  /** Passes on a held tail (the pattern did not follow in time, or the stream ended). */
  #release(): void {
    if (this.#heldTimer) clearTimeout(this.#heldTimer)
    this.#heldTimer = null
    const held = this.#held
    this.#held = null
    if (held) this.#enqueue(held)
  }

  #enqueue(chunk: Buffer): void {
    if (chunk.length === 0) return
    this.#queue.push({ chunk, at: performance.now() })
    this.#queued += chunk.length
    if (this.#queued >= maxQueuedBytes) this.#from.pause()
    this.pump()
  }

  pump(): void {
    if (this.#timer) {
      clearTimeout(this.#timer)
      this.#timer = null
    }
    const toxics = this.#toxics()
    while (this.#queue.length > 0) {
      if (toxics.blackhole || toxics.reset || this.held || this.#to.destroyed) return
      if (this.#to.writableNeedDrain) return
      const head = this.#queue[0] as { chunk: Buffer; at: number }
      const now = performance.now()
      const due = Math.max(head.at + toxics.latencyMs, toxics.bandwidth > 0 ? this.#nextSendAt : 0)
      if (due > now) {
        this.#timer = setTimeout(() => this.pump(), Math.ceil(due - now))
        return
      }
      let chunk = head.chunk
      if (toxics.bandwidth > 0) {
        // At most 50 ms worth at once, so a throttled link trickles instead of bursting.
        const slice = Math.max(1, Math.floor(toxics.bandwidth / 20))
        if (chunk.length > slice) {
          head.chunk = chunk.subarray(slice)
          chunk = chunk.subarray(0, slice)
        } else this.#queue.shift()
        this.#nextSendAt = Math.max(now, this.#nextSendAt) + (chunk.length / toxics.bandwidth) * 1000
      } else this.#queue.shift()
      this.#queued -= chunk.length
      this.#to.write(chunk)
      if (this.#queued < maxQueuedBytes / 2 && this.#from.isPaused()) this.#from.resume()
    }
    if (this.#ended && !this.#to.destroyed) this.#to.end()
  }

  #stop(): void {
    if (this.#heldTimer) clearTimeout(this.#heldTimer)
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    this.onDone()
  }
}

/** The length of the longest proper prefix of `pattern` that `chunk` ends with (0: none). */
function partialMatchAtEnd(chunk: Buffer, pattern: Buffer): number {
  for (let n = Math.min(pattern.length - 1, chunk.length); n > 0; n--) {
    if (chunk.subarray(chunk.length - n).equals(pattern.subarray(0, n))) return n
  }
  return 0
}
