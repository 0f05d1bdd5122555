import { Database } from 'bun:sqlite'
import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import type { Clock } from '../core/clock.ts'
import { ManualClock } from '../core/manual-clock.ts'
import { partitionForKey } from '../partitioner.ts'
import { NO_HEADERS } from '../ports.ts'
import { type LogEvent, SqliteLog, type SqliteLogOptions } from './log.ts'

let dir: string
let open: SqliteLog[]

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'baton-log-'))
  open = []
})

afterEach(() => {
  for (const log of open) log.close()
  rmSync(dir, { recursive: true, force: true })
})

function openLog(options: SqliteLogOptions = {}, file = 'log.db'): SqliteLog {
  const log = SqliteLog.open(join(dir, file), options)
  open.push(log)
  return log
}

function closeLog(log: SqliteLog): void {
  log.close()
  open = open.filter((l) => l !== log)
}

const text = (b: Buffer | null) => b?.toString('utf8') ?? null

describe('append and read', () => {
  test('stores each event where Kafka would, with contiguous offsets from 0 per partition', () => {
    const log = openLog()
    log.createTopic('orders', 8)
    const events: LogEvent[] = ['a', 'b', 'a', 'foobar', 'c', 'a'].map((key, i) => ({ key, value: { i } }))
    const appended = log.append('orders', events)
    expect(appended.map((a) => a.partition)).toEqual(events.map((e) => partitionForKey(e.key as string, 8)))
    const seen = new Map<number, number>()
    for (const { partition, offset } of appended) {
      expect(offset).toBe(seen.get(partition) ?? 0)
      seen.set(partition, offset + 1)
    }
    for (const [partition, end] of seen) expect(log.endOffset('orders', partition)).toBe(end)
    const aPartition = partitionForKey('a', 8)
    expect(
      log
        .read('orders', aPartition, 0, 100)
        .filter((r) => text(r.key) === 'a')
        .map((r) => text(r.value)),
    ).toEqual(['{"i":0}', '{"i":2}', '{"i":5}'])
  })

  test('keeps key, value, headers and time as given; strings and bytes unchanged, other values as JSON', () => {
    const log = openLog({ clock: new ManualClock(1_700_000_000_000) })
    log.createTopic('t', 1)
    log.append('t', [
      { key: 'k', value: 'not json', headers: { trace: 'abc' }, time: 1234 },
      { value: { nested: [1, 'two'] } },
      { key: new Uint8Array([0, 255]), value: new Uint8Array([1, 2, 3]), headers: {} },
      { value: null },
      { value: 42 },
    ])
    const [first, second, third, fourth, fifth] = log.read('t', 0, 0, 10)
    expect(first).toMatchObject({
      topic: 't',
      partition: 0,
      offset: 0,
      timestamp: 1234,
      headers: { trace: 'abc' },
    })
    expect(text(first?.key ?? null)).toBe('k')
    expect(text(first?.value ?? null)).toBe('not json')
    expect(text(second?.value ?? null)).toBe('{"nested":[1,"two"]}')
    expect(second?.key).toBeNull()
    expect(second?.timestamp).toBe(1_700_000_000_000)
    expect(second?.headers).toBe(NO_HEADERS)
    expect([...(third?.key ?? [])]).toEqual([0, 255])
    expect([...(third?.value ?? [])]).toEqual([1, 2, 3])
    expect(Buffer.isBuffer(third?.value)).toBe(true)
    expect(third?.headers).toBe(NO_HEADERS)
    expect(fourth?.value).toBeNull()
    expect(text(fifth?.value ?? null)).toBe('42')
  })

  test('keyless events take the partitions in turn', () => {
    const log = openLog()
    log.createTopic('t', 3)
    const appended = log.append(
      't',
      Array.from({ length: 7 }, (_, i) => ({ value: i })),
    )
    expect(appended.map((a) => a.partition)).toEqual([0, 1, 2, 0, 1, 2, 0])
    expect(log.append('t', [{ value: 'x' }])[0]).toEqual({ partition: 1, offset: 2 })
  })

  test('read stops at maxRecords and before maxBytes, but always returns a first record', () => {
    const log = openLog()
    log.createTopic('t', 1)
    log.append(
      't',
      Array.from({ length: 10 }, (_, i) => ({ value: 'x'.repeat(100 + i) })),
    )
    expect(log.read('t', 0, 2, 3).map((r) => r.offset)).toEqual([2, 3, 4])
    expect(log.read('t', 0, 0, 10, 250).map((r) => r.offset)).toEqual([0, 1])
    expect(log.read('t', 0, 5, 10, 1).map((r) => r.offset)).toEqual([5])
    expect(log.read('t', 0, 10, 10)).toEqual([])
    expect(log.read('t', 0, 99, 10)).toEqual([])
  })

  test('an invalid event anywhere in the batch stores nothing and names the event', () => {
    const log = openLog()
    log.createTopic('t', 2)
    const bad: unknown[] = [
      { key: 5, value: 1 },
      { value: 1, headers: { a: 1 } },
      { value: 1, headers: ['x'] },
      { value: 1, time: Number.NaN },
      { value: 1n },
      null,
    ]
    for (const event of bad) {
      const batch = [{ value: 'ok' }, { value: 'ok' }, event] as LogEvent[]
      expect(() => log.append('t', batch)).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }))
      expect(() => log.append('t', batch)).toThrow('Event 2')
    }
    expect([log.endOffset('t', 0), log.endOffset('t', 1)]).toEqual([0, 0])
  })

  test('a failure in the middle of the write rolls the whole append back', () => {
    const log = openLog()
    log.createTopic('t', 2)
    log.append('t', [{ value: 'before' }])
    const side = new Database(join(dir, 'log.db'))
    side.run(`create trigger refuse before insert on baton_log_records when new.value = cast('boom' as blob)
              begin select raise(abort, 'disk on fire'); end`)
    side.close()
    const attempt = () => log.append('t', [{ value: 'a' }, { value: 'b' }, { value: Buffer.from('boom') }])
    expect(attempt).toThrow(expect.objectContaining({ code: 'SOURCE_UNAVAILABLE' }))
    expect(attempt).toThrow('disk on fire')
    expect([log.endOffset('t', 0), log.endOffset('t', 1)]).toEqual([1, 0])
    expect(log.read('t', 0, 0, 10).map((r) => text(r.value))).toEqual(['before'])
    expect(log.read('t', 1, 0, 10)).toEqual([])
  })

  test('any sequence of appends leaves every partition contiguous from 0, in append order', () => {
    const event = fc.record({
      key: fc.option(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g'), { nil: null }),
      n: fc.nat(),
    })
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('x', 'y'), fc.array(event, { maxLength: 20 })), { maxLength: 15 }),
        fc.integer({ min: 1, max: 5 }),
        (appends, partitions) => {
          const log = SqliteLog.open(':memory:', { partitions })
          try {
            log.createTopic('x')
            log.createTopic('y')
            const expected = new Map<string, string[]>()
            for (const [topic, events] of appends) {
              const appended = log.append(
                topic,
                events.map((e) => ({ key: e.key, value: { n: e.n } })),
              )
              appended.forEach(({ partition, offset }, i) => {
                const list = expected.get(`${topic}/${partition}`) ?? []
                expect(offset).toBe(list.length)
                list.push(JSON.stringify({ n: events[i]?.n }))
                expected.set(`${topic}/${partition}`, list)
              })
            }
            for (const topic of ['x', 'y']) {
              for (let p = 0; p < partitions; p++) {
                const records = log.read(topic, p, 0, 1000)
                expect(records.map((r) => r.offset)).toEqual(records.map((_, i) => i))
                expect(records.map((r) => text(r.value))).toEqual(expected.get(`${topic}/${p}`) ?? [])
                expect(log.endOffset(topic, p)).toBe(records.length)
              }
            }
          } finally {
            log.close()
          }
        },
      ),
      { numRuns: 60 },
    )
  })
})

