import { describe, expect, test } from 'bun:test'
import { NO_HEADERS, type SourceRecord } from '../ports.ts'
import { Batcher } from './batcher.ts'

const record = (offset: number, bytes = 10): SourceRecord => ({
  topic: 't',
  partition: 0,
  offset,
  key: null,
  value: Buffer.alloc(bytes),
  headers: NO_HEADERS,
  timestamp: 0,
})

describe('Batcher', () => {
  test('is full at maxEvents', () => {
    const b = new Batcher<number>({ maxEvents: 3, maxBytes: 1e9, maxWaitMs: 100 })
    expect(b.add({ record: record(0), ok: true, value: 0 }, 5)).toBe(false)
    expect(b.add({ record: record(1), ok: true, value: 1 }, 6)).toBe(false)
    expect(b.add({ record: record(2), ok: true, value: 2 }, 7)).toBe(true)
    expect(b.openedAt).toBe(5)
    expect(b.take().map((i) => i.record.offset)).toEqual([0, 1, 2])
    expect(b.size).toBe(0)
    expect(b.bytes).toBe(0)
  })

  test('is full at maxBytes, counting keys and values', () => {
    const b = new Batcher<number>({ maxEvents: 1000, maxBytes: 25, maxWaitMs: 100 })
    expect(b.add({ record: record(0, 10), ok: true, value: 0 }, 0)).toBe(false)
    expect(b.add({ record: record(1, 10), ok: false, error: new Error('x') }, 0)).toBe(false)
    expect(b.add({ record: record(2, 10), ok: true, value: 2 }, 0)).toBe(true)
  })
})
