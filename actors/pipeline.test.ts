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

test('a pipeline with state cannot be copyOnly: refused when it is defined', () => {
  const handle = () => {}
  expect(definePipeline({ name: 'p', handle, copyOnly: true }).copyOnly).toBe(true)
  expect(() =>
    definePipeline({ name: 'p', handle, copyOnly: true, state: { load: () => new Map<string, number>() } }),
  ).toThrow(/has `state` and `copyOnly`/)
})
