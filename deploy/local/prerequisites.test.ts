import { afterEach, describe, expect, test } from 'bun:test'
import { isBatonError } from '../../actors/core/errors.ts'
import { parseJavaMajor, requireJava, requireRedisServer } from './prerequisites.ts'

describe('parseJavaMajor', () => {
  test('reads modern and 1.x version strings', () => {
    expect(parseJavaMajor('openjdk version "17.0.15" 2025-04-15')).toBe(17)
    expect(parseJavaMajor('openjdk version "21" 2023-09-19')).toBe(21)
    expect(parseJavaMajor('java version "1.8.0_392"')).toBe(8)
    expect(parseJavaMajor('no version here')).toBeNull()
  })
})

describe('a missing program', () => {
  const path = process.env.PATH
  afterEach(() => {
    process.env.PATH = path
  })

  test('is named with its apt-get install line', () => {
    process.env.PATH = '/nonexistent'
    for (const [check, line] of [
      [requireRedisServer, 'apt-get install -y redis-server'],
      [requireJava, 'apt-get install -y openjdk-17-jre-headless'],
    ] as const) {
      let thrown: unknown
      try {
        check()
      } catch (err) {
        thrown = err
      }
      expect(isBatonError(thrown, 'PREREQUISITE_MISSING')).toBe(true)
      expect((thrown as Error).message).toContain(line)
    }
  })
})
