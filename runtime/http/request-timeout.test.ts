import { describe, expect, test } from 'bun:test'
import { Hono } from 'hono'
import { isBatonError } from '../../actors/core/errors.ts'
import { ManualClock } from '../../actors/core/index.ts'
import { requestTimeout } from './request-timeout.ts'

/** An app whose one route answers when `release` is called; errors answer with their code. */
function slowApp(clock: ManualClock) {
  let release = () => {}
  const app = new Hono()
  app.use(requestTimeout(1_000, clock))
  app.get('/', async (c) => {
    await new Promise<void>((resolve) => {
      release = resolve
    })
    return c.text('done')
  })
  app.onError((err, c) => c.text(isBatonError(err) ? err.code : `other: ${err.message}`, 503))
  return { app, release: () => release() }
}

describe('requestTimeout', () => {
  test('a request still running when the time is up answers REQUEST_TIMEOUT, not before', async () => {
    const clock = new ManualClock()
    const { app } = slowApp(clock)
    let answer: Response | null = null
    const pending = Promise.resolve(app.request('/')).then((r) => {
      answer = r
    })
    await clock.advance(999)
    expect(answer).toBeNull()
    // Answered within the advance: a real timer would answer only a real second later.
    await clock.advance(1)
    expect(await (answer as Response | null)?.text()).toBe('REQUEST_TIMEOUT')
    await pending
  })

  test('a request that finishes in time answers as usual and leaves no timer behind', async () => {
    const clock = new ManualClock()
    const { app, release } = slowApp(clock)
    const pending = Promise.resolve(app.request('/'))
    await clock.advance(500)
    release()
    expect(await (await pending).text()).toBe('done')
    expect(clock.pendingTimers).toBe(0)
  })
})
