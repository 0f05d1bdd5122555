import { describe, expect, test } from 'bun:test'
import { FetchBudget, MIN_PARTITION_SHARE } from './fetch-budget.ts'

describe('FetchBudget', () => {
  test('reservations and held chunks together never exceed the limit', () => {
    const budget = new FetchBudget(100_000)
    expect(budget.reserve(60_000)).toBe(60_000)
    expect(budget.reserve(60_000)).toBe(40_000)
    expect(budget.free).toBe(0)
    expect(budget.reserve(1)).toBe(0)
  })

  test('a fetch that came back turns its reservation into what it holds; the rest is free again', () => {
    const budget = new FetchBudget(100_000)
    const reserved = budget.reserve(50_000)
    const release = budget.hold(20_000)
    budget.unreserve(reserved)
    expect(budget.held).toBe(20_000)
    expect(budget.free).toBe(80_000)
    release()
    release()
    expect(budget.held).toBe(0)
    expect(budget.free).toBe(100_000)
  })

  test('the share is an equal part of the limit per owned partition, never below one fetched chunk', () => {
    const budget = new FetchBudget(64 * 1024 * 1024)
    for (let i = 0; i < 512; i++) budget.partitionAdded()
    expect(budget.share()).toBe(128 * 1024)
    for (let i = 0; i < 4096 - 512; i++) budget.partitionAdded()
    expect(budget.share()).toBe(MIN_PARTITION_SHARE)
  })

  test('a small budget gives a partition a quarter of it at most, however few partitions it is split over', () => {
    const small = new FetchBudget(64 * 1024)
    small.partitionAdded()
    expect(small.share()).toBe(64 * 1024)
    small.partitionAdded()
    expect(small.share()).toBe(32 * 1024)
    for (let i = 0; i < 510; i++) small.partitionAdded()
    expect(small.share()).toBe(16 * 1024)
  })

  test('whoever waits for bytes is woken at the next release, once, in the order it asked', () => {
    const budget = new FetchBudget(10_000)
    const release = budget.hold(10_000)
    const woken: string[] = []
    budget.whenFree(() => woken.push('a'))
    budget.whenFree(() => woken.push('b'))
    expect(woken).toEqual([])
    release()
    expect(woken).toEqual(['a', 'b'])
    budget.unreserve(budget.reserve(10))
    expect(woken).toEqual(['a', 'b'])
  })

  test('a fetch is worth sending with a quarter of the budget free, or one partition slice when smaller', () => {
    expect(new FetchBudget(64 * 1024 * 1024).minFetch(64 * 1024)).toBe(64 * 1024)
    expect(new FetchBudget(64 * 1024).minFetch(64 * 1024)).toBe(16 * 1024)
  })

  test('refuses a limit that is no number of bytes', () => {
    expect(() => new FetchBudget(0)).toThrow(RangeError)
  })
})
