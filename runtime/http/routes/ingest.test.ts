import { describe, expect, test } from 'bun:test'
import { createApi } from '../app.ts'
import { jsonOf, testNode } from '../test-node.ts'

const post = (
  body: string | Uint8Array | ReadableStream,
  headers: Record<string, string> = {},
  topic = 'events',
): Request => new Request(`http://baton.test/v1/topics/${topic}/events`, { method: 'POST', body, headers })

function ingested(node: ReturnType<typeof testNode>) {
  return node.calls.filter((c) => c.method === 'ingest')
}

describe('POST /v1/topics/:topic/events', () => {
  test('a JSON array reaches node.ingest parsed, and its results are the answer', async () => {
    const node = testNode()
    const body = JSON.stringify([
      { key: 'a', value: { n: 1 }, headers: { h: 'v' }, time: '2024-05-01T12:00:00Z' },
      { value: 2 },
    ])
    const res = await createApi(node).request(post(body, { 'Content-Type': 'application/json' }))
    expect(res.status).toBe(200)
    expect(await jsonOf(res)).toEqual({
      accepted: 2,
      results: [
        { partition: 0, offset: 0 },
        { partition: 1, offset: 1 },
      ],
    })
    expect(ingested(node)).toEqual([
      {
        method: 'ingest',
        args: [
          'events',
          [{ key: 'a', value: '{"n":1}', headers: { h: 'v' }, time: 1_714_564_800_000 }, { value: '2' }],
        ],
      },
    ])
  })

  test('NDJSON by content type reaches node.ingest parsed', async () => {
    const node = testNode()
    const res = await createApi(node).request(
      post('{"key":"a","value":1}\n{"key":null,"value":[2]}\n', { 'Content-Type': 'application/x-ndjson' }),
    )
    expect(res.status).toBe(200)
    expect((await jsonOf(res)).accepted).toBe(2)
    expect(ingested(node)[0]?.args).toEqual([
      'events',
      [
        { key: 'a', value: '1' },
        { key: null, value: '[2]' },
      ],
    ])
  })

  test('the answer waits for node.ingest to resolve', async () => {
    let release = () => {}
    const durable = new Promise<void>((resolve) => {
      release = resolve
    })
    const node = testNode({
      ingest: async () => {
        await durable
        return [{ partition: 3, offset: 7 }]
      },
    })
    let answered = false
    const pending = Promise.resolve(createApi(node).request(post('[{"value":1}]'))).then((res) => {
      answered = true
      return res
    })
    await Bun.sleep(0)
    expect(answered).toBe(false)
    release()
    expect(await jsonOf(await pending)).toEqual({ accepted: 1, results: [{ partition: 3, offset: 7 }] })
  })

  test.each([
    ['malformed JSON array', '[{"value":1},\n{"value":}]', {}, 'event at index 1 (line 2) is not valid JSON'],
    [
      'malformed NDJSON',
      '{"value":1}\n{"value":2\n',
      { 'Content-Type': 'application/x-ndjson' },
      'line 2 is not valid JSON',
    ],
    ['value missing', '[{"value":1},{"key":"k"}]', {}, 'event at index 1: "value" is missing'],
    ['key a number', '{"key":5,"value":1}', {}, 'line 1: "key" must be a string or null'],
    ['headers not strings', '{"value":1,"headers":{"h":true}}', {}, 'line 1: header "h" must be a string'],
    ['empty body', '', {}, 'the body is empty'],
    ['empty array', ' [ ] ', {}, 'no events'],
    ['body not UTF-8', new Uint8Array([0x5b, 0xff, 0x5d]), {}, 'not valid UTF-8'],
  ])('%s is 400 with a JSON error naming what is wrong', async (_, body, headers, message) => {
    const node = testNode()
    const res = await createApi(node).request(post(body, headers))
    expect(res.status).toBe(400)
    expect(await jsonOf(res)).toEqual({ error: 'BAD_REQUEST', message: expect.stringContaining(message) })
    expect(ingested(node)).toEqual([])
  })

  test('a topic name with bad characters is 400, a topic not served 404', async () => {
    const node = testNode()
    const bad = await createApi(node).request(post('[{"value":1}]', {}, 'a%2Fb'))
    expect(bad.status).toBe(400)
    expect((await jsonOf(bad)).message).toContain('not a valid topic name')
    const unknown = await createApi(node).request(post('[{"value":1}]', {}, 'clicks'))
    expect(unknown.status).toBe(404)
    expect((await jsonOf(unknown)).message).toContain('topic "clicks" is not served by this node')
    expect(ingested(node)).toEqual([])
  })

  test('a body over the limit is 413, also when streamed without Content-Length', async () => {
    const node = testNode()
    const app = createApi(node, { maxBodyBytes: 1000 })
    const big = JSON.stringify([{ value: 'x'.repeat(1000) }])
    const declared = await app.request(post(big))
    expect(declared.status).toBe(413)
    expect(await jsonOf(declared)).toEqual({
      error: 'PAYLOAD_TOO_LARGE',
      message: expect.stringContaining('larger than 1000 bytes'),
    })

    let pulled = 0
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++
        controller.enqueue(new TextEncoder().encode('x'.repeat(400)))
        if (pulled === 100) controller.close()
      },
    })
    const streamed = await app.request(
      new Request('http://baton.test/v1/topics/events/events', {
        method: 'POST',
        body: stream,
        duplex: 'half',
      }),
    )
    expect(streamed.status).toBe(413)
    expect(pulled).toBeLessThan(10) // refused while reading, not after buffering all 40,000 bytes
    expect(ingested(node)).toEqual([])
  })

  test('an event over the per-event limit is 413 naming its index', async () => {
    const node = testNode()
    const body = JSON.stringify([{ value: 1 }, { value: 2 }, { value: 'x'.repeat(300) }])
    const res = await createApi(node, { maxEventBytes: 256 }).request(post(body))
    expect(res.status).toBe(413)
    expect((await jsonOf(res)).message).toStartWith('event at index 2 is 302 bytes')
    expect(ingested(node)).toEqual([])
  })

  test('more events than maxEventsPerRequest is 413', async () => {
    const res = await createApi(testNode(), { maxEventsPerRequest: 2 }).request(
      post('[{"value":1},{"value":2},{"value":3}]'),
    )
    expect(res.status).toBe(413)
    expect((await jsonOf(res)).message).toContain('at most 2 events')
  })
})
