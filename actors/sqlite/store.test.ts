import { afterEach, beforeEach, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDatabase, SqliteStore } from './store.ts'

let dir: string

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'baton-store-'))
})

afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
})

test('opens in WAL mode with the chosen durability, creating missing folders', () => {
  const full = openDatabase(join(dir, 'a', 'b', 'full.db'))
  expect(full.query('pragma journal_mode').get()).toEqual({ journal_mode: 'wal' })
  expect(full.query('pragma synchronous').get()).toEqual({ synchronous: 2 })
  full.close()
  const normal = openDatabase(join(dir, 'normal.db'), { durability: 'NORMAL' })
  expect(normal.query('pragma synchronous').get()).toEqual({ synchronous: 1 })
  normal.close()
})

test('a file that cannot be opened is an error naming the path and BATON_DATA_DIR', () => {
  const open = () => openDatabase('/proc/baton-cannot-write-here/x.db')
  expect(open).toThrow(expect.objectContaining({ code: 'SINK_UNAVAILABLE' }))
  expect(open).toThrow('BATON_DATA_DIR')
})

test('an async transaction commits, or rolls back when its function throws', async () => {
  const store = SqliteStore.open(join(dir, 's.db'))
  store.db.run('create table t (a)')
  await store.transaction(async (db) => {
    db.run('insert into t values (1)')
    await Bun.sleep(1)
  })
  await expect(
    store.transaction(async (db) => {
      db.run('insert into t values (2)')
      await Bun.sleep(1)
      throw new Error('no')
    }),
  ).rejects.toThrow('no')
  expect(store.db.query('select a from t').all()).toEqual([{ a: 1 }])
  await store.close()
})

test('the file closes when the last user releases it, after the transaction under way', async () => {
  const store = SqliteStore.open(join(dir, 's.db'))
  store.acquire()
  store.acquire()
  let release = () => {}
  const running = store.transaction(
    () =>
      new Promise<void>((resolve) => {
        release = resolve
      }),
  )
  await store.release()
  const closing = store.release()
  await Bun.sleep(1)
  expect(store.db.query('select 1 as one').get()).toEqual({ one: 1 })
  release()
  await running
  await closing
  await expect(store.exclusive(() => 1)).rejects.toMatchObject({ code: 'SINK_UNAVAILABLE' })
})
