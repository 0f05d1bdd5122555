import { expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { rolesSql } from './postgres-secure.ts'

test('README documents exactly the SQL that makes the secure test services two roles', () => {
  const readme = readFileSync(join(import.meta.dir, '..', '..', 'README.md'), 'utf8')
  const sql = rolesSql({
    database: 'baton',
    ownerPassword: '<owner password>',
    runtimePassword: '<runtime password>',
  })
  expect(readme).toContain([...sql.server, '\\c baton', ...sql.database].join('\n'))
})
