import { afterEach, beforeEach, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SqliteCheckpoints } from './checkpoints.ts'
import { SqliteStore } from './store.ts'

const key = { group: 'g', topic: 't', partition: 0 }
let dir: string
let checkpoints: SqliteCheckpoints

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'baton-checkpoints-'))
  checkpoints = new SqliteCheckpoints(SqliteStore.open(join(dir, 'sink.db')))
})

afterEach(async () => {
  await checkpoints.close()
  rmSync(dir, { recursive: true, force: true })
})

test('epochs count up from 1 per partition, also when asked for at once, and survive a reopen', async () => {
  expect(await checkpoints.nextEpoch(key)).toBe(1)
  const many = await Promise.all(Array.from({ length: 20 }, () => checkpoints.nextEpoch(key)))
  expect(new Set(many).size).toBe(20)
  expect(Math.max(...many)).toBe(21)
  expect(await checkpoints.nextEpoch({ ...key, partition: 1 })).toBe(1)
  expect(await checkpoints.nextEpoch({ ...key, group: 'other' })).toBe(1)
  await checkpoints.close()
  checkpoints = new SqliteCheckpoints(SqliteStore.open(join(dir, 'sink.db')))
  expect(await checkpoints.nextEpoch(key)).toBe(22)
})

test('read is null until a checkpoint is written', async () => {
  expect(await checkpoints.read(key)).toBeNull()
  const epoch = await checkpoints.nextEpoch(key)
  expect(await checkpoints.read(key)).toBeNull()
  expect(await checkpoints.write(key, epoch, 10)).toBe(true)
  expect(await checkpoints.read(key)).toEqual({ nextOffset: 10, epoch })
})

test('write applies only for the current epoch and a growing offset', async () => {
  const old = await checkpoints.nextEpoch(key)
  expect(await checkpoints.write(key, old, 5)).toBe(true)
  const current = await checkpoints.nextEpoch(key)
  expect(await checkpoints.write(key, old, 50)).toBe(false)
  expect(await checkpoints.read(key)).toEqual({ nextOffset: 5, epoch: current })
  expect(await checkpoints.write(key, current, 5)).toBe(false)
  expect(await checkpoints.write(key, current, 4)).toBe(false)
  expect(await checkpoints.write(key, current, 6)).toBe(true)
  expect(await checkpoints.write(key, current + 1, 7)).toBe(false)
  expect(await checkpoints.write({ ...key, partition: 9 }, current, 7)).toBe(false)
  expect(await checkpoints.read(key)).toEqual({ nextOffset: 6, epoch: current })
})

test('after close every call is CHECKPOINT_UNAVAILABLE', async () => {
  await checkpoints.close()
  await expect(checkpoints.nextEpoch(key)).rejects.toMatchObject({ code: 'CHECKPOINT_UNAVAILABLE' })
})
