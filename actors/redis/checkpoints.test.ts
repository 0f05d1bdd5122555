import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Subprocess } from 'bun'
import Redis from 'ioredis'
import { freeLoopbackPort } from '../../deploy/local/ports.ts'
import { requireRedisServer } from '../../deploy/local/prerequisites.ts'
import { serviceEnv } from '../../test/support/env.ts'
import { uniqueName } from '../../test/support/names.ts'
import type { PartitionKey } from '../ports.ts'
import { createRedisCheckpoints, type RedisCheckpoints } from './checkpoints.ts'

const admin = new Redis(serviceEnv().REDIS_URL, { lazyConnect: true })
const prefix = `${uniqueName('baton')}:`
let checkpoints: RedisCheckpoints

const newKey = (partition = 0): PartitionKey => ({
  group: uniqueName('g'),
  topic: uniqueName('t'),
  partition,
})

beforeAll(async () => {
  await admin.connect()
  checkpoints = await createRedisCheckpoints({ url: serviceEnv().REDIS_URL, prefix })
})

afterAll(async () => {
  await checkpoints.close()
  // Only this file's keys, found by SCAN on the admin connection (baton itself never lists keys).
  for await (const keys of admin.scanStream({ match: `${prefix}*`, count: 1000 })) {
    if (keys.length > 0) await admin.del(...keys)
  }
  admin.disconnect()
})

describe('epochs', () => {
  test('each take of a partition gets the next epoch; partitions count apart', async () => {
    const key = newKey()
    const first = await checkpoints.nextEpoch(key)
    expect(await checkpoints.nextEpoch(key)).toBe(first + 1)
    expect(await checkpoints.nextEpoch(key)).toBe(first + 2)
    const other = await checkpoints.nextEpoch({ ...key, partition: 1 })
    expect(await checkpoints.nextEpoch({ ...key, partition: 1 })).toBe(other + 1)
    expect(await checkpoints.nextEpoch(key)).toBe(first + 3)
  })

  test('an epoch is above the one the sink holds, and above every one before', async () => {
    const key = newKey()
    const first = await checkpoints.nextEpoch(key)
    const sinkEpoch = first + 1_000
    expect(await checkpoints.nextEpoch(key, sinkEpoch)).toBe(sinkEpoch + 1)
    expect(await checkpoints.nextEpoch(key, first)).toBe(sinkEpoch + 2)
  })

  test("a partition's keys share one hash tag", () => {
    const keys = checkpoints.keysOf({ group: 'orders-app', topic: 'orders', partition: 3 })
    expect(keys).toEqual({
      epoch: `${prefix}{orders-app:orders:3}:epoch`,
      checkpoint: `${prefix}{orders-app:orders:3}:checkpoint`,
    })
  })

  test('a counter Redis lost (FLUSHALL, restart without persistence) starts above every epoch before it', async () => {
    const key = newKey()
    // As many takes as fast as Redis can run them: still no epoch ahead of the clock.
    const burst = await Promise.all(Array.from({ length: 500 }, () => checkpoints.nextEpoch(key)))
    expect(new Set(burst).size).toBe(500)
    await admin.del(checkpoints.keysOf(key).epoch)
    expect(await checkpoints.nextEpoch(key)).toBeGreaterThan(Math.max(...burst))
  })
})

describe('checkpoints', () => {
  test('write applies for the current epoch and a growing offset; read returns it', async () => {
    const key = newKey()
    expect(await checkpoints.read(key)).toBeNull()
    const epoch = await checkpoints.nextEpoch(key)
    expect(await checkpoints.write(key, epoch, 100)).toBe(true)
    expect(await checkpoints.write(key, epoch, 250)).toBe(true)
    expect(await checkpoints.read(key)).toEqual({ nextOffset: 250, epoch })
  })

  test('a lower offset is refused; the same checkpoint again (a retry) counts as applied', async () => {
    const key = newKey()
    const epoch = await checkpoints.nextEpoch(key)
    await checkpoints.write(key, epoch, 250)
    expect(await checkpoints.write(key, epoch, 249)).toBe(false)
    expect(await checkpoints.write(key, epoch, 250)).toBe(true)
    expect(await checkpoints.read(key)).toEqual({ nextOffset: 250, epoch })
  })

  test('an old epoch is fenced: its write is refused and changes nothing, even with a higher offset', async () => {
    const key = newKey()
    const old = await checkpoints.nextEpoch(key)
    await checkpoints.write(key, old, 10)
    const current = await checkpoints.nextEpoch(key)
    expect(await checkpoints.write(key, old, 20)).toBe(false)
    expect(await checkpoints.read(key)).toEqual({ nextOffset: 10, epoch: old })
    // The new owner moves on from where the old one stopped, not from 20.
    expect(await checkpoints.write(key, current, 10)).toBe(false)
    expect(await checkpoints.write(key, current, 15)).toBe(true)
    expect(await checkpoints.read(key)).toEqual({ nextOffset: 15, epoch: current })
  })

  test('a write without any epoch taken (or after Redis lost it) is refused', async () => {
    const key = newKey()
    expect(await checkpoints.write(key, 1, 10)).toBe(false)
    expect(await checkpoints.read(key)).toBeNull()
  })

  test('the script is loaded again after Redis forgot it (SCRIPT FLUSH, restart)', async () => {
    const key = newKey()
    const epoch = await checkpoints.nextEpoch(key)
    await admin.script('FLUSH')
    expect(await checkpoints.write(key, epoch, 1)).toBe(true)
  })
})

