import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isBatonError } from '../core/errors.ts'
import { postgresConnection } from './tls.ts'

const dir = mkdtempSync(join(tmpdir(), 'baton-pg-tls-'))
const ca = join(dir, 'ca.pem')
writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('postgresConnection', () => {
  test('no sslmode: the URL as it is, no TLS', () => {
    expect(postgresConnection('postgres://u:p@db:5432/baton')).toEqual({
      url: 'postgres://u:p@db:5432/baton',
      ssl: false,
    })
  })

  test('verify-full with sslrootcert: the CA file is read, and both parameters leave the URL', () => {
    const { url, ssl } = postgresConnection(
      `postgres://u:p@db:5432/baton?sslmode=verify-full&sslrootcert=${ca}&application_name=x`,
    )
    expect(url).toBe('postgres://u:p@db:5432/baton?application_name=x')
    expect(ssl).toMatchObject({ rejectUnauthorized: true, ca: expect.stringContaining('BEGIN CERTIFICATE') })
    expect(typeof (ssl as { checkServerIdentity?: unknown }).checkServerIdentity).toBe('function')
  })

  test('require with a CA verifies the chain (as libpq does); without one it only encrypts', () => {
    const verified = postgresConnection(`postgres://db/baton?sslmode=require&sslrootcert=${ca}`).ssl
    expect(verified).toMatchObject({ rejectUnauthorized: true, ca: expect.any(String) })
    expect(postgresConnection('postgres://db/baton?sslmode=require').ssl).toBe('require')
    expect(postgresConnection('postgres://db/baton?sslmode=prefer').ssl).toBe('prefer')
    expect(postgresConnection('postgres://db/baton?sslmode=disable').ssl).toBe(false)
  })

  test('an unknown sslmode or a missing CA file is CONFIG_INVALID naming the variable', () => {
    for (const url of [
      'postgres://db/baton?sslmode=sometimes',
      `postgres://db/baton?sslmode=verify-full&sslrootcert=${join(dir, 'missing.pem')}`,
    ]) {
      let thrown: unknown
      try {
        postgresConnection(url, 'DATABASE_MIGRATION_URL')
      } catch (err) {
        thrown = err
      }
      expect(isBatonError(thrown, 'CONFIG_INVALID')).toBe(true)
      expect((thrown as Error).message).toContain('DATABASE_MIGRATION_URL')
    }
  })
})
