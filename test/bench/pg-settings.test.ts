import { afterAll, expect, test } from 'bun:test'
import postgres from 'postgres'
import { applyPgSettingsIfAllowed, productionPg, readPgSettings } from '../../bench/kit/pg-settings.ts'
import { serviceEnv } from '../support/env.ts'
import { uniqueName } from '../support/names.ts'

// `bench e2e` may run on a server where its role is no superuser: its latency phase then keeps the
// server's own settings instead of failing after the drains. Nothing here changes a server setting, so
// it cannot disturb the latency bench's test running beside it.

const { DATABASE_URL } = serviceEnv()
const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} })
const role = uniqueName('bench_role')
await admin.unsafe(`create role ${role} login`)
const url = new URL(DATABASE_URL)
url.username = role
url.password = ''
const plain = postgres(url.toString(), { max: 1, onnotice: () => {} })

afterAll(async () => {
  await plain.end()
  await admin.unsafe(`drop role if exists ${role}`)
  await admin.end()
})

test('a role that may not ALTER SYSTEM gets the reason back and the settings stay as they were', async () => {
  const before = await readPgSettings(admin, Object.keys(productionPg))
  const { reset, refused } = await applyPgSettingsIfAllowed(plain, productionPg)
  expect(refused).toContain('permission denied')
  await reset()
  expect(await readPgSettings(admin, Object.keys(productionPg))).toEqual(before)
})

test('any other error is thrown, not taken for a refusal', async () => {
  await expect(applyPgSettingsIfAllowed(admin, { no_such_setting: '1' })).rejects.toThrow(
    'unrecognized configuration parameter',
  )
})
