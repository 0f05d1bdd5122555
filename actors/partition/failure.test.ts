import { expect, test } from 'bun:test'
import { BatonError } from '../core/errors.ts'
import { PoisonEventError } from '../pipeline.ts'
import { classifyFailure } from './failure.ts'

test('a failed commit is classified by its BatonError code alone', () => {
  const kind = (code: ConstructorParameters<typeof BatonError>[0]) =>
    classifyFailure(new BatonError(code, 'test'))
  expect(kind('FENCED')).toBe('fenced')
  expect(kind('WATERMARK_MISMATCH')).toBe('stale')
  expect([kind('SINK_UNAVAILABLE'), kind('CHECKPOINT_UNAVAILABLE'), kind('SERVICE_UNREACHABLE')]).toEqual([
    'unavailable',
    'unavailable',
    'unavailable',
  ])
  // Credentials refused or a member refused for good: no retry of the same batch cures these.
  expect([kind('SERVICE_AUTH_FAILED'), kind('SOURCE_UNAVAILABLE')]).toEqual(['event', 'event'])
  expect(classifyFailure(new PoisonEventError('bad'))).toBe('poison')
  // A driver error the adapter did not wrap is the batch's fault, however it reads.
  expect(classifyFailure(Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' }))).toBe(
    'event',
  )
})
