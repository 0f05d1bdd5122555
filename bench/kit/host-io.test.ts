import { expect, test } from 'bun:test'
import { dirtyBytes, readHostIo, writtenBytes } from './host-io.ts'

test('dirty page cache is Dirty plus Writeback of /proc/meminfo', () => {
  const meminfo = [
    'MemTotal:       24683792 kB',
    'Dirty:            885120 kB',
    'Writeback:          4096 kB',
    'WritebackTmp:          0 kB',
  ].join('\n')
  expect(dirtyBytes(meminfo)).toBe((885_120 + 4_096) * 1024)
})

test('bytes written are the seventh field of a disk stat, in 512-byte sectors', () => {
  const stat =
    '   86543        0  4410630    29875 12345678   998877 1048576    563210        0   301928   593085'
  expect(writtenBytes(stat)).toBe(1_048_576 * 512)
})

test.if(process.platform === 'linux')('this host has the counters', async () => {
  const io = await readHostIo()
  expect(io?.diskWrittenBytes).toBeGreaterThan(0)
  expect(io?.dirtyBytes).toBeGreaterThanOrEqual(0)
})