describe('topics', () => {
  test('createTopic is idempotent, grows a topic, refuses to shrink it', () => {
    const log = openLog({ partitions: 4 })
    expect(log.createTopic('events')).toEqual({ name: 'events', partitions: 4 })
    log.append('events', [{ key: 'k', value: 1 }])
    expect(log.createTopic('events', 4)).toEqual({ name: 'events', partitions: 4 })
    expect(log.createTopic('events', 6)).toEqual({ name: 'events', partitions: 6 })
    expect(log.endOffset('events', 5)).toBe(0)
    expect(log.endOffset('events', partitionForKey('k', 4))).toBe(1)
    expect(() => log.createTopic('events', 2)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }))
    expect(() => log.createTopic('other', 0)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }))
    expect(log.topics()).toEqual([{ name: 'events', partitions: 6 }])
    expect(log.topic('nope')).toBeUndefined()
  })

  test('unknown topics and partitions are NOT_FOUND, bad names BAD_REQUEST', () => {
    const log = openLog()
    log.createTopic('t', 2)
    expect(() => log.append('nope', [{ value: 1 }])).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }))
    expect(() => log.append('no/pe', [{ value: 1 }])).toThrow(
      expect.objectContaining({ code: 'BAD_REQUEST' }),
    )
    expect(() => log.createTopic('a b')).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }))
    for (const partition of [2, -1, 0.5]) {
      expect(() => log.read('t', partition, 0, 1)).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }))
    }
  })
})

