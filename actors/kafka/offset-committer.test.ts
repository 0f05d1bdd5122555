import { describe, expect, test } from 'bun:test'
import { tpString } from '../ports.ts'
import { type CommitOutcome, OffsetCommitter, type OffsetToCommit } from './offset-committer.ts'

/** A sender that records each request and answers with `answer` (all 'ok' by default). */
function recordingSender(answer: (offset: OffsetToCommit) => CommitOutcome = () => 'ok') {
  const requests: OffsetToCommit[][] = []
  const send = async (offsets: readonly OffsetToCommit[]) => {
    requests.push([...offsets])
    return new Map(offsets.map((offset) => [tpString(offset), answer(offset)]))
  }
  return { requests, send }
}

const p0 = { topic: 't', partition: 0 }
const p1 = { topic: 't', partition: 1 }

describe('OffsetCommitter', () => {
  test('sends the latest offset per partition, all partitions in one request', async () => {
    const { requests, send } = recordingSender()
    const committer = new OffsetCommitter(send, 10_000, () => {})
    const settled = [committer.commit(p0, 5), committer.commit(p0, 9), committer.commit(p1, 3)]
    await committer.flush()
    await Promise.all(settled)
    expect(requests).toEqual([
      [
        { ...p0, offset: 9 },
        { ...p1, offset: 3 },
      ],
    ])
    await committer.close()
  })

  test('keeps a retryable commit for the next round and drops a refused one', async () => {
    const { requests, send } = recordingSender((offset) => (offset.partition === 0 ? 'retry' : 'drop'))
    const committer = new OffsetCommitter(send, 10_000, () => {})
    void committer.commit(p0, 5)
    void committer.commit(p1, 7)
    await committer.flush()
    await committer.flush()
    expect(requests).toEqual([
      [
        { ...p0, offset: 5 },
        { ...p1, offset: 7 },
      ],
      [{ ...p0, offset: 5 }],
    ])
    committer.forget([p0])
    await committer.flush()
    expect(requests).toHaveLength(2)
    await committer.close()
  })

  test('a newer offset committed while a request is out wins over the retry of the older one', async () => {
    const requests: number[][] = []
    let committer: OffsetCommitter | null = null
    committer = new OffsetCommitter(
      async (offsets) => {
        requests.push(offsets.map((o) => o.offset))
        if (requests.length === 1) void committer?.commit(p0, 8)
        return new Map(offsets.map((o) => [tpString(o), requests.length === 1 ? 'retry' : 'ok']))
      },
      10_000,
      () => {},
    )
    void committer.commit(p0, 5)
    await committer.flush()
    await committer.flush()
    expect(requests).toEqual([[5], [8]])
    await committer.close()
  })

  test('flushes on its own after the interval; a failing sender never rejects commit', async () => {
    const committer = new OffsetCommitter(
      async () => {
        throw new Error('coordinator down')
      },
      5,
      () => {},
    )
    await committer.commit(p0, 1)
    committer.forget([p0])
    await committer.close()
  })
})