describe('coalesced writes', () => {
  /** Script runs Redis counted so far (EVALSHA, and EVAL when a connection loads the script). */
  const scriptCalls = async () => {
    const stats = String(await admin.call('INFO', 'commandstats'))
    return [...stats.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)].reduce(
      (n, m) => n + Number(m[1]),
      0,
    )
  }

  test('one stale partition in a pipeline is refused alone: the others of the same pipeline apply', async () => {
    const keys = Array.from({ length: 64 }, (_, i) => newKey(i))
    const epochs = await Promise.all(keys.map((key) => checkpoints.nextEpoch(key)))
    const stale = 17
    // A newer owner takes partition 17: its old epoch is now a zombie's.
    const newer = await checkpoints.nextEpoch(keys[stale] as PartitionKey)
    const applied = await Promise.all(
      keys.map((key, i) => checkpoints.write(key, epochs[i] as number, 100 + i)),
    )
    expect(applied).toEqual(keys.map((_, i) => i !== stale))
    const stored = await Promise.all(keys.map((key) => checkpoints.read(key)))
    expect(stored).toEqual(
      keys.map((_, i) => (i === stale ? null : { nextOffset: 100 + i, epoch: epochs[i] as number })),
    )
    expect(await checkpoints.write(keys[stale] as PartitionKey, newer, 5)).toBe(true)
  })

  test('writes asked in one moment reach Redis once per partition, the latest offset each', async () => {
    const keys = Array.from({ length: 10 }, (_, i) => newKey(i))
    const epochs = await Promise.all(keys.map((key) => checkpoints.nextEpoch(key)))
    const before = await scriptCalls()
    const writes = keys.flatMap((key, i) =>
      Array.from({ length: 10 }, (_, n) => checkpoints.write(key, epochs[i] as number, n + 1)),
    )
    // Every caller hears that a checkpoint at or past its offset applied.
    expect(await Promise.all(writes)).toEqual(writes.map(() => true))
    expect((await scriptCalls()) - before).toBe(keys.length)
    for (const [i, key] of keys.entries()) {
      expect(await checkpoints.read(key)).toEqual({ nextOffset: 10, epoch: epochs[i] as number })
    }
  })

  test('a checkpoint never goes back: an older offset after a newer one is refused, in one pipeline or the next', async () => {
    const key = newKey()
    const epoch = await checkpoints.nextEpoch(key)
    expect(await checkpoints.write(key, epoch, 9)).toBe(true)
    const other = newKey()
    const otherEpoch = await checkpoints.nextEpoch(other)
    const [back, beside] = await Promise.all([
      checkpoints.write(key, epoch, 7),
      checkpoints.write(other, otherEpoch, 3),
    ])
    expect([back, beside]).toEqual([false, true])
    expect(await checkpoints.read(key)).toEqual({ nextOffset: 9, epoch })
  })

  test('writes of two epochs of one partition in one moment: each epoch is judged on its own', async () => {
    const key = newKey()
    const old = await checkpoints.nextEpoch(key)
    const current = await checkpoints.nextEpoch(key)
    const [zombie, owner] = await Promise.all([
      checkpoints.write(key, old, 50),
      checkpoints.write(key, current, 40),
    ])
    expect([zombie, owner]).toEqual([false, true])
    expect(await checkpoints.read(key)).toEqual({ nextOffset: 40, epoch: current })
  })

  test('close waits for the writes still queued', async () => {
    const own = await createRedisCheckpoints({ url: serviceEnv().REDIS_URL, prefix })
    const key = newKey()
    const epoch = await own.nextEpoch(key)
    const write = own.write(key, epoch, 12)
    await own.close()
    expect(await write).toBe(true)
    expect(await checkpoints.read(key)).toEqual({ nextOffset: 12, epoch })
  })
})