describe('durability', () => {
  test('a reopened log has every appended event and continues the offsets', () => {
    const first = openLog()
    first.createTopic('t', 2)
    first.append('t', [
      { key: 'a', value: 1 },
      { key: 'a', value: 2 },
    ])
    closeLog(first)
    const second = openLog()
    expect(second.topic('t')).toEqual({ name: 't', partitions: 2 })
    const p = partitionForKey('a', 2)
    expect(second.endOffset('t', p)).toBe(2)
    expect(second.append('t', [{ key: 'a', value: 3 }])).toEqual([{ partition: p, offset: 2 }])
    expect(second.read('t', p, 0, 10).map((r) => text(r.value))).toEqual(['1', '2', '3'])
  })

  test('every acknowledged append survives kill -9 of the appending process; none is half stored', async () => {
    const path = join(dir, 'log.db')
    const script = join(dir, 'appender.ts')
    writeFileSync(
      script,
      `import { SqliteLog } from ${JSON.stringify(join(import.meta.dir, 'log.ts'))}
      const log = SqliteLog.open(${JSON.stringify(path)})
      log.createTopic('t', 4)
      for (let batch = 0; ; batch++) {
        const events = Array.from({ length: 200 }, (_, i) => ({ key: 'k' + (i % 13), value: { batch, i } }))
        log.append('t', events)
        process.stdout.write('acked ' + batch + '\\n')
      }`,
    )
    const child = Bun.spawn([process.execPath, script], { stdout: 'pipe', stderr: 'inherit' })
    let acked = -1
    let buffered = ''
    const decoder = new TextDecoder()
    for await (const chunk of child.stdout) {
      buffered += decoder.decode(chunk)
      const lines = buffered.split('\n')
      buffered = lines.pop() ?? ''
      for (const line of lines) acked = Number(line.slice('acked '.length))
      if (acked >= 25) {
        child.kill('SIGKILL')
        break
      }
    }
    expect(await child.exited).not.toBe(0)
    expect(child.signalCode).toBe('SIGKILL')

    const log = openLog()
    const perBatch = new Map<number, number>()
    for (let p = 0; p < 4; p++) {
      const records = log.read('t', p, 0, 1_000_000)
      expect(records.map((r) => r.offset)).toEqual(records.map((_, i) => i))
      for (const r of records) {
        const { batch } = JSON.parse(text(r.value) ?? '') as { batch: number }
        perBatch.set(batch, (perBatch.get(batch) ?? 0) + 1)
      }
    }
    for (let batch = 0; batch <= acked; batch++) expect(perBatch.get(batch)).toBe(200)
    for (const [batch, count] of perBatch) if (batch > acked) expect(count).toBe(200)
  })
})

