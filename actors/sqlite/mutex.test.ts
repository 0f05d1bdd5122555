import { expect, test } from 'bun:test'
import { Mutex } from './mutex.ts'

test('runs one at a time, in the order asked, and goes on after a failure', async () => {
  const mutex = new Mutex()
  const log: string[] = []
  let release = () => {}
  const gate = new Promise<void>((resolve) => {
    release = resolve
  })
  const first = mutex.run(async () => {
    log.push('a start')
    await gate
    log.push('a end')
  })
  const second = mutex.run(() => {
    log.push('b')
    throw new Error('b failed')
  })
  const third = mutex.run(() => log.push('c'))
  await Bun.sleep(0)
  expect(log).toEqual(['a start'])
  release()
  await first
  await expect(second).rejects.toThrow('b failed')
  await third
  expect(log).toEqual(['a start', 'a end', 'b', 'c'])
})
