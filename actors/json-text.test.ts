import { expect, test } from 'bun:test'
import fc from 'fast-check'
import { isJsonText } from './json-text.ts'

/** What the check must agree with: JSON.parse of the bytes decoded as UTF-8. */
function parses(bytes: Buffer): boolean {
  try {
    JSON.parse(bytes.toString('utf8'))
    return true
  } catch {
    return false
  }
}

const agrees = (text: string) => {
  const bytes = Buffer.from(text)
  expect({ text, accepted: isJsonText(bytes) }).toEqual({ text, accepted: parses(bytes) })
}

/** A JSON text with one character inserted, removed or replaced: mostly not JSON any more. */
const mutated = fc
  .tuple(
    fc.json(),
    fc.nat(),
    fc.constantFrom('insert', 'remove', 'replace'),
    fc.constantFrom(...'{}[]",:\\/ \t\n\r-+.0123456789eEtrufalsn\u0000\u001f\u00e9x'),
  )
  .map(([text, at, how, c]) => {
    const i = text.length === 0 ? 0 : at % text.length
    if (how === 'insert') return text.slice(0, i) + c + text.slice(i)
    if (how === 'remove') return text.slice(0, i) + text.slice(i + 1)
    return text.slice(0, i) + c + text.slice(i + 1)
  })

test('accepts every JSON text, with any whitespace around it', () => {
  fc.assert(
    fc.property(fc.json(), fc.constantFrom('', ' ', '\n\t', '\r\n '), (text, space) => {
      expect(isJsonText(Buffer.from(space + text + space))).toBe(true)
    }),
    { numRuns: 2_000 },
  )
})

test('agrees with JSON.parse on JSON texts with one character changed, and on any string', () => {
  fc.assert(fc.property(mutated, agrees), { numRuns: 5_000 })
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 30 }), agrees), { numRuns: 5_000 })
})

test('the edges of the grammar, as JSON.parse decides them', () => {
  const cases = [
    '',
    ' ',
    '0',
    '-0',
    '01',
    '-',
    '1.',
    '.5',
    '1.5e',
    '1.5e+7',
    '1E-7',
    '1e07',
    '+1',
    '0x10',
    'true',
    'tru',
    'trueX',
    'null null',
    'nul',
    '"a',
    '"\\u12"',
    '"\\u12aF"',
    '"\\x"',
    '"\\/\\b\\f\\n\\r\\t\\"\\\\"',
    '"tab\there"',
    '"\u007f é 😀 \u2028"',
    '[]',
    '[,]',
    '[1,]',
    '[1 2]',
    '{}',
    '{"a"}',
    '{"a":}',
    '{"a":1,}',
    '{"a":1 "b":2}',
    '{a:1}',
    '{"a":[{"b":[]}],"c":{"d":null}}',
    '[1]]',
    '{"a":1}}',
    '\u00a0[]',
    '\ufeff{}',
  ]
  for (const text of cases) agrees(text)
})

test('nesting as deep as the bytes go, without recursion', () => {
  const depth = 100_000
  expect(isJsonText(Buffer.from('['.repeat(depth) + ']'.repeat(depth)))).toBe(true)
  expect(isJsonText(Buffer.from('[{"a":'.repeat(depth) + '1' + '}]'.repeat(depth)))).toBe(true)
  expect(isJsonText(Buffer.from('['.repeat(depth) + ']'.repeat(depth - 1)))).toBe(false)
})