describe('retention', () => {
  function filled(options: SqliteLogOptions, count = 100) {
    const log = openLog(options)
    log.createTopic('t', 1)
    log.append(
      't',
      Array.from({ length: count }, (_, i) => ({ value: i, time: i * 1000 })),
    )
    return log
  }

  test('deletes only what consumers passed and keeps the last keepEvents', () => {
    const log = filled({ retention: { keepEvents: 30 } })
    expect(log.truncateBefore('t', 0, 50)).toBe(50)
    expect(log.startOffset('t', 0)).toBe(50)
    expect(log.read('t', 0, 0, 1)[0]?.offset).toBe(50)
    expect(log.truncateBefore('t', 0, 100)).toBe(20)
    expect(log.startOffset('t', 0)).toBe(70)
    expect(log.truncateBefore('t', 0, 60)).toBe(0)
    expect(log.startOffset('t', 0)).toBe(70)
  })

  test('keeps events younger than keepMs, deleting only a prefix', () => {
    const log = filled({ retention: { keepEvents: 0, keepMs: 40_000 }, clock: new ManualClock(100_000) })
    expect(log.truncateBefore('t', 0, 100)).toBe(60)
    expect(log.startOffset('t', 0)).toBe(60)
  })

  test('offsets go on after everything was deleted, also across a reopen', () => {
    const log = filled({ retention: { keepEvents: 0 } }, 10)
    expect(log.truncateBefore('t', 0, 10)).toBe(10)
    expect([log.startOffset('t', 0), log.endOffset('t', 0)]).toEqual([10, 10])
    closeLog(log)
    const again = openLog()
    expect(again.append('t', [{ value: 'next' }])).toEqual([{ partition: 0, offset: 10 }])
    expect(again.read('t', 0, 0, 10).map((r) => r.offset)).toEqual([10])
  })

  test('consumer commits drive retention: the slowest live group, at most once per interval', () => {
    let now = 0
    // Deferred retention runs never fire here: the test drives every run through a commit.
    const clock: Clock = { now: () => now, schedule: () => ({ cancel() {} }) }
    const log = filled({ retention: { keepEvents: 0, intervalMs: 1_000 }, clock })
    expect(log.commitConsumer('fast', 't', 0, 80)).toBe(80)
    now = 2_000
    expect(log.commitConsumer('slow', 't', 0, 20)).toBe(0)
    expect(log.startOffset('t', 0)).toBe(80)
    now = 2_500
    expect(log.commitConsumer('slow', 't', 0, 90)).toBe(0)
    now = 3_000
    expect(log.commitConsumer('slow', 't', 0, 95)).toBe(0)
    now = 4_000
    expect(log.commitConsumer('fast', 't', 0, 100)).toBe(15)
    expect(log.startOffset('t', 0)).toBe(95)
  })

  test('offsetForTime finds the first event at or after a time', () => {
    const log = filled({})
    expect(log.offsetForTime('t', 0, 41_500)).toBe(42)
    expect(log.offsetForTime('t', 0, 0)).toBe(0)
    expect(log.offsetForTime('t', 0, 10_000_000)).toBe(100)
  })
})

describe('append signal', () => {
  test('listeners of a partition hear its new end offset after the append; unsubscribing stops it', async () => {
    const log = openLog()
    log.createTopic('t', 2)
    const heard: number[] = []
    const other: number[] = []
    const unsubscribe = log.onAppend('t', 0, (end) => heard.push(end))
    log.onAppend('t', 1, (end) => other.push(end))
    log.append('t', [{ value: 1 }, { value: 2 }, { value: 3 }])
    expect(heard).toEqual([])
    await Promise.resolve()
    expect(heard).toEqual([2])
    expect(other).toEqual([1])
    unsubscribe()
    log.append('t', [{ value: 4 }])
    await Promise.resolve()
    expect(heard).toEqual([2])
  })
})
