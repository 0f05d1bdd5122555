import { BatonError, errorMessage } from '../../actors/core/errors.ts'
import type { IngestEvent } from '../node-api.ts'
import { TIME_HINT, toMillis } from './event-time.ts'

/** Limits on one ingest request, checked while parsing. */
export interface IngestLimits {
  /** Largest event: UTF-8 bytes of its JSON value plus its key and header names and values. */
  readonly maxEventBytes: number
  readonly maxEvents: number
}

/** Which body format a request uses. */
export type IngestFormat = 'json-array' | 'ndjson'

const FIELDS = new Set(['key', 'value', 'rawValue', 'headers', 'time'])
const SHAPE =
  '{"key"?: string | null, "value": <any JSON>, "headers"?: {string: string}, "time"?: ms | ISO string}'

/**
 * The format of an ingest body: NDJSON when the Content-Type says so, a JSON array when the first
 * non-space character is `[`, NDJSON otherwise (so one bare JSON object is one event).
 */
export function ingestFormat(contentType: string | undefined, body: string): IngestFormat {
  const mediaType = contentType?.split(';', 1)[0]?.trim().toLowerCase()
  if (mediaType === 'application/x-ndjson' || mediaType === 'application/ndjson') return 'ndjson'
  const first = /\S/.exec(body)
  return first?.[0] === '[' ? 'json-array' : 'ndjson'
}

/**
 * Parses and validates the body of `POST /v1/topics/:topic/events`: a JSON array of events or NDJSON,
 * one event per line (blank lines skipped). Pure and synchronous. Throws BAD_REQUEST naming the first
 * bad array index or line and what is wrong with it, or PAYLOAD_TOO_LARGE naming the oversize event or
 * the event count over the limit.
 *
 * @example parseIngestBody('{"key":"a","value":1}\n{"value":2}', 'ndjson', limits) // 2 events
 */
export function parseIngestBody(body: string, format: IngestFormat, limits: IngestLimits): IngestEvent[] {
  if (!/\S/.test(body)) {
    throw new BatonError('BAD_REQUEST', `the body is empty; send a JSON array or NDJSON of events ${SHAPE}`)
  }
  return format === 'json-array' ? parseArray(body, limits) : parseLines(body, limits)
}

function parseArray(body: string, limits: IngestLimits): IngestEvent[] {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch (err) {
    throw locateArrayError(body, err)
  }
  if (!Array.isArray(parsed)) throw new BatonError('BAD_REQUEST', `expected a JSON array of events ${SHAPE}`)
  if (parsed.length === 0) {
    throw new BatonError('BAD_REQUEST', `the array holds no events; send at least one ${SHAPE}`)
  }
  if (parsed.length > limits.maxEvents) throw tooMany(limits)
  const events = new Array<IngestEvent>(parsed.length)
  for (let i = 0; i < parsed.length; i++) events[i] = toEvent(parsed[i], i, 'index', limits)
  return events
}

function parseLines(body: string, limits: IngestLimits): IngestEvent[] {
  const events: IngestEvent[] = []
  let line = 0
  for (let start = 0; start <= body.length; ) {
    let end = body.indexOf('\n', start)
    if (end === -1) end = body.length
    line++
    const text = body.slice(start, end)
    start = end + 1
    if (!/\S/.test(text)) continue
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (err) {
      throw new BatonError(
        'BAD_REQUEST',
        `line ${line} is not valid JSON (${errorMessage(err)}); NDJSON needs one complete event object per line, or send a JSON array starting with "["`,
      )
    }
    if (events.length === limits.maxEvents) throw tooMany(limits)
    events.push(toEvent(parsed, line, 'line', limits))
  }
  return events
}

