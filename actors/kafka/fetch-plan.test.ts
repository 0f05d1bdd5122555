import { describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import { FetchOrder, type FetchPlan, planFetch } from './fetch-plan.ts'

const limits = { free: 1_000_000, minFetch: 1_000, maxBytes: 8_000_000, partitionMaxBytes: 64_000 }

describe('planFetch', () => {
  test('asks every candidate with room, each for at most its slice or its room', () => {
    const plan = planFetch(
      [
        { request: 'a', room: 100_000 },
        { request: 'b', room: 10_000 },
        { request: 'c', room: 0 },
      ],
      limits,
    )
    expect(plan?.partitions).toEqual([
      { request: 'a', maxBytes: 64_000 },
      { request: 'b', maxBytes: 10_000 },
    ])
    expect(plan?.maxBytes).toBe(74_000)
  })

  test('the response is capped at what is free', () => {
    const candidates = ['a', 'b', 'c'].map((request) => ({ request, room: 64_000 }))
    expect(planFetch(candidates, { ...limits, free: 50_000 })?.maxBytes).toBe(50_000)
  })

  test('while the broker is behind, asks the front of the line for four responses at most; otherwise everyone', () => {
    const candidates = Array.from({ length: 20 }, (_, i) => ({ request: `p${i}`, room: 64_000 }))
    const behind = planFetch(candidates, { ...limits, free: 100_000, behind: true })
    // 7 slices of 64,000 are the first to reach 4 x 100,000.
    expect(behind?.partitions.map((p) => p.request)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6'])
    expect(behind?.maxBytes).toBe(100_000)
    expect(planFetch(candidates, { ...limits, free: 100_000, behind: false })?.partitions).toHaveLength(20)
    // A few partitions that cannot fill four responses are all asked either way.
    expect(planFetch(candidates.slice(0, 3), { ...limits, behind: true })?.partitions).toHaveLength(3)
  })

  test('sends nothing when less than a worthwhile fetch is free, or nobody has room', () => {
    expect(planFetch([{ request: 'a', room: 64_000 }], { ...limits, free: 999 })).toBeNull()
    expect(planFetch([{ request: 'a', room: 0 }], limits)).toBeNull()
    expect(planFetch([], limits)).toBeNull()
  })
})

describe('planFetch with FetchOrder and a broker that fills responses in request order', () => {
  // Each fetch plans with the previous response's fullness, as the fetcher does; the broker gives each asked
  // partition min(its slice, its backlog) until the response is full; partitions served go to the back.
  test('every backlog drains, caught-up partitions at the front of the line included, within a bounded number of fetches', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(400_000), { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 64_000, max: 2_000_000 }),
        (backlogs, responseBytes) => {
          const slice = 64_000
          const left = new Map(backlogs.map((bytes, i) => [`p${i}`, bytes]))
          const order = new FetchOrder<string>()
          for (const p of left.keys()) order.add(p)
          const total = backlogs.reduce((a, b) => a + b, 0)
          // Every full response moves at least one slice (or what was left of a backlog): at most
          // total/slice + partitions full ones, and at most every other fetch is not full.
          const bound = 2 * (Math.ceil(total / slice) + backlogs.length) + 2
          let behind = false
          let fetches = 0
          while ([...left.values()].some((b) => b > 0)) {
            expect(fetches++).toBeLessThan(bound)
            const plan: FetchPlan<string> | null = planFetch(
              [...order].map((request) => ({ request, room: slice })),
              { free: responseBytes, minFetch: 1, maxBytes: responseBytes, partitionMaxBytes: slice, behind },
            )
            if (!plan) throw new Error('no fetch planned while partitions have records')
            let carried = 0
            const served: string[] = []
            for (const { request, maxBytes } of plan.partitions) {
              const got = Math.min(maxBytes, left.get(request) ?? 0, plan.maxBytes - carried)
              if (got <= 0) continue
              left.set(request, (left.get(request) ?? 0) - got)
              carried += got
              served.push(request)
            }
            order.served(served)
            behind = carried * 2 >= plan.maxBytes
          }
        },
      ),
      { numRuns: 200 },
    )
  })
})

/**
 * A broker as far as the budget is concerned: every partition has records, and a response of `budget`
 * bytes holds `perFetch` partitions' slices, filled in request order.
 */
function fetchRounds(
  order: FetchOrder<string>,
  rounds: number,
  perFetch: number,
  ready = (_: string) => true,
) {
  const served: string[][] = []
  for (let i = 0; i < rounds; i++) {
    const asked = [...order].filter(ready)
    const got = asked.slice(0, perFetch)
    order.served(got)
    served.push(got)
  }
  return served
}

describe('FetchOrder', () => {
  const partitions = (n: number) => Array.from({ length: n }, (_, i) => `p${i}`)

  test('with a short budget, fetches go round the partitions: every one is served, none twice before all once', () => {
    const order = new FetchOrder<string>()
    for (const p of partitions(10)) order.add(p)
    const served = fetchRounds(order, 5, 2).flat()
    expect(new Set(served).size).toBe(10)
    expect(served).toHaveLength(10)
  })

  test('no partition starves over many rounds: each is served within one lap', () => {
    const order = new FetchOrder<string>()
    for (const p of partitions(37)) order.add(p)
    const lastServed = new Map<string, number>()
    fetchRounds(order, 200, 3).forEach((got, round) => {
      for (const p of got) {
        const previous = lastServed.get(p)
        if (previous !== undefined) expect(round - previous).toBeLessThanOrEqual(Math.ceil(37 / 3))
        lastServed.set(p, round)
      }
    })
    expect(lastServed.size).toBe(37)
  })

  test('when every partition is served every time, the first place still rotates', () => {
    const order = new FetchOrder<string>()
    for (const p of partitions(3)) order.add(p)
    const firsts = fetchRounds(order, 3, 3).map((got) => got[0])
    expect(firsts).toEqual(['p0', 'p1', 'p2'])
  })

  test('a paused partition keeps its place and is first in line when it resumes', () => {
    const order = new FetchOrder<string>()
    for (const p of partitions(6)) order.add(p)
    let paused = true
    // p0 is paused (or its mailbox full) while the others take turns, two per fetch.
    fetchRounds(order, 4, 2, (p) => !(paused && p === 'p0'))
    paused = false
    expect([...order][0]).toBe('p0')
    expect(fetchRounds(order, 1, 2)[0]).toContain('p0')
  })

  test('a partition that got nothing (caught up, or cut off by the response limit) keeps its place', () => {
    const order = new FetchOrder<string>()
    for (const p of partitions(3)) order.add(p)
    order.served(['p1'])
    expect([...order]).toEqual(['p0', 'p2', 'p1'])
  })

  test('a removed partition leaves the line; serving it later changes nothing', () => {
    const order = new FetchOrder<string>()
    for (const p of partitions(3)) order.add(p)
    order.remove('p1')
    order.served(['p1'])
    expect([...order]).toEqual(['p0', 'p2'])
  })
})
