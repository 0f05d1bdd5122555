import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Redis from 'ioredis'
import { isBatonError } from '../actors/core/errors.ts'
import { servicesDown, servicesUp, startService, stopService } from '../deploy/local/services.ts'
import { serviceEnv } from '../test/support/env.ts'
import { uniqueName } from '../test/support/names.ts'
import { createMembershipRegistry, type MembershipOptions, type PartitionClaim } from './membership.ts'

const admin = new Redis(serviceEnv().REDIS_URL, { lazyConnect: true })
const prefix = `${uniqueName('baton')}:`
const opened: { close(): Promise<void> }[] = []

/** A registry of a group of its own, with short timings so that expiry takes a second, not ten. */
async function registry(options: Partial<MembershipOptions> = {}) {
  const r = await createMembershipRegistry({
    url: serviceEnv().REDIS_URL,
    group: uniqueName('g'),
    prefix,
    heartbeatMs: 100,
    ttlMs: 500,
    checkMs: 20,
    ...options,
  })
  opened.push(r)
  return r
}

/** Polls `read` until `done` holds for its value, for at most `ms`; returns the last value. */
async function until<T>(read: () => Promise<T> | T, done: (value: T) => boolean, ms = 5_000): Promise<T> {
  const deadline = Date.now() + ms
  let value = await read()
  while (!done(value) && Date.now() < deadline) {
    await Bun.sleep(20)
    value = await read()
  }
  return value
}

const self = (id: string) => ({
  id,
  httpUrl: `http://127.0.0.1:80${id.slice(-1)}0/`,
  startedAt: '2026-01-01T00:00:00.000Z',
})

beforeAll(async () => {
  await admin.connect()
})

afterAll(async () => {
  for (const r of opened) await r.close()
  // Only this file's keys, found by SCAN on the admin connection (the registry itself never lists keys).
  for await (const keys of admin.scanStream({ match: `${prefix}*`, count: 1000 })) {
    if (keys.length > 0) await admin.del(...keys)
  }
  admin.disconnect()
})

