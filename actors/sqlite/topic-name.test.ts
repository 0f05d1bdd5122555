import { expect, test } from 'bun:test'
import fc from 'fast-check'
import { assertTopicName } from './topic-name.ts'

test('accepts what Kafka accepts', () => {
  for (const name of ['events', 'iot.readings-v2', 'A_b.C-9', '...', 'x'.repeat(249)]) {
    expect(() => assertTopicName(name)).not.toThrow()
  }
})

test.each([
  ['', 'empty'],
  ['x'.repeat(250), 'at most 249'],
  ['.', 'reserved'],
  ['..', 'reserved'],
  ['orders/eu', 'only letters'],
  ['a b', 'only letters'],
  ['ünï', 'only letters'],
])('refuses %p with BAD_REQUEST saying why', (name, why) => {
  expect(() => assertTopicName(name)).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }))
  expect(() => assertTopicName(name)).toThrow(why)
})

test('any name with a character outside [a-zA-Z0-9._-] is refused', () => {
  fc.assert(
    fc.property(fc.string({ minLength: 1, maxLength: 40 }), (name) => {
      const legal = /^[a-zA-Z0-9._-]+$/.test(name) && name !== '.' && name !== '..'
      let accepted = true
      try {
        assertTopicName(name)
      } catch {
        accepted = false
      }
      expect(accepted).toBe(legal)
    }),
  )
})
