import { readFileSync } from 'node:fs'

/**
 * The kernel's USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on every Linux
 * architecture baton runs on (it is part of the ABI, unlike the kernel's internal HZ).
 */
const TICKS_PER_SECOND = 100

/**
 * CPU seconds (user + system) process `pid` has used so far, from /proc/<pid>/stat. The difference of
 * two readings is what the process cost in between, whatever else runs on the machine.
 */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name (field 2) may hold spaces and parentheses: count fields from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // fields[0] is field 3 (state), so utime (field 14) and stime (field 15) are at 11 and 12.
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
}

/** The most memory process `pid` has held resident so far (VmHWM of /proc/<pid>/status), in MB. */
export function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN)
  return Math.round(kb / 1024)
}

/** The memory process `pid` holds resident now (VmRSS of /proc/<pid>/status), in MB. */
export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN)
  return Math.round(kb / 1024)
}
