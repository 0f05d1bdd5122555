import { expect, test } from 'bun:test'
import { isBatonError } from './core/errors.ts'
import { definePipeline } from './pipeline.ts'

test('onPoison is dead-letter or quarantine-key; anything else is refused when the pipeline is defined', () => {
  const handle = () => {}
  expect(definePipeline({ name: 'p', handle }).onPoison).toBeUndefined()
  expect(definePipeline({ name: 'p', handle, onPoison: 'quarantine-key' }).onPoison).toBe('quarantine-key')
  let thrown: unknown
  try {
    definePipeline({ name: 'p', handle, onPoison: 'quarantine' as 'quarantine-key' })
  } catch (err) {
    thrown = err
  }
  expect(isBatonError(thrown, 'PIPELINE_INVALID')).toBe(true)
  expect((thrown as Error).message).toContain("onPoison 'quarantine'")
})
