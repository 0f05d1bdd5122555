import { describe, expect, test } from 'bun:test'
import { memoryLimitBytes } from './memory-limit.ts'

/** A reader that knows only the files given; any other path throws like a missing file. */
function files(contents: Record<string, string>): (path: string) => string {
  return (path) => {
    const text = contents[path]
    if (text === undefined) throw new Error(`ENOENT: ${path}`)
    return text
  }
}

describe('memoryLimitBytes', () => {
  test('cgroup v2: the number in memory.max; "max" is no limit', () => {
    expect(memoryLimitBytes(files({ '/sys/fs/cgroup/memory.max': '1073741824\n' }))).toBe(1073741824)
    expect(memoryLimitBytes(files({ '/sys/fs/cgroup/memory.max': 'max\n' }))).toBeNull()
  })

  test('cgroup v1: memory.limit_in_bytes; its "unlimited" sentinel is no limit', () => {
    const v1 = '/sys/fs/cgroup/memory/memory.limit_in_bytes'
    expect(memoryLimitBytes(files({ [v1]: '536870912\n' }))).toBe(536870912)
    expect(memoryLimitBytes(files({ [v1]: '9223372036854771712\n' }))).toBeNull()
  })

  test('no cgroup file, or one that is not a number: null', () => {
    expect(memoryLimitBytes(files({}))).toBeNull()
    expect(memoryLimitBytes(files({ '/sys/fs/cgroup/memory.max': 'garbage' }))).toBeNull()
  })
})
