import { describe, expect, test } from 'bun:test'
import { clusterView } from './cluster-view.ts'
import type { Member, PartitionClaim } from './membership.ts'

const member = (id: string, partitions: PartitionClaim[]): Member => ({
  id,
  httpUrl: `http://${id}:8080`,
  startedAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:01.000Z',
  partitions,
})

describe('clusterView', () => {
  test('every partition of the served topics gets a row with its owner; nodes sorted by id', () => {
    const view = clusterView(
      'baton-1',
      [
        member('baton-1', [{ topic: 'orders', partition: 1, epoch: 4 }]),
        member('baton-0', [{ topic: 'orders', partition: 0, epoch: 9 }]),
      ],
      new Map([['orders', 2]]),
    )
    expect(view.answeredBy).toBe('baton-1')
    expect(view.nodes.map((n) => n.id)).toEqual(['baton-0', 'baton-1'])
    expect(view.partitions).toEqual([
      { topic: 'orders', partition: 0, owner: 'baton-0', epoch: 9 },
      { topic: 'orders', partition: 1, owner: 'baton-1', epoch: 4 },
    ])
    expect(view.unowned).toEqual([])
    expect(view.claimedTwice).toEqual([])
  })

  test('a partition nobody claims is unowned', () => {
    const view = clusterView(
      'baton-0',
      [member('baton-0', [{ topic: 'a', partition: 0, epoch: 1 }])],
      new Map([
        ['a', 2],
        ['b', 1],
      ]),
    )
    expect(view.unowned).toEqual([
      { topic: 'a', partition: 1 },
      { topic: 'b', partition: 0 },
    ])
    expect(view.partitions.find((p) => p.topic === 'b')).toEqual({
      topic: 'b',
      partition: 0,
      owner: null,
      epoch: null,
    })
  })

  test('a partition two nodes claim is flagged with both claims; the higher epoch is the owner', () => {
    const view = clusterView(
      'baton-0',
      [
        member('baton-0', [{ topic: 'a', partition: 0, epoch: 5 }]),
        member('baton-2', [{ topic: 'a', partition: 0, epoch: 6 }]),
      ],
      new Map([['a', 1]]),
    )
    expect(view.claimedTwice).toEqual([
      {
        topic: 'a',
        partition: 0,
        claimedBy: [
          { node: 'baton-2', epoch: 6 },
          { node: 'baton-0', epoch: 5 },
        ],
      },
    ])
    expect(view.partitions).toEqual([{ topic: 'a', partition: 0, owner: 'baton-2', epoch: 6 }])
  })

  test('a claim beyond the known partition count still shows', () => {
    const view = clusterView(
      'x',
      [member('x', [{ topic: 'a', partition: 4, epoch: 1 }])],
      new Map([['a', 1]]),
    )
    expect(view.partitions.map((p) => p.partition)).toEqual([0, 4])
    expect(view.unowned).toEqual([{ topic: 'a', partition: 0 }])
  })
})
