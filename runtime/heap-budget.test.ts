import { describe, expect, test } from 'bun:test'
import { DEFAULT_HEAP_RAM_BYTES, heapBudgetEnv } from './heap-budget.ts'

describe('heapBudgetEnv', () => {
  test('a host without a memory limit restarts with the default RAM size, the rest of its env kept', () => {
    expect(heapBudgetEnv({ PATH: '/bin', UNSET: undefined }, null)).toEqual({
      PATH: '/bin',
      BUN_JSC_forceRAMSize: String(DEFAULT_HEAP_RAM_BYTES),
    })
  })

  test('a cgroup memory limit, or a RAM size already set, means no restart', () => {
    expect(heapBudgetEnv({ PATH: '/bin' }, 1 << 30)).toBeNull()
    expect(heapBudgetEnv({ BUN_JSC_forceRAMSize: '1073741824' }, null)).toBeNull()
  })
})
