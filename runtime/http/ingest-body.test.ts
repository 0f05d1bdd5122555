import { describe, expect, test } from 'bun:test'
import { BatonError } from '../../actors/core/errors.ts'
import { ingestFormat, parseIngestBody } from './ingest-body.ts'

const limits = { maxEventBytes: 1024, maxEvents: 5 }

function failure(body: string, format = ingestFormat(undefined, body), custom = limits): BatonError {
  try {
    parseIngestBody(body, format, custom)
  } catch (err) {
    if (err instanceof BatonError) return err
    throw err
  }
  throw new Error('expected the body to be refused')
}

describe('ingestFormat', () => {
  test('the NDJSON content type wins over sniffing', () => {
    expect(ingestFormat('application/x-ndjson; charset=utf-8', '[1]')).toBe('ndjson')
  })
  test('a body starting with [ after spaces is a JSON array', () => {
    expect(ingestFormat('application/json', ' \n\t[{"value":1}]')).toBe('json-array')
  })
  test('anything else is NDJSON, so one bare object is one event', () => {
    expect(ingestFormat(undefined, '{"value":1}')).toBe('ndjson')
  })
})

describe('parseIngestBody', () => {
  test('a JSON array keeps each known field and turns an ISO time into ms', () => {
    const body = JSON.stringify([
      { key: 'k', value: { a: 1 }, headers: { h: 'v' }, time: '1970-01-01T00:00:01Z' },
      { key: null, value: null, time: 5 },
      { value: 'x' },
    ])
    expect(parseIngestBody(body, 'json-array', limits)).toEqual([
      { key: 'k', value: '{"a":1}', headers: { h: 'v' }, time: 1000 },
      { key: null, value: 'null', time: 5 },
      { value: '"x"' },
    ])
  })

  test('rawValue is stored as given; value and rawValue together, or a non-string rawValue, are refused', () => {
    expect(parseIngestBody('{"rawValue":"not json {"}', 'ndjson', limits)).toEqual([{ value: 'not json {' }])
    expect(failure('{"value":1,"rawValue":"x"}', 'ndjson').message).toContain('rawValue')
    expect(failure('{"rawValue":5}', 'ndjson').message).toContain('"rawValue" must be a string')
  })

  test('NDJSON skips blank lines and accepts CRLF', () => {
    expect(parseIngestBody('{"value":1}\r\n\n  \n{"key":"b","value":2}\n', 'ndjson', limits)).toEqual([
      { value: '1' },
      { key: 'b', value: '2' },
    ])
  })

  test('an empty body and an empty array are refused', () => {
    expect(failure('  \n').message).toContain('the body is empty')
    expect(failure('[]').message).toContain('no events')
  })

  test.each([
    ['[{"value":1},\n{"value":2,}]', 'event at index 1 (line 2) is not valid JSON'],
    ['[{"value":1},,{"value":2}]', 'event at index 1 (line 1) is missing'],
    ['[{"value":1},]', 'event at index 1 (line 1) is missing'],
    ['[{"value":1},\n{"value":"a]b"}', '"]" is missing'],
    ['[{"value":1}] x', 'unexpected text after the closing "]"'],
    ['[{"value":"\\"}"}, {"value": tru}]', 'event at index 1 (line 1)'],
  ])('a malformed array %p names the first bad element', (body, expected) => {
    const err = failure(body, 'json-array')
    expect(err.code).toBe('BAD_REQUEST')
    expect(err.message).toContain(expected)
  })

  test('malformed NDJSON names the first bad line', () => {
    const err = failure('{"value":1}\n\n{"value":2\n{oops}\n', 'ndjson')
    expect(err.code).toBe('BAD_REQUEST')
    expect(err.message).toStartWith('line 3 is not valid JSON')
  })

  test.each([
    ['{"key":"k"}', 'line 1: "value" is missing'],
    ['{"key":7,"value":1}', 'line 1: "key" must be a string or null, got number 7'],
    ['{"value":1,"headers":{"a":1}}', 'line 1: header "a" must be a string, got number 1'],
    ['{"value":1,"headers":["a"]}', 'line 1: "headers" must be an object of string values, got an array'],
    ['{"value":1,"time":"yesterday"}', 'line 1: "time" must be milliseconds since the epoch'],
    ['{"value":1,"time":1e300}', 'line 1: "time" must be'],
    ['{"value":1,"partition":3}', 'line 1: unknown field "partition"'],
    ['42', 'line 1: expected an event object'],
  ])('a wrong type in %p is named with its line', (body, expected) => {
    const err = failure(body, 'ndjson')
    expect(err.code).toBe('BAD_REQUEST')
    expect(err.message).toStartWith(expected)
  })

  test('a wrong type in an array is named with its index', () => {
    expect(failure('[{"value":1},{"value":2},{"key":1,"value":3}]').message).toStartWith('event at index 2:')
  })

  test('an oversize event is 413 naming its index; key and headers count toward its size', () => {
    const big = 'x'.repeat(1100)
    const err = failure(JSON.stringify([{ value: 1 }, { value: big }]))
    expect(err.code).toBe('PAYLOAD_TOO_LARGE')
    expect(err.message).toStartWith('event at index 1 is 1102 bytes')
    expect(failure(JSON.stringify([{ key: big, value: 1 }])).code).toBe('PAYLOAD_TOO_LARGE')
    expect(failure(`{"value":1,"headers":{"h":"${big}"}}`, 'ndjson').message).toStartWith('event on line 1')
  })

  test('size is counted in UTF-8 bytes, not characters', () => {
    // 400 three-byte characters: 402 characters serialized, 1202 bytes
    expect(failure(JSON.stringify([{ value: '€'.repeat(400) }])).code).toBe('PAYLOAD_TOO_LARGE')
  })

  test('more events than the limit is 413 in both formats', () => {
    const six = Array.from({ length: 6 }, (_, i) => ({ value: i }))
    expect(failure(JSON.stringify(six)).code).toBe('PAYLOAD_TOO_LARGE')
    expect(failure(six.map((e) => JSON.stringify(e)).join('\n'), 'ndjson').code).toBe('PAYLOAD_TOO_LARGE')
  })

  test('1,000 events of 100-byte values parse in both formats, keeping every field', () => {
    const events = Array.from({ length: 1000 }, (_, i) => ({
      key: `user-${i % 97}`,
      value: { id: i, payload: 'p'.repeat(80) },
      headers: { source: 'test' },
      time: 1_714_564_800_000 + i,
    }))
    const big = { maxEventBytes: 256 * 1024, maxEvents: 10_000 }
    const array = parseIngestBody(JSON.stringify(events), 'json-array', big)
    const ndjson = parseIngestBody(events.map((e) => JSON.stringify(e)).join('\n'), 'ndjson', big)
    expect(array).toEqual(ndjson)
    expect(array).toHaveLength(1000)
    const last = events[999] as (typeof events)[number]
    expect(array[999]).toEqual({ ...last, value: JSON.stringify(last.value) })
  })
})
