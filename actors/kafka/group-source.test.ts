import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Admin, consumerGroupHeartbeatV1 } from '@platformatic/kafka'
import { kafkaBrokers } from '../../test/support/env.ts'
import { uniqueName } from '../../test/support/names.ts'
import { isBatonError } from '../core/errors.ts'
import { type SourceRecord, type TopicPartition, tpString } from '../ports.ts'
import { deleteTopics, ensureTopics } from './admin.ts'
import { KafkaGroupSource, type KafkaGroupSourceOptions } from './group-source.ts'
import { KafkaPartitionFeed } from './partition-feed.ts'
import { PartitionReader } from './partition-reader.ts'
import { KafkaEventProducer } from './producer.ts'

const PARTITIONS = 8
const RECORDS = 20_000

let brokers: string[]
let topic: string
const groups: string[] = []

beforeAll(async () => {
  brokers = kafkaBrokers()
  topic = uniqueName('t')
  await ensureTopics({ brokers, topics: [topic], partitions: PARTITIONS, dlq: false })
  const producer = new KafkaEventProducer({ brokers })
  try {
    const events = Array.from({ length: RECORDS }, (_, i) => ({
      key: `k${i}`,
      value: JSON.stringify({ i }),
      headers: i % 2 === 0 ? { seq: String(i) } : undefined,
    }))
    for (let i = 0; i < events.length; i += 2_000) await producer.produce(topic, events.slice(i, i + 2_000))
  } finally {
    await producer.close()
  }
}, 60_000)

afterAll(async () => {
  await deleteTopics(brokers, [topic])
  const admin = new Admin({ clientId: 'baton-test', bootstrapBrokers: brokers })
  await admin.deleteGroups({ groups }).catch(() => {})
  await admin.close()
})

/** A source whose partitions all start from their initial offset, delivering into `seen`. */
function collectingSource(
  seen: Map<string, SourceRecord[]>,
  options: Partial<KafkaGroupSourceOptions> & { groupId: string; nodeId: string },
  deliverFor: (
    tp: TopicPartition,
  ) => (records: SourceRecord[], taken?: () => void) => void | Promise<void> = (tp) => (records, taken) => {
    seen.get(tpString(tp))?.push(...records)
    taken?.()
  },
): KafkaGroupSource {
  groups.push(options.groupId)
  const source: KafkaGroupSource = new KafkaGroupSource({
    brokers,
    topics: [topic],
    log: () => {},
    ...options,
    async onAssigned(tps) {
      for (const tp of tps) if (!seen.has(tpString(tp))) seen.set(tpString(tp), [])
      await Promise.all(
        tps.map(async (tp) => {
          const feed = source.feed(tp)
          feed.start(await feed.initialOffset(), deliverFor(tp))
        }),
      )
      await options.onAssigned?.(tps)
    },
    async onRevoked(tps) {
      await options.onRevoked?.(tps)
    },
  })
  return source
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await Bun.sleep(20)
  }
}

const total = (seen: Map<string, SourceRecord[]>) =>
  [...seen.values()].reduce((n, list) => n + list.length, 0)

