import { readdir, readFile } from 'node:fs/promises'

/**
 * The host's page cache and disks at one moment (Linux). On a host that the broker, the database and the
 * node share, the kernel writes the page cache back in bursts (every `vm.dirty_expire_centisecs`), and a
 * WAL fsync queued behind such a burst holds every commit: these two figures show it second by second.
 */
export interface HostIo {
  /** Page cache written by processes and not yet on disk (/proc/meminfo Dirty plus Writeback). */
  readonly dirtyBytes: number
  /** Bytes written to the host's disks since boot (/sys/block/<disk>/stat). */
  readonly diskWrittenBytes: number
}

/** Devices stacked on others (device mapper, md) or not disks at all: counting them would count twice. */
const NOT_A_DISK = /^(loop|ram|zram|dm-|md)/

/** Reads the host's page cache and disk counters; null where /proc and /sys do not have them. */
export async function readHostIo(): Promise<HostIo | null> {
  try {
    const meminfo = await readFile('/proc/meminfo', 'utf8')
    const disks = (await readdir('/sys/block')).filter((d) => !NOT_A_DISK.test(d))
    const stats = await Promise.all(disks.map((d) => readFile(`/sys/block/${d}/stat`, 'utf8')))
    return {
      dirtyBytes: dirtyBytes(meminfo),
      diskWrittenBytes: stats.reduce((sum, stat) => sum + writtenBytes(stat), 0),
    }
  } catch {
    return null
  }
}

/** Dirty plus Writeback of a /proc/meminfo text, in bytes. */
export function dirtyBytes(meminfo: string): number {
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(meminfo)?.[1] ?? 0)
  return (kb('Dirty') + kb('Writeback')) * 1024
}

/** Bytes written of a /sys/block/<disk>/stat line: its seventh field counts 512-byte sectors, whatever the disk's own sector size. */
export function writtenBytes(stat: string): number {
  return Number(stat.trim().split(/\s+/)[6] ?? 0) * 512
}
