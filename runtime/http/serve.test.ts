import { describe, expect, test } from 'bun:test'
import { Hono } from 'hono'
import { serve } from './serve.ts'

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
