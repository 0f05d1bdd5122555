import { afterEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { until } from '../support/until.ts'
import { ToxicProxy } from './toxic-proxy.ts'

/** An echo server on a free loopback port (or a Unix socket). */
async function echo(path?: string): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => s.pipe(s))
  await new Promise<void>((resolve) =>
    path ? server.listen(path, resolve) : server.listen(0, '127.0.0.1', resolve),
  )
  const address = server.address()
  return { server, port: typeof address === 'object' && address ? address.port : 0 }
}

function connect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => resolve(socket))
    socket.once('error', reject)
  })
}

/** Sends `bytes` and resolves with the ms until all came back (or rejects when the socket closes first). */
function roundTrip(socket: Socket, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const began = performance.now()
    let got = 0
    const onData = (chunk: Buffer) => {
      got += chunk.length
      if (got >= bytes) {
        socket.off('data', onData)
        socket.off('close', onClose)
        resolve(performance.now() - began)
      }
    }
    const onClose = () => reject(new Error(`closed after ${got} of ${bytes} bytes`))
    socket.on('data', onData)
    socket.once('close', onClose)
    socket.write(Buffer.alloc(bytes, 7))
  })
}

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function setup() {
  const { server, port } = await echo()
  const proxy = await ToxicProxy.start({ host: '127.0.0.1', port })
  const socket = await connect(proxy.port)
  cleanups.push(
    () => new Promise<void>((r) => server.close(() => r())),
    () => proxy.close(),
    () => {
      socket.destroy()
    },
  )
  return { proxy, socket }
}

describe('toxic proxy', () => {
  test('passes bytes both ways untouched without toxics', async () => {
    const { socket } = await setup()
    expect(await roundTrip(socket, 100_000)).toBeGreaterThan(0)
  })

  test('latency holds each direction back by at least the given time', async () => {
    const { proxy, socket } = await setup()
    proxy.toxics({ latencyMs: 150 })
    // Both directions: at least 300 ms for a round trip.
    expect(await roundTrip(socket, 10)).toBeGreaterThanOrEqual(295)
    proxy.heal()
    expect(await roundTrip(socket, 10)).toBeLessThan(295)
  })

  test('bandwidth throttles: 40 KB at 100 KB/s take at least 0.35 s to pass', async () => {
    const { proxy, socket } = await setup()
    proxy.toxics({ bandwidth: 100_000 })
    // The echo sends back what arrives at once, so the two directions overlap: 0.4 s in all, not 0.8.
    expect(await roundTrip(socket, 40_000)).toBeGreaterThanOrEqual(350)
  })

  test('a blackhole holds data without losing or closing anything; heal delivers it', async () => {
    const { proxy, socket } = await setup()
    proxy.toxics({ blackhole: true })
    let got = 0
    socket.on('data', (c: Buffer) => {
      got += c.length
    })
    socket.write(Buffer.alloc(5_000, 1))
    await Bun.sleep(300)
    expect(got).toBe(0)
    expect(socket.destroyed).toBe(false)
    proxy.heal()
    const deadline = Date.now() + 5_000
    while (got < 5_000 && Date.now() < deadline) await Bun.sleep(20)
    expect(got).toBe(5_000)
  })

  test('hold stops one direction of the connections open now; new ones pass; heal delivers what was held', async () => {
    const { proxy, socket } = await setup()
    let got = 0
    socket.on('data', (c: Buffer) => {
      got += c.length
    })
    proxy.hold('down')
    // The echo server gets the bytes (up still passes) and answers, but the answer is held.
    socket.write(Buffer.alloc(3_000, 1))
    const later = await connect(proxy.port)
    cleanups.push(() => {
      later.destroy()
    })
    expect(await roundTrip(later, 10)).toBeGreaterThan(0)
    expect(got).toBe(0)
    expect(socket.destroyed).toBe(false)
    proxy.heal()
    await until('the held answer delivered', 5_000, async () => (got >= 3_000 ? true : undefined), 20)
    expect(got).toBe(3_000)
  })

  test('reset cuts open connections and refuses new ones until heal', async () => {
    const { proxy, socket } = await setup()
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
    socket.on('error', () => {})
    proxy.toxics({ reset: true })
    await closed
    const during = await connect(proxy.port)
    during.on('error', () => {})
    await expect(roundTrip(during, 10)).rejects.toThrow('closed')
    proxy.heal()
    const after = await connect(proxy.port)
    cleanups.push(() => {
      after.destroy()
    })
    expect(await roundTrip(after, 10)).toBeGreaterThan(0)
    expect(proxy.counts.reset).toBeGreaterThanOrEqual(2)
  })

  test('listens on and connects to Unix sockets (the network namespace bridges)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-proxy-'))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const { server } = await echo(join(dir, 'echo.sock'))
    const inner = await ToxicProxy.start({ path: join(dir, 'echo.sock') }, { path: join(dir, 'proxy.sock') })
    const outer = await ToxicProxy.start({ path: join(dir, 'proxy.sock') })
    cleanups.push(
      () => new Promise<void>((r) => server.close(() => r())),
      () => inner.close(),
      () => outer.close(),
    )
    const socket = await connect(outer.port)
    cleanups.push(() => {
      socket.destroy()
    })
    expect(await roundTrip(socket, 50_000)).toBeGreaterThan(0)
  })

  test('corrupt flips a bit of every occurrence of the pattern, also when it spans two writes', async () => {
    const { proxy, socket } = await setup()
    proxy.toxics({ corrupt: Buffer.from('MARK') })
    const received: Buffer[] = []
    socket.on('data', (chunk: Buffer) => received.push(chunk))
    const expected = 'a-LARK-b-LARK-c'
    const done = new Promise<void>((resolve) => {
      const check = () => {
        if (Buffer.concat(received).length >= expected.length) resolve()
        else setTimeout(check, 5)
      }
      check()
    })
    socket.write('a-MARK-b-MA')
    // A separate write, usually a separate read at the proxy: the held 'MA' must still be caught.
    await Bun.sleep(5)
    socket.write('RK-c')
    await done
    // Flipped on the way out (M ^ 1 = L); the echo's way back no longer matches.
    expect(Buffer.concat(received).toString()).toBe(expected)
    proxy.heal()
  })
})