describe('KafkaGroupSource', () => {
  test('fetches 20,000 keyed records over 8 partitions through feeds, each once and in offset order', async () => {
    const seen = new Map<string, SourceRecord[]>()
    let started = 0
    let finished = 0
    const source = collectingSource(
      seen,
      { groupId: uniqueName('g'), nodeId: 'node-a' },
      (tp) => (records) => {
        started ||= performance.now()
        seen.get(tpString(tp))?.push(...records)
        if (total(seen) === RECORDS) finished = performance.now()
      },
    )
    try {
      await source.start()
      await waitFor('all records', () => total(seen) >= RECORDS)
      const seconds = (finished - started) / 1000
      console.log(
        `fetched ${RECORDS} records through feeds in ${seconds.toFixed(2)} s: ${Math.round(RECORDS / seconds)} records/s`,
      )

      expect(total(seen)).toBe(RECORDS)
      const keys = new Set<string>()
      for (const [tp, records] of seen) {
        records.forEach((record, index) => {
          expect(record.offset).toBe(index)
          expect(tpString(record)).toBe(tp)
        })
        for (const record of records) keys.add(record.key?.toString() ?? '')
      }
      expect(keys.size).toBe(RECORDS)
      const sample = [...seen.values()]
        .flat()
        .find((record) => record.key?.toString() === 'k42') as SourceRecord
      expect(JSON.parse(sample.value?.toString() ?? '')).toEqual({ i: 42 })
      expect(sample.headers).toEqual({ seq: '42' })
      expect(typeof sample.timestamp).toBe('number')
      const keyless = [...seen.values()]
        .flat()
        .find((record) => record.key?.toString() === 'k43') as SourceRecord
      expect(Object.isFrozen(keyless.headers)).toBe(true)
      for (const tp of source.assignment()) {
        expect(source.feed(tp).endOffset()).toBe(seen.get(tpString(tp))?.length)
      }
      expect(source.status()).toMatchObject({ state: 'joined', assigned: PARTITIONS, error: null })
    } finally {
      await source.close()
    }
  }, 60_000)

  // Requests name partitions in fetch order, the request groups them by topic and the broker answers in
  // that order: once the order rotates, the answer no longer follows the requests one by one.
  test('two topics fetched together: every record arrives once and in order, whatever order the answer is in', async () => {
    const second = uniqueName('t2')
    await ensureTopics({ brokers, topics: [second], partitions: 4, dlq: false })
    const producer = new KafkaEventProducer({ brokers })
    try {
      for (let i = 0; i < 4_000; i += 1_000)
        await producer.produce(
          second,
          Array.from({ length: 1_000 }, (_, j) => ({
            key: `s${i + j}`,
            value: JSON.stringify({ i: i + j }),
          })),
        )
    } finally {
      await producer.close()
    }
    const seen = new Map<string, SourceRecord[]>()
    // A small budget: many fetches, each answering only some partitions, so the order rotates.
    const source = collectingSource(seen, {
      groupId: uniqueName('g'),
      nodeId: 'node-a',
      topics: [topic, second],
      fetchBufferBytes: 256 * 1024,
    })
    try {
      await source.start()
      await waitFor('all records of both topics', () => total(seen) >= RECORDS + 4_000)
      expect(total(seen)).toBe(RECORDS + 4_000)
      expect(seen.size).toBe(PARTITIONS + 4)
      for (const [tp, records] of seen) {
        records.forEach((record, index) => {
          expect(record.offset).toBe(index)
          expect(tpString(record)).toBe(tp)
        })
      }
    } finally {
      await source.close()
      await deleteTopics(brokers, [second])
    }
  }, 60_000)

  test('with a 64 KiB fetch budget a partition that never takes its records holds back no other; the buffer stays bounded', async () => {
    const limit = 64 * 1024
    const seen = new Map<string, SourceRecord[]>()
    const stuck = `${topic}/3`
    const untaken: (() => void)[] = []
    let peak = 0
    let pendingTakes = 0
    const source: KafkaGroupSource = collectingSource(
      seen,
      { groupId: uniqueName('g'), nodeId: 'node-a', fetchBufferBytes: limit },
      (tp) => (records, taken) => {
        seen.get(tpString(tp))?.push(...records)
        peak = Math.max(peak, source.fetchBuffer().heldBytes)
        if (tpString(tp) === stuck) untaken.push(() => taken?.())
        // The actor takes them a moment later, as it does from its mailbox.
        else {
          pendingTakes++
          setImmediate(() => {
            pendingTakes--
            taken?.()
          })
        }
      },
    )
    const drained = (tp: TopicPartition) => seen.get(tpString(tp))?.length === source.feed(tp).endOffset()
    try {
      await source.start()
      await waitFor('every partition but the stuck one drained', () => {
        const tps = source.assignment()
        // Bun may run the poll's timer before the last deliveries' setImmediate: wait for those takes too.
        return (
          pendingTakes === 0 &&
          tps.length === PARTITIONS &&
          tps.every((tp) => tpString(tp) === stuck || drained(tp))
        )
      })
      const stuckTp = { topic, partition: 3 }
      // It holds its share of the budget (16 KiB at least, and one record batch beyond) and waits.
      expect(drained(stuckTp)).toBe(false)
      expect(seen.get(stuck)?.length).toBeGreaterThan(0)
      const stuckFeed = source.feed(stuckTp)
      expect(stuckFeed).toBeInstanceOf(KafkaPartitionFeed)
      expect(source.fetchBuffer().heldBytes).toBe((stuckFeed as KafkaPartitionFeed).heldBytes)
      expect(source.fetchBuffer().heldBytes).toBeLessThanOrEqual(32 * 1024)
      for (const take of untaken.splice(0)) take()
      // Taken now, it gets its turn again.
      const takeAll = setInterval(() => {
        for (const take of untaken.splice(0)) take()
      }, 5)
      try {
        await waitFor('the stuck partition drained once it took its records', () => drained(stuckTp))
      } finally {
        clearInterval(takeAll)
      }
      // Its last delivery may still wait for the interval's next turn.
      for (const take of untaken.splice(0)) take()
      expect(total(seen)).toBe(RECORDS)
      for (const [tp, records] of seen)
        records.forEach((record, index) => {
          expect({ tp, offset: record.offset }).toEqual({ tp, offset: index })
        })
      // At most the limit, plus one record batch the broker sends whole to the first partition of a fetch.
      expect(peak).toBeLessThanOrEqual(limit + 64 * 1024)
      expect(source.fetchBuffer()).toEqual({ heldBytes: 0, limitBytes: limit })
    } finally {
      await source.close()
    }
  }, 60_000)

  test('a pending delivery stops fetching for its partition only; seek moves back', async () => {
    const seen = new Map<string, SourceRecord[]>()
    const stuck = `${topic}/3`
    let release: () => void = () => {}
    let deliveriesWhileStuck = 0
    let holding = true
    const source = collectingSource(
      seen,
      // Small per-partition fetches, so the held delivery is a part of the partition only.
      { groupId: uniqueName('g'), nodeId: 'node-a', fetch: { partitionMaxBytes: 16 * 1024 } },
      (tp) => (records) => {
        seen.get(tpString(tp))?.push(...records)
        if (tpString(tp) !== stuck || !holding) return
        deliveriesWhileStuck++
        return new Promise<void>((resolve) => {
          release = resolve
        })
      },
    )
    const producer = new KafkaEventProducer({ brokers })
    try {
      await source.start()
      await waitFor('the held partition to take one delivery', () => deliveriesWhileStuck === 1)
      const stuckCount = seen.get(stuck)?.length ?? 0
      const before = await endOffsets()
      expect(stuckCount).toBeLessThan(before[3] as number)
      const others = () => [...seen].filter(([tp]) => tp !== stuck).reduce((n, [, r]) => n + r.length, 0)
      await waitFor('the other partitions to drain', () => others() === RECORDS - (before[3] as number))

      // New records everywhere: the others get theirs, the held partition gets nothing.
      const fresh = range(0, PARTITIONS).flatMap((partition) =>
        range(0, 50).map((i) => ({ key: null, value: `late-${partition}-${i}`, partition })),
      )
      await producer.produce(topic, fresh)
      await waitFor(
        'the late records of the other partitions',
        () => others() === RECORDS - (before[3] as number) + 7 * 50,
      )
      await Bun.sleep(300)
      expect(deliveriesWhileStuck).toBe(1)
      expect(seen.get(stuck)?.length).toBe(stuckCount)

      holding = false
      release()
      const stuckEnd = (before[3] as number) + 50
      await waitFor('the held partition to catch up', () => seen.get(stuck)?.length === stuckEnd)
      expect(seen.get(stuck)?.map((record) => record.offset)).toEqual(range(0, stuckEnd))
      expect(seen.get(stuck)?.at(-1)?.value?.toString()).toBe('late-3-49')

      // Seek back: from the new position on, in order, and nothing from before the seek.
      const again: SourceRecord[] = []
      const feed = source.feed({ topic, partition: 3 })
      feed.start(stuckEnd, (records) => {
        again.push(...records)
      })
      feed.seek(10)
      await waitFor('the re-read records', () => again.length === stuckEnd - 10)
      await Bun.sleep(200)
      expect(again.map((record) => record.offset)).toEqual(range(10, stuckEnd))
    } finally {
      release()
      await producer.close()
      await source.close()
    }
  }, 60_000)

  test('pause holds deliveries until resume', async () => {
    const seen = new Map<string, SourceRecord[]>()
    const source = collectingSource(seen, { groupId: uniqueName('g'), nodeId: 'node-a' })
    try {
      const expected = sum(await endOffsets())
      await source.start()
      await waitFor('all records', () => total(seen) === expected)
      const feed = source.feed({ topic, partition: 5 })
      const received: SourceRecord[] = []
      feed.pause()
      feed.start(0, (records) => {
        received.push(...records)
      })
      feed.pause()
      await Bun.sleep(500)
      expect(received).toEqual([])
      feed.resume()
      const end = (await endOffsets())[5]
      await waitFor('the records after resume', () => received.length === end)
    } finally {
      await source.close()
    }
  }, 60_000)

  test('two sources split the partitions; a closed source hands its partitions to the other', async () => {
    const groupId = uniqueName('g')
    const seenA = new Map<string, SourceRecord[]>()
    const seenB = new Map<string, SourceRecord[]>()
    const events: string[] = []
    const note = (who: string, what: string) => (tps: TopicPartition[]) => {
      events.push(
        `${who} ${what} ${tps
          .map((tp) => tp.partition)
          .sort()
          .join(',')}`,
      )
    }
    const a = collectingSource(seenA, {
      groupId,
      nodeId: 'node-a',
      onAssigned: note('a', 'assigned'),
      onRevoked: note('a', 'revoked'),
    })
    const b = collectingSource(seenB, {
      groupId,
      nodeId: 'node-b',
      onAssigned: note('b', 'assigned'),
      onRevoked: note('b', 'revoked'),
    })
    try {
      await a.start()
      await waitFor('a to own everything', () => a.assignment().length === PARTITIONS)
      await b.start()
      await waitFor('an even split', () => a.assignment().length === 4 && b.assignment().length === 4, 30_000)
      const owned = [...a.assignment(), ...b.assignment()].map(tpString).sort()
      expect(new Set(owned).size).toBe(PARTITIONS)
      expect(events.some((event) => event.startsWith('a revoked'))).toBe(true)
      const expected = sum(await endOffsets())
      await waitFor('all records', () => unionCount(seenA, seenB) === expected)

      const fromA = a.assignment().map(tpString)
      await a.close()
      await waitFor('b to own everything', () => b.assignment().length === PARTITIONS, 30_000)
      const revokedOnClose = events.filter((event) => event.startsWith('a revoked')).at(-1)
      expect(revokedOnClose).toBe(
        `a revoked ${fromA
          .map((tp) => Number(tp.split('/')[1]))
          .sort()
          .join(',')}`,
      )
      await waitFor('b to be told', () => events.at(-1)?.startsWith('b assigned') === true)
    } finally {
      await a.close()
      await b.close()
    }
  }, 90_000)

  test('an assignment that keeps failing is retried, shown as ASSIGNMENT_FAILED, then handed back: it is never taken as carried out', async () => {
    const groupId = uniqueName('g')
    const tries: number[] = []
    const revoked: number[] = []
    let failure: unknown = null
    const statuses: string[] = []
    const failing: KafkaGroupSource = collectingSource(new Map(), {
      groupId,
      nodeId: 'node-a',
      onAssigned: () => {
        tries.push(Date.now())
        throw new Error('no actor could be started (test)')
      },
      onRevoked: (tps) => {
        revoked.push(...tps.map((tp) => tp.partition))
      },
      onAssignmentFailed: (error) => {
        failure = error
        // As the node does: leave the group, not from inside the callback.
        setTimeout(() => void failing.close(), 0)
      },
    })
    const other = collectingSource(new Map(), { groupId, nodeId: 'node-b' })
    try {
      await failing.start()
      await waitFor('a failed try', () => tries.length === 1)
      await waitFor('the status to name it', () => failing.status().error !== null)
      statuses.push(failing.status().error?.message ?? '')
      expect(failing.status().error?.code).toBe('ASSIGNMENT_FAILED')
      await waitFor('the last try', () => failure !== null, 30_000)
      expect(tries).toHaveLength(5)
      expect(isBatonError(failure, 'ASSIGNMENT_FAILED')).toBe(true)
      expect(statuses[0]).toContain('attempt 1 of 5')
      expect(statuses[0]).toContain('no actor could be started (test)')
      // Leaving revokes the partitions (and with them any actor that did start), and another member takes them.
      await waitFor('the failing member to hand its partitions back', () => revoked.length === PARTITIONS)
      expect(revoked.sort((x, y) => x - y)).toEqual(range(0, PARTITIONS))
      await other.start()
      await waitFor('the other member to own everything', () => other.assignment().length === PARTITIONS)
    } finally {
      await failing.close()
      await other.close()
    }
  }, 90_000)

  test('a static member that restarts under its node id gets its partitions back, nobody else does', async () => {
    const groupId = uniqueName('g')
    const events: string[] = []
    const note = (who: string, what: string) => (tps: TopicPartition[]) => {
      events.push(
        `${who} ${what} ${tps
          .map((tp) => tp.partition)
          .sort()
          .join(',')}`,
      )
    }
    const a = collectingSource(new Map(), {
      groupId,
      nodeId: 'node-a',
      onAssigned: note('a', 'assigned'),
      onRevoked: note('a', 'revoked'),
    })
    const b = collectingSource(new Map(), { groupId, nodeId: 'node-b' })
    let b2: KafkaGroupSource | null = null
    try {
      await a.start()
      await b.start()
      await waitFor('an even split', () => a.assignment().length === 4 && b.assignment().length === 4)
      const ofB = b.assignment().map(tpString).sort()
      const eventsOfA = events.length
      await b.close({ rejoinSoon: true })
      await Bun.sleep(2_000)
      expect(a.assignment()).toHaveLength(4)

      b2 = collectingSource(new Map(), { groupId, nodeId: 'node-b' })
      await b2.start()
      await waitFor('the restarted member to own its partitions', () => b2?.assignment().length === 4)
      expect(b2.assignment().map(tpString).sort()).toEqual(ofB)
      expect(events.slice(eventsOfA)).toEqual([])
    } finally {
      await a.close()
      await b.close()
      await b2?.close()
    }
  }, 60_000)

  test('once the coordinator heard what it owns, a heartbeat carries no partitions either way', async () => {
    // What each heartbeat of a joined member sent as owned (null: unchanged) and whether its answer
    // carried the assignment; at 4,096 partitions resending both every second cost 4% of a node's CPU.
    const heartbeats: { owned: number | null; assignment: boolean }[] = []
    const send = consumerGroupHeartbeatV1.api.async
    consumerGroupHeartbeatV1.api.async = async (...args: Parameters<typeof send>) => {
      const response = await send(...args)
      const [, , , epoch, , , , , , , owned] = args
      if (epoch > 0)
        heartbeats.push({
          owned: owned === null ? null : owned.reduce((n, t) => n + t.partitions.length, 0),
          assignment: response.assignment !== null,
        })
      return response
    }
    const seen = new Map<string, SourceRecord[]>()
    const source = collectingSource(seen, { groupId: uniqueName('g'), nodeId: 'node-a' })
    try {
      await source.start()
      await waitFor('all partitions assigned', () => source.assignment().length === PARTITIONS)
      await waitFor('the assignment reported', () => heartbeats.some((h) => h.owned === PARTITIONS))
      const reported = heartbeats.findIndex((h) => h.owned === PARTITIONS)
      await waitFor('three heartbeats after that', () => heartbeats.length >= reported + 4, 15_000)
      expect(heartbeats.slice(reported + 1)).toEqual(
        heartbeats.slice(reported + 1).map(() => ({ owned: null, assignment: false })),
      )
    } finally {
      consumerGroupHeartbeatV1.api.async = send
      await source.close()
    }
  }, 60_000)

  test('commit reaches the group offsets that lag tooling reads', async () => {
    const groupId = uniqueName('g')
    const seen = new Map<string, SourceRecord[]>()
    const source = collectingSource(seen, { groupId, nodeId: 'node-a' })
    const admin = new Admin({ clientId: 'baton-test', bootstrapBrokers: brokers })
    try {
      await source.start()
      await waitFor('all partitions assigned', () => source.assignment().length === PARTITIONS)
      const feeds = source.assignment().map((tp) => source.feed(tp))
      await Promise.all(feeds.map((feed, i) => feed.commit(100 + i)))
      const offsets = await admin.listConsumerGroupOffsets({ groups: [groupId] })
      const committed = new Map<number, bigint>()
      for (const group of offsets) {
        for (const t of group.topics)
          for (const p of t.partitions) committed.set(p.partitionIndex, p.committedOffset)
      }
      source.assignment().forEach((tp, i) => {
        expect(committed.get(tp.partition)).toBe(BigInt(100 + i))
      })
      // A new owner starts from the committed offset.
      expect(await source.feed(source.assignment()[0] as TopicPartition).initialOffset()).toBe(100)
    } finally {
      await source.close()
      await admin.close()
    }
  }, 60_000)

  test('an offset out of range (records deleted, or past the end) continues from the earliest offset', async () => {
    const small = uniqueName('t')
    await ensureTopics({ brokers, topics: [small], partitions: 1, dlq: false, log: () => {} })
    const producer = new KafkaEventProducer({ brokers })
    const admin = new Admin({ clientId: 'baton-test', bootstrapBrokers: brokers })
    const warnings: string[] = []
    const groupId = uniqueName('g')
    groups.push(groupId)
    const received: SourceRecord[] = []
    const source: KafkaGroupSource = new KafkaGroupSource({
      brokers,
      groupId,
      topics: [small],
      nodeId: 'node-a',
      log: (level, message) => {
        if (level === 'warn') warnings.push(message)
      },
      onAssigned: () => {},
      onRevoked: () => {},
    })
    try {
      await producer.produce(
        small,
        range(0, 200).map((i) => ({ key: null, value: String(i) })),
      )
      await admin.deleteRecords({ topics: [{ name: small, partitions: [{ partition: 0, offset: 100n }] }] })
      await source.start()
      await waitFor('the partition', () => source.assignment().length === 1)
      const feed = source.feed({ topic: small, partition: 0 })
      expect(await feed.initialOffset()).toBe(100)
      feed.start(5, (records) => {
        received.push(...records)
      })
      await waitFor('the retained records', () => received.length === 100)
      expect(received.map((r) => r.offset)).toEqual(range(100, 200))
      expect(warnings.some((w) => w.includes('offset 5') && w.includes('out of range'))).toBe(true)

      const times = received.map((r) => r.timestamp)
      expect(
        await source.offsetForTime({ topic: small, partition: 0 }, times[50] as number),
      ).toBeLessThanOrEqual(150)
      expect(await source.offsetForTime({ topic: small, partition: 0 }, Date.now() + 60_000)).toBe(200)

      received.length = 0
      feed.seek(10_000)
      await waitFor('the records again', () => received.length === 100)
      expect(received[0]?.offset).toBe(100)
    } finally {
      await source.close()
      await producer.close()
      await admin.close()
      await deleteTopics(brokers, [small])
    }
  }, 60_000)

  test('an unreachable Kafka fails start with SERVICE_UNREACHABLE naming the brokers', async () => {
    const source = new KafkaGroupSource({
      brokers: ['127.0.0.1:1'],
      groupId: 'never',
      topics: ['never'],
      nodeId: 'node-a',
      log: () => {},
      onAssigned: () => {},
      onRevoked: () => {},
    })
    const error = await source.start().catch((e) => e)
    await source.close()
    expect(isBatonError(error, 'SERVICE_UNREACHABLE')).toBe(true)
    expect(error.message).toContain('127.0.0.1:1')
  }, 30_000)
})

async function endOffsets(): Promise<number[]> {
  const reader = new PartitionReader(brokers)
  try {
    return await Promise.all(range(0, PARTITIONS).map(async (p) => (await reader.offsets(topic, p)).end))
  } finally {
    await reader.close()
  }
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0)

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i)
}

function unionCount(...maps: Map<string, SourceRecord[]>[]): number {
  const offsets = new Set<string>()
  for (const map of maps)
    for (const records of map.values()) for (const r of records) offsets.add(`${tpString(r)}@${r.offset}`)
  return offsets.size
}
