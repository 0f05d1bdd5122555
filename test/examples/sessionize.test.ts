import { expect, test } from 'bun:test'
import { join } from 'node:path'
import type { EventToProduce } from '../../actors/kafka/producer.ts'
import { SESSION_GAP_MS } from '../../examples/sessionize.ts'
import { scenarioOnPrivatePostgres } from '../cluster/harness.ts'

// A PostgreSQL of this test's own: the example's tables are not per topic.
const file = scenarioOnPrivatePostgres()

/** A deterministic stream: 300 users, each with 3 to 6 sessions of 1 to 8 clicks, in event-time order. */
function clickStream(): { events: EventToProduce[]; sessions: Map<string, string[]> } {
  let seed = 42
  const random = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
    return seed % n
  }
  const clicks: { user: string; time: number }[] = []
  const sessions = new Map<string, string[]>()
  // Recent event times: Kafka rolls a segment whose first record is older than its segment.ms (7 days)
  // and retention then deletes it, so a fixed date long past lost the stream's head mid-test now and then
  // ("offset 400 is out of range; continuing from the earliest, 1400").
  const t0 = Math.floor((Date.now() - 2 * 86_400_000) / 60_000) * 60_000
  for (let u = 0; u < 300; u++) {
    const user = `user-${u}`
    let time = t0 + random(60) * 60_000
    const mine: string[] = []
    for (let s = 0, n = 3 + random(4); s < n; s++) {
      const start = time
      const count = 1 + random(8)
      for (let c = 0; c < count; c++) {
        clicks.push({ user, time })
        if (c < count - 1) time += (1 + random(10)) * 60_000
      }
      mine.push(`${start}/${time}/${count}`)
      time += SESSION_GAP_MS + (1 + random(90)) * 60_000
    }
    sessions.set(user, mine)
  }
  clicks.sort((a, b) => a.time - b.time)
  const events = clicks.map((c) => ({
    key: c.user,
    value: JSON.stringify({ user: c.user, url: '/' }),
    time: c.time,
  }))
  return { events, sessions }
}

test('sessions from a click stream, the node killed with SIGKILL mid-stream: every session written once, none lost', async () => {
  const { events, sessions: expected } = clickStream()
  await file.scenario.createTopics()
  await file.scenario.produceEvents(events)
  const env = {
    BATON_PIPELINE: join(import.meta.dir, '..', '..', 'examples', 'sessionize.ts'),
    BATON_BATCH_MAX_EVENTS: '200',
  }
  const first = await file.scenario.startNode('baton-0', env)
  const deadline = Date.now() + 60_000
  while ((await file.scenario.committed()) < events.length / 3 && Date.now() < deadline) await Bun.sleep(10)
  await first.kill()
  expect(await file.scenario.committed()).toBeLessThan(events.length)
  await file.scenario.startNode('baton-0', env)
  await file.scenario.caughtUp(120_000)

  // Closed sessions and those still open (no later click ended them yet) together are every session.
  const closed = await file.scenario.sql<{ user_id: string; s: string; e: string; clicks: number }[]>`
    select user_id, (extract(epoch from session_start) * 1000)::bigint::text as s,
           (extract(epoch from session_end) * 1000)::bigint::text as e, clicks from sessions`
  const open = await file.scenario.sql<{ user_id: string; s: string; e: string; clicks: number }[]>`
    select user_id, (extract(epoch from session_start) * 1000)::bigint::text as s,
           (extract(epoch from last_click) * 1000)::bigint::text as e, clicks from open_sessions`
  const actual = new Map<string, string[]>()
  for (const r of [...closed, ...open]) {
    actual.set(r.user_id, [...(actual.get(r.user_id) ?? []), `${r.s}/${r.e}/${r.clicks}`])
  }
  let wrong = 0
  for (const [user, sessions] of expected) {
    if (JSON.stringify((actual.get(user) ?? []).toSorted()) !== JSON.stringify(sessions.toSorted())) wrong++
  }
  expect(wrong).toBe(0)
  expect(actual.size).toBe(expected.size)
  // Every user's last session stays open until a later click of the partition passes its gap; most closed.
  expect(closed.length).toBeGreaterThan(open.length)
}, 240_000)
