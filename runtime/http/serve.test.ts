import { describe, expect, test } from 'bun:test'
import { Hono } from 'hono'
import { isBatonError } from '../../actors/core/errors.ts'
import { type ListenOptions, listen, type Server } from './serve.ts'

function serve(app: Hono, options: ListenOptions): Server {
  const listener = listen(options)
  listener.attach(app)
  return listener
}

/** What `listen` threw, for assertions on its code and message. */
function listenError(options: ListenOptions): unknown {
  try {
    listen(options)
  } catch (err) {
    return err
  }
  throw new Error(`listen on ${options.host}:${options.port} succeeded`)
}

describe('listen', () => {
  test('binds at once and answers 503 NODE_STARTING until an app is attached', async () => {
    const listener = listen({ host: '127.0.0.1', port: 0 })
    const before = await fetch(`${listener.url}readyz`)
    expect(before.status).toBe(503)
    expect(((await before.json()) as { error: string }).error).toBe('NODE_STARTING')
    listener.attach(new Hono().get('/readyz', (c) => c.text('ready')))
    expect(await (await fetch(`${listener.url}readyz`)).text()).toBe('ready')
    await listener.stop()
  })

  test('a port another process holds is LISTEN_FAILED naming the port and BATON_HTTP_PORT', async () => {
    const holder = listen({ host: '127.0.0.1', port: 0 })
    const port = Number(new URL(holder.url).port)
    const err = listenError({ host: '127.0.0.1', port })
    await holder.stop()
    expect(isBatonError(err, 'LISTEN_FAILED')).toBe(true)
    expect((err as Error).message).toContain(`127.0.0.1:${port}`)
    expect((err as Error).message).toContain(`port ${port} is in use`)
    expect((err as Error).message).toContain('BATON_HTTP_PORT')
  })

  test('an address this machine does not have is LISTEN_FAILED naming BATON_HTTP_HOST', () => {
    // 192.0.2.0/24 is reserved for documentation (RFC 5737): no machine has it. Binding sends nothing.
    const err = listenError({ host: '192.0.2.1', port: 0 })
    expect(isBatonError(err, 'LISTEN_FAILED')).toBe(true)
    expect((err as Error).message).toContain('192.0.2.1')
    expect((err as Error).message).toContain('BATON_HTTP_HOST')
  })
})

describe('serve', () => {
  test('listens on the asked host, reports the real port, and stops', async () => {
    const server = serve(
      new Hono().get('/', (c) => c.text('up')),
      { host: '127.0.0.1', port: 0 },
    )
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
    expect(await (await fetch(server.url)).text()).toBe('up')
    await server.stop()
    await expect(fetch(server.url)).rejects.toThrow()
  })

  test('stop lets a request in flight finish', async () => {
    let release = () => {}
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    let entered = () => {}
    const inside = new Promise<void>((resolve) => {
      entered = resolve
    })
    const app = new Hono().get('/slow', async (c) => {
      entered()
      await gate
      return c.text('done')
    })
    const server = serve(app, { host: '127.0.0.1', port: 0 })
    const answer = fetch(`${server.url}slow`)
    await inside
    const stopped = server.stop()
    release()
    expect(await (await answer).text()).toBe('done')
    await stopped
  })

  test('stop closes what is still open after the grace period', async () => {
    let entered = () => {}
    const inside = new Promise<void>((resolve) => {
      entered = resolve
    })
    const app = new Hono().get('/stuck', async () => {
      entered()
      return new Promise<Response>(() => {})
    })
    const server = serve(app, { host: '127.0.0.1', port: 0 })
    const answer = fetch(`${server.url}stuck`).catch((err: unknown) => err)
    await inside
    await server.stop(50)
    expect(await answer).toBeInstanceOf(Error)
  })
})