/** Validates one parsed event and copies its known fields; `at` is its array index or line number. */
function toEvent(raw: unknown, at: number, unit: 'index' | 'line', limits: IngestLimits): IngestEvent {
  const fail = (what: string) =>
    new BatonError('BAD_REQUEST', `${unit === 'index' ? `event at index ${at}` : `line ${at}`}: ${what}`)
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw fail(`expected an event object ${SHAPE}, got ${describe(raw)}`)
  }
  const fields = raw as Record<string, unknown>
  for (const name in fields) {
    if (!FIELDS.has(name))
      throw fail(
        `unknown field "${clip(name)}"; an event has only key, value (or rawValue), headers and time`,
      )
  }
  const { key, value, rawValue, headers, time } = fields
  if ('value' in fields === 'rawValue' in fields) {
    throw fail(
      '"value" is missing; it is required and may be any JSON (or give "rawValue", a string stored as it is, instead)',
    )
  }
  if (rawValue !== undefined && typeof rawValue !== 'string') {
    throw fail(`"rawValue" must be a string (stored as its UTF-8 bytes), got ${describe(rawValue)}`)
  }
  // The value is serialized once, here: the log stores these bytes as they are.
  const stored = rawValue !== undefined ? rawValue : JSON.stringify(value)
  let bytes = byteLength(stored)

  if (key !== undefined && key !== null) {
    if (typeof key !== 'string') throw fail(`"key" must be a string or null, got ${describe(key)}`)
    bytes += byteLength(key)
  }
  if (headers !== undefined) {
    if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) {
      throw fail(`"headers" must be an object of string values, got ${describe(headers)}`)
    }
    for (const [name, headerValue] of Object.entries(headers)) {
      if (typeof headerValue !== 'string') {
        throw fail(`header "${clip(name)}" must be a string, got ${describe(headerValue)}`)
      }
      bytes += byteLength(name) + byteLength(headerValue)
    }
  }
  let ms: number | undefined
  if (time !== undefined) {
    ms = toMillis(time)
    if (ms === undefined) throw fail(`"time" must be ${TIME_HINT}, got ${describe(time)}`)
  }
  if (bytes > limits.maxEventBytes) {
    throw new BatonError(
      'PAYLOAD_TOO_LARGE',
      `${unit === 'index' ? `event at index ${at}` : `event on line ${at}`} is ${bytes} bytes; the limit per event is ${limits.maxEventBytes} bytes`,
    )
  }
  const event: { key?: string | null; value: string; headers?: Record<string, string>; time?: number } = {
    value: stored,
  }
  if (key !== undefined) event.key = key as string | null
  if (headers !== undefined) event.headers = headers as Record<string, string>
  if (ms !== undefined) event.time = ms
  return event
}

function tooMany(limits: IngestLimits): BatonError {
  return new BatonError(
    'PAYLOAD_TOO_LARGE',
    `a request may hold at most ${limits.maxEvents} events; split the events over several requests`,
  )
}

/**
 * Finds what makes a body that starts with `[` invalid, for the error message: the first element that
 * does not parse on its own, an empty element (stray comma), a missing `]`, or text after it. Only runs
 * after JSON.parse failed, whose own message carries no position.
 */
function locateArrayError(body: string, cause: unknown): BatonError {
  const bad = (what: string) => new BatonError('BAD_REQUEST', what, { cause })
  let pos = body.indexOf('[') + 1
  for (let index = 0; ; index++) {
    const start = skipSpace(body, pos)
    if (start === body.length)
      return bad(`the array is not closed: "]" is missing at the end (line ${lineOf(body, start)})`)
    const end = elementEnd(body, start)
    const element = body.slice(start, end)
    if (element.trim() === '') {
      if (index === 0 && body[end] === ']') return trailingText(body, end, bad, cause)
      return bad(`event at index ${index} (line ${lineOf(body, start)}) is missing: remove the extra ","`)
    }
    try {
      JSON.parse(element)
    } catch (err) {
      return bad(
        `event at index ${index} (line ${lineOf(body, start)}) is not valid JSON: ${errorMessage(err)}`,
      )
    }
    if (end === body.length)
      return bad(`the array is not closed: "]" is missing at the end (line ${lineOf(body, end)})`)
    if (body[end] === ']') return trailingText(body, end, bad, cause)
    pos = end + 1
  }
}

function trailingText(
  body: string,
  close: number,
  bad: (what: string) => BatonError,
  cause: unknown,
): BatonError {
  const after = skipSpace(body, close + 1)
  if (after < body.length) {
    return bad(
      `unexpected text after the closing "]" on line ${lineOf(body, after)}; send one JSON array per request`,
    )
  }
  return bad(`the body is not valid JSON: ${errorMessage(cause)}`)
}

/** The end of the array element starting at `start`: the next `,` or `]` outside strings and nesting. */
function elementEnd(body: string, start: number): number {
  let depth = 0
  for (let i = start; i < body.length; i++) {
    const ch = body[i]
    if (ch === '"') {
      for (i++; i < body.length && body[i] !== '"'; i++) if (body[i] === '\\') i++
    } else if (ch === '[' || ch === '{') depth++
    else if ((ch === ',' || ch === ']') && depth === 0) return i
    else if ((ch === ']' || ch === '}') && depth > 0) depth--
  }
  return body.length
}

function skipSpace(body: string, from: number): number {
  let i = from
  while (i < body.length && /\s/.test(body[i] as string)) i++
  return i
}

function lineOf(body: string, pos: number): number {
  let line = 1
  for (let i = body.indexOf('\n'); i !== -1 && i < pos; i = body.indexOf('\n', i + 1)) line++
  return line
}

function byteLength(text: string): number {
  return Buffer.byteLength(text, 'utf8')
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return `the string ${JSON.stringify(clip(value))}`
  if (typeof value === 'object') return 'an object'
  return `${typeof value} ${String(value)}`
}

/** Echoed input is shortened so an error never repeats a large payload. */
function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text
}