test('everything works under a least-privilege ACL user that may not run KEYS, FLUSHALL or CONFIG', async () => {
  const user = uniqueName('acl')
  const password = uniqueName('pw')
  await admin.call(
    'ACL',
    'SETUSER',
    user,
    'reset',
    'on',
    `>${password}`,
    `~${prefix}*`,
    'resetchannels',
    '-@all',
    ...[
      '+ping',
      '+evalsha',
      '+eval',
      '+hmget',
      '+exists',
      '+time',
      '+set',
      '+incr',
      '+get',
      '+hget',
      '+hset',
    ],
  )
  const url = new URL(serviceEnv().REDIS_URL)
  url.username = user
  url.password = password
  const limited = await createRedisCheckpoints({ url: url.toString(), prefix })
  const probe = new Redis(url.toString(), {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableReadyCheck: false,
  })
  try {
    const key = newKey()
    const epoch = await limited.nextEpoch(key)
    expect(await limited.write(key, epoch, 7)).toBe(true)
    expect(await limited.read(key)).toEqual({ nextOffset: 7, epoch })
    await probe.connect()
    for (const command of [['KEYS', '*'], ['FLUSHALL'], ['CONFIG', 'GET', 'maxmemory']]) {
      await expect(probe.call(command[0] as string, ...command.slice(1))).rejects.toThrow(/NOPERM/)
    }
    await expect(probe.get('not-baton:key')).rejects.toThrow(/NOPERM/)
  } finally {
    probe.disconnect()
    await limited.close()
    await admin.call('ACL', 'DELUSER', user)
  }
})

describe('an unavailable Redis', () => {
  test('unreachable at start: SERVICE_UNREACHABLE at once, password masked', async () => {
    const url = `redis://:hunter2-redis@127.0.0.1:${await freeLoopbackPort()}`
    const started = performance.now()
    const err = await createRedisCheckpoints({ url }).then(
      () => null,
      (e) => e,
    )
    expect(performance.now() - started).toBeLessThan(2_000)
    expect(err).toMatchObject({ code: 'SERVICE_UNREACHABLE' })
    expect(err.message).toContain('redis://:***@127.0.0.1:')
    expect(err.message).not.toContain('hunter2')
  })

  test('wrong credentials at start: SERVICE_AUTH_FAILED that says so, password masked', async () => {
    const url = new URL(serviceEnv().REDIS_URL)
    url.username = uniqueName('nobody')
    url.password = 'wrong-hunter2'
    const err = await createRedisCheckpoints({ url: url.toString() }).then(
      () => null,
      (e) => e,
    )
    expect(err).toMatchObject({ code: 'SERVICE_AUTH_FAILED' })
    expect(err.message).toMatch(/refused baton's credentials \(WRONGPASS/)
    expect(err.message).not.toContain('wrong-hunter2')
  })

  test('Redis dies: commands fail fast with CHECKPOINT_UNAVAILABLE; once it is back, they work again', async () => {
    const port = await freeLoopbackPort()
    const password = 'hunter2-dies'
    const url = `redis://:${password}@127.0.0.1:${port}`
    let server = await startRedis(port, password)
    const dying = await createRedisCheckpoints({ url })
    try {
      const key = newKey()
      const before = await dying.nextEpoch(key)
      server.kill('SIGKILL')
      await server.exited

      const started = performance.now()
      const err = await dying.write(key, before, 1).then(
        () => null,
        (e) => e,
      )
      expect(performance.now() - started).toBeLessThan(1_000)
      expect(err).toMatchObject({ code: 'CHECKPOINT_UNAVAILABLE' })
      expect(err.message).toContain(`Redis at redis://:***@127.0.0.1:${port} is unavailable while writing`)
      expect(err.message).not.toContain(password)

      server = await startRedis(port, password)
      const after = await eventually(() => dying.nextEpoch(key))
      // That Redis started empty: the epoch counter is seeded above the lost one.
      expect(after).toBeGreaterThan(before)
    } finally {
      await dying.close()
      server.kill('SIGKILL')
      await server.exited
    }
  })
})

/** A Redis of this test's own, on `port`, without persistence; resolves once it answers. */
async function startRedis(port: number, password: string): Promise<Subprocess> {
  const server = Bun.spawn(
    [requireRedisServer(), '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' },
  )
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null })
  client.on('error', () => {})
  await eventually(async () => {
    if (client.status !== 'ready') await client.connect()
    await client.call('CONFIG', 'SET', 'requirepass', password)
  })
  client.disconnect()
  return server
}

/** Retries `fn` every 50 ms for up to 5 s: for a real server coming up, which no event announces. */
async function eventually<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = performance.now() + 5_000
  for (;;) {
    try {
      return await fn()
    } catch (err) {
      if (performance.now() > deadline) throw err
      await Bun.sleep(50)
    }
  }
}
