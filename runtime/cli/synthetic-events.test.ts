import { describe, expect, test } from 'bun:test'
import { syntheticEvent } from './synthetic-events.ts'

describe('syntheticEvent', () => {
  test('values are JSON of the asked size with a per-key sequence', () => {
    const e = syntheticEvent(2503, { keys: 1000, valueBytes: 100, poison: 0 })
    expect(e.key).toBe('key-503')
    expect(e.value).toHaveLength(100)
    expect(JSON.parse(e.value)).toMatchObject({ seq: 2503, key: 'key-503', n: 2 })
  })

  test('a poison fraction of 1% makes about one event in a hundred invalid JSON, over every key', () => {
    const events = Array.from({ length: 10_000 }, (_, i) =>
      syntheticEvent(i, { keys: 10, valueBytes: 100, poison: 0.01 }),
    )
    const poison = events.filter((e) => e.poison)
    expect(poison.length).toBeGreaterThan(70)
    expect(poison.length).toBeLessThan(130)
    expect(new Set(poison.map((e) => e.key)).size).toBe(10)
    for (const e of poison) expect(() => JSON.parse(e.value)).toThrow()
    for (const e of events.filter((x) => !x.poison)) expect(() => JSON.parse(e.value)).not.toThrow()
  })

  test('no keys: keyless events', () => {
    expect(syntheticEvent(5, { keys: 0, valueBytes: 10, poison: 0 }).key).toBeNull()
  })
})
