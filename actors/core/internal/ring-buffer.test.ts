import { describe, expect, test } from 'bun:test'
import { RingBuffer } from './ring-buffer.ts'

describe('RingBuffer', () => {
  test('is first in, first out across growth and wrap-around', () => {
    const ring = new RingBuffer<number>(200, 2)
    const out: number[] = []
    let next = 0
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 3; i++) ring.push(next++)
      out.push(ring.shift() as number)
    }
    out.push(...Array.from({ length: ring.size }, () => ring.shift() as number))
    expect(out).toEqual(Array.from({ length: 150 }, (_, i) => i))
  })

  test('refuses the item past its limit, even when the limit is not a power of two', () => {
    const ring = new RingBuffer<number>(5)
    for (let i = 0; i < 5; i++) expect(ring.push(i)).toBe(true)
    expect(ring.isFull).toBe(true)
    expect(ring.push(5)).toBe(false)
    expect(ring.size).toBe(5)
    expect(ring.shift()).toBe(0)
    expect(ring.push(5)).toBe(true)
  })

  test('shift on empty gives undefined; drain hands out everything in order', () => {
    const ring = new RingBuffer<string>(4)
    expect(ring.shift()).toBeUndefined()
    ring.push('a')
    ring.push('b')
    const seen: string[] = []
    expect(ring.drain((item) => seen.push(item))).toBe(2)
    expect(seen).toEqual(['a', 'b'])
    expect(ring.size).toBe(0)
  })
})
