import { describe, expect, test } from 'bun:test'
import { createApi } from '../app.ts'
import { jsonOf, testNode } from '../test-node.ts'

describe('probes', () => {
  test('GET /healthz answers the node health', async () => {
    const res = await createApi(testNode()).request('/healthz')
    expect(res.status).toBe(200)
    expect(await jsonOf(res)).toEqual({ ok: true, uptimeSeconds: 12 })
  })

  test('GET /readyz is 200 when ready', async () => {
    const res = await createApi(testNode()).request('/readyz')
    expect(res.status).toBe(200)
    expect(await jsonOf(res)).toEqual({ ready: true, reasons: [] })
  })

  test('GET /readyz is 503 with the reasons when not ready', async () => {
    const node = testNode({ readiness: () => ({ ready: false, reasons: ['draining'] }) })
    const res = await createApi(node).request('/readyz')
    expect(res.status).toBe(503)
    expect(await jsonOf(res)).toEqual({ ready: false, reasons: ['draining'] })
  })

  test('GET /metrics answers with the content type of the metrics', async () => {
    const res = await createApi(testNode()).request('/metrics')
    expect(res.status).toBe(200)
    expect(res.headers.get('Content-Type')).toBe('text/plain; version=0.0.4; charset=utf-8')
    expect(await res.text()).toBe('baton_up 1\n')
  })
})
