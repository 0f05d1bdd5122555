import { expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { redisAclRules } from './acl.ts'

test('README documents exactly the ACL line that the secure test services run baton under', () => {
  const readme = readFileSync(join(import.meta.dir, '..', '..', 'README.md'), 'utf8')
  expect(readme).toContain(`user baton on ><password> ${redisAclRules()}`)
  expect(redisAclRules()).not.toMatch(/\+(keys|scan|flushall|flushdb|config)\b/)
})
