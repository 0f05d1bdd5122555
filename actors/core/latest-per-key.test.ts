import { describe, expect, test } from 'bun:test'
import { type BatchSender, LatestPerKey, type Outcome } from './latest-per-key.ts'

/** A sender that holds each batch until the test answers it, so tests decide what is in flight. */
function heldSender() {
  const batches: { entries: [string, number][]; answer: (outcomes: Outcome<string>[] | Error) => void }[] = []
  const send: BatchSender<number, string> = (entries) =>
    new Promise((resolve, reject) => {
      batches.push({
        entries: entries.map(([key, value]) => [key, value]),
        answer: (outcomes) => (outcomes instanceof Error ? reject(outcomes) : resolve(outcomes)),
      })
    })
  /** Answers batch `i` with `${key}=${value}` for each entry. */
  const ok = (i: number) => {
    const batch = batches[i]
    if (!batch) throw new Error(`no batch ${i} (${batches.length} sent)`)
    batch.answer(batch.entries.map(([key, value]) => ({ ok: true, value: `${key}=${value}` })))
  }
  return { batches, send, ok }
}

/** Lets deferred runs and settled promises go on (the default defer is setImmediate). */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

describe('LatestPerKey', () => {
  test('what is submitted in one moment leaves as one batch, the latest value per key', async () => {
    const { batches, send, ok } = heldSender()
    const writes = new LatestPerKey(send)
    const answers = [writes.submit('p0', 5), writes.submit('p1', 3), writes.submit('p0', 9)]
    await turn()
    expect(batches.map((b) => b.entries)).toEqual([
      [
        ['p0', 9],
        ['p1', 3],
      ],
    ])
    ok(0)
    // The superseded 5 hears the outcome of the 9 that replaced it.
    expect(await Promise.all(answers)).toEqual(['p0=9', 'p1=3', 'p0=9'])
  })

  test('one batch at a time: what comes meanwhile waits, superseded, and leaves together next', async () => {
    const { batches, send, ok } = heldSender()
    const writes = new LatestPerKey(send)
    const first = writes.submit('p0', 1)
    await turn()
    const later = [writes.submit('p0', 2), writes.submit('p1', 1), writes.submit('p0', 3)]
    await turn()
    // p0 is in flight: its next value waits, never a second p0 write out at once.
    expect(batches).toHaveLength(1)
    expect(writes.queued).toBe(2)
    ok(0)
    expect(await first).toBe('p0=1')
    await turn()
    expect(batches.map((b) => b.entries)).toEqual([
      [['p0', 1]],
      [
        ['p0', 3],
        ['p1', 1],
      ],
    ])
    ok(1)
    expect(await Promise.all(later)).toEqual(['p0=3', 'p1=1', 'p0=3'])
  })

  test('each entry hears its own outcome; a failed batch fails all of its entries, and the next goes on', async () => {
    const { batches, send, ok } = heldSender()
    const writes = new LatestPerKey(send)
    const refused = writes.submit('p0', 1)
    const applied = writes.submit('p1', 1)
    await turn()
    batches[0]?.answer([
      { ok: false, error: new Error('p0 refused') },
      { ok: true, value: 'p1 applied' },
    ])
    await expect(refused).rejects.toThrow('p0 refused')
    expect(await applied).toBe('p1 applied')

    const down = [writes.submit('p0', 2), writes.submit('p1', 2)]
    await turn()
    batches[1]?.answer(new Error('store down'))
    const settled = await Promise.allSettled(down)
    expect(settled.map((s) => s.status === 'rejected' && String(s.reason))).toEqual([
      'Error: store down',
      'Error: store down',
    ])

    const again = writes.submit('p0', 3)
    await turn()
    ok(2)
    expect(await again).toBe('p0=3')
  })

  test('a sender that answers too few entries fails the batch rather than leave a caller waiting', async () => {
    const writes = new LatestPerKey<number, string>(async () => [{ ok: true, value: 'one' }])
    const answers = [writes.submit('p0', 1), writes.submit('p1', 1)]
    const settled = await Promise.allSettled(answers)
    for (const s of settled) {
      expect(s.status === 'rejected' && String(s.reason)).toBe('Error: a batch of 2 entries got 1 answers')
    }
  })

  test('idle resolves once everything submitted was answered, batches that came meanwhile too', async () => {
    const { batches, send, ok } = heldSender()
    const writes = new LatestPerKey(send)
    await writes.idle()
    void writes.submit('p0', 1)
    let idle = false
    const waiting = writes.idle().then(() => {
      idle = true
    })
    await turn()
    void writes.submit('p0', 2)
    ok(0)
    await turn() // the answer; the next batch is deferred to the turn after
    await turn()
    expect(idle).toBe(false)
    ok(1)
    await waiting
    expect(batches).toHaveLength(2)
  })

  test('defer decides when each batch leaves: the first of a quiet spell, and each next one after an answer', async () => {
    const { batches, send, ok } = heldSender()
    const deferred: (() => void)[] = []
    const writes = new LatestPerKey(send, { defer: (run) => deferred.push(run) })
    void writes.submit('p0', 1)
    void writes.submit('p1', 1)
    await turn()
    expect(batches).toHaveLength(0)
    deferred.shift()?.()
    expect(batches.map((b) => b.entries)).toEqual([
      [
        ['p0', 1],
        ['p1', 1],
      ],
    ])
    void writes.submit('p0', 2)
    ok(0)
    await turn()
    // Answered, and p0 waits again: the next batch gathers until defer runs.
    expect(batches).toHaveLength(1)
    void writes.submit('p1', 2)
    deferred.shift()?.()
    await turn()
    expect(batches[1]?.entries).toEqual([
      ['p0', 2],
      ['p1', 2],
    ])
  })
})