describe('membership registry', () => {
  test('a member is listed with its URL (no trailing slash), start time and claims; the keys share a hash tag', async () => {
    const r = await registry({ group: 'orders-app' })
    expect(r.keys.ids).toBe(`${prefix}members:{orders-app}`)
    expect(r.keys.member('baton-0')).toBe(`${prefix}members:{orders-app}:baton-0`)
    const claims: PartitionClaim[] = [{ topic: 'orders', partition: 3, epoch: 7 }]
    r.join(self('baton-0'), () => claims)
    const members = await until(r.members, (m) => m.length === 1)
    expect(members).toEqual([
      {
        id: 'baton-0',
        httpUrl: 'http://127.0.0.1:8000',
        startedAt: '2026-01-01T00:00:00.000Z',
        updatedAt: expect.any(String),
        partitions: claims,
      },
    ])
    const ttl = await admin.pttl(r.keys.member('baton-0'))
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(500)
  })

  test('members of two groups do not see each other', async () => {
    const a = await registry()
    const b = await registry()
    a.join(self('baton-0'), () => [])
    b.join(self('baton-1'), () => [])
    expect((await until(a.members, (m) => m.length > 0)).map((m) => m.id)).toEqual(['baton-0'])
    expect((await until(b.members, (m) => m.length > 0)).map((m) => m.id)).toEqual(['baton-1'])
  })

  test('a changed claim (a new epoch, a partition gained) is published without waiting for changed()', async () => {
    const r = await registry({ heartbeatMs: 60_000, ttlMs: 120_000 })
    let claims: PartitionClaim[] = [{ topic: 't', partition: 0, epoch: 0 }]
    r.join(self('baton-0'), () => claims)
    await until(r.members, (m) => m.length === 1)
    claims = [{ topic: 't', partition: 0, epoch: 12 }]
    const members = await until(r.members, (m) => m[0]?.partitions[0]?.epoch === 12)
    expect(members[0]?.partitions).toEqual(claims)
  })

  test('a member that stops writing disappears within the TTL, and its id leaves the set', async () => {
    const group = uniqueName('g')
    const reader = await registry({ group })
    const dying = await registry({ group })
    reader.join(self('baton-0'), () => [])
    dying.join(self('baton-1'), () => [{ topic: 't', partition: 1, epoch: 3 }])
    expect((await until(reader.members, (m) => m.length === 2)).map((m) => m.id)).toEqual([
      'baton-0',
      'baton-1',
    ])
    await dying.close() // a crash as far as the registry can tell: no more writes, no goodbye
    const members = await until(reader.members, (m) => m.length === 1, 3_000)
    expect(members.map((m) => m.id)).toEqual(['baton-0'])
    expect(await admin.smembers(reader.keys.ids)).toEqual(['baton-0'])
  })

  test('leave() removes the member at once', async () => {
    const group = uniqueName('g')
    const reader = await registry({ group, ttlMs: 60_000, heartbeatMs: 1_000 })
    const leaving = await registry({ group, ttlMs: 60_000, heartbeatMs: 1_000 })
    reader.join(self('baton-0'), () => [])
    leaving.join(self('baton-1'), () => [])
    await until(reader.members, (m) => m.length === 2)
    await leaving.leave()
    expect((await reader.members()).map((m) => m.id)).toEqual(['baton-0'])
    expect(await admin.exists(leaving.keys.member('baton-1'))).toBe(0)
  })

  test('a record that is not a member is skipped', async () => {
    const r = await registry()
    r.join(self('baton-0'), () => [])
    await until(r.members, (m) => m.length === 1)
    await admin.set(r.keys.member('intruder'), '{"id": 5}', 'PX', 60_000)
    await admin.sadd(r.keys.ids, 'intruder')
    expect((await r.members()).map((m) => m.id)).toEqual(['baton-0'])
  })

  test('a TTL shorter than two heartbeats is refused', async () => {
    const err = await registry({ heartbeatMs: 2_000, ttlMs: 3_000 }).catch((e) => e)
    expect(isBatonError(err, 'CONFIG_INVALID')).toBe(true)
  })
})

describe('membership registry while Redis is down', () => {
  // A Redis of this test's own, since it is stopped.
  const dir = mkdtempSync(join(tmpdir(), 'baton-membership-'))
  let url = ''

  beforeAll(async () => {
    const { env } = await servicesUp({ dir, only: ['redis'], useEnv: false })
    url = env.REDIS_URL as string
  })

  afterAll(async () => {
    await servicesDown({ dir })
    rmSync(dir, { recursive: true, force: true })
  })

  test('writes fail and problem() says so; reads throw REGISTRY_UNAVAILABLE; both recover with Redis', async () => {
    const r = await registry({ url })
    r.join(self('baton-0'), () => [])
    await until(r.members, (m) => m.length === 1)
    expect(r.problem()).toBeNull()

    await stopService('redis', { dir })
    const problem = await until(r.problem, (p) => p !== null)
    expect(problem).toContain('Redis: the membership registry at redis://127.0.0.1:')
    const err = await r.members().catch((e) => e)
    expect(isBatonError(err, 'REGISTRY_UNAVAILABLE')).toBe(true)

    await startService('redis', { dir })
    expect(await until(r.problem, (p) => p === null, 10_000)).toBeNull()
    expect((await r.members()).map((m) => m.id)).toEqual(['baton-0'])
  }, 60_000)

  test('an unreachable Redis at start is SERVICE_UNREACHABLE naming it', async () => {
    const err = await createMembershipRegistry({ url: 'redis://127.0.0.1:1', group: 'g' }).catch((e) => e)
    expect(isBatonError(err, 'SERVICE_UNREACHABLE')).toBe(true)
    expect(err.message).toContain('redis://127.0.0.1:1')
  })
})
