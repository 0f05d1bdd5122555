import { afterAll, expect, test } from 'bun:test'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnNode } from '../../deploy/local/node-process.ts'
import { freeLoopbackPort } from '../../deploy/local/ports.ts'

const dataDir = mkdtempSync(join(tmpdir(), 'baton-npm-start-'))
// Processes this test started, killed at the end whatever happened, so a failure leaves no node behind.
const started: number[] = []

afterAll(() => {
  for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL')
  rmSync(dataDir, { recursive: true, force: true })
})

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Every process below `pid`, from /proc (Linux): npm's shell, if any, and the node. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
    } catch {
      continue // ended meanwhile
    }
    // After "pid (command) state": the command may hold spaces and parentheses, so read from the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)])
  }
  const below = (p: number): number[] => (children.get(p) ?? []).flatMap((c) => [c, ...below(c)])
  return below(pid)
}

test('SIGTERM to `npm start` (as a process manager sends it) drains the node and leaves no process behind', async () => {
  const npm = Bun.which('npm')
  if (!npm) throw new Error('this test runs `npm start` and needs npm on PATH')
  const port = await freeLoopbackPort()
  const { proc, output, drained } = spawnNode({ BATON_DATA_DIR: dataDir }, port, [npm, 'start'])
  started.push(proc.pid)

  let ready = false
  for (let i = 0; i < 600 && !ready && proc.exitCode === null; i++) {
    ready = await fetch(`http://127.0.0.1:${port}/readyz`)
      .then((res) => res.status === 200)
      .catch(() => false)
    if (!ready) await Bun.sleep(100)
  }
  if (!ready) throw new Error(`npm start did not get ready:\n${output()}`)
  const below = descendants(proc.pid)
  started.push(...below)
  expect(below.length).toBeGreaterThan(0)

  proc.kill('SIGTERM')
  const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000)
  const code = await proc.exited
  clearTimeout(timer)
  // Read before the output: a node left behind holds npm's pipes open, and would hold this test too.
  const leftBehind = below.filter(alive)
  for (const pid of leftBehind) process.kill(pid, 'SIGKILL')
  await drained

  // npm waited for the node, which drained (its log says so) and exited 0; nothing of it ran on.
  expect(leftBehind).toEqual([])
  expect(code).toBe(0)
  expect(output()).toContain('"clean":true,"msg":"stopped"')
}, 120_000)
