import { expect, test } from 'bun:test'
import { isBatonError } from './core/errors.ts'
import { eventStore } from './event-store.ts'
import { NO_HEADERS, type SourceRecord } from './ports.ts'

const record = (value: Buffer | null): SourceRecord => ({
  topic: 't',
  partition: 0,
  offset: 7,
  key: null,
  value,
  headers: NO_HEADERS,
  timestamp: 0,
})

test("decode hands on a value's own bytes when they are UTF-8 JSON, without copying them", () => {
  const value = Buffer.from('{"ü":[1,2.5e3,true,null]}')
  expect(eventStore.decode(record(value))).toBe(value)
  expect(eventStore.decode(record(null)).toString()).toBe('null')
})

test('decode turns bytes that are not UTF-8 into the text they decode to, U+FFFD for each invalid sequence', () => {
  const decoded = eventStore.decode(record(Buffer.from([0x22, 0xfe, 0x62, 0x22])))
  expect(decoded.toString('utf8')).toBe('"\ufffdb"')
})

test("a value that is not JSON is a poison event, with JSON.parse's reason", () => {
  let thrown: unknown
  try {
    eventStore.decode(record(Buffer.from('{"a":1,}')))
  } catch (err) {
    thrown = err
  }
  expect(isBatonError(thrown, 'POISON_EVENT')).toBe(true)
  expect((thrown as Error).message).toStartWith('The value at offset 7 is not valid JSON: JSON Parse error')
})
