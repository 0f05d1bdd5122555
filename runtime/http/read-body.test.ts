import { describe, expect, test } from 'bun:test'
import { BatonError } from '../../actors/core/errors.ts'
import { readJson, readText } from './read-body.ts'

const request = (body: string | Uint8Array | ReadableStream | null, headers: Record<string, string> = {}) =>
  new Request('http://baton.test/', { method: 'POST', body, headers, duplex: 'half' } as RequestInit)

describe('readText', () => {
  test('reads a body up to the limit exactly', async () => {
    expect(await readText(request('é'.repeat(5)), 10)).toBe('ééééé')
  })

  test('an empty or absent body is the empty string', async () => {
    expect(await readText(request(null), 10)).toBe('')
  })

  test('a declared Content-Length over the limit is refused before reading', async () => {
    const stream = new ReadableStream({
      pull() {
        throw new Error('must not be read')
      },
    })
    const err = await readText(request(stream, { 'Content-Length': '11' }), 10).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(BatonError)
    expect((err as BatonError).code).toBe('PAYLOAD_TOO_LARGE')
  })

  test('a body larger than it declared is still cut off at the limit', async () => {
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new Uint8Array(8))
        controller.enqueue(new Uint8Array(8))
        controller.close()
      },
    })
    const err = await readText(request(stream, { 'Content-Length': '5' }), 10).catch((e: unknown) => e)
    expect((err as BatonError).code).toBe('PAYLOAD_TOO_LARGE')
  })

  test('a multi-byte character split across chunks decodes whole', async () => {
    const bytes = new TextEncoder().encode('€')
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(bytes.slice(0, 1))
        controller.enqueue(bytes.slice(1))
        controller.close()
      },
    })
    expect(await readText(request(stream), 10)).toBe('€')
  })
})

describe('readJson', () => {
  test('parses JSON and names the expected shape when empty or malformed', async () => {
    expect(await readJson(request('{"a":1}'), 100, '{"a": 1}')).toEqual({ a: 1 })
    await expect(readJson(request(' '), 100, '{"a": 1}')).rejects.toThrow('empty; send JSON like {"a": 1}')
    await expect(readJson(request('{'), 100, '{"a": 1}')).rejects.toThrow('not valid JSON')
  })
})
