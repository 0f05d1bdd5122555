import { type ActorRef, ActorSystem } from '../actors/core/index.ts'
import { RingBuffer } from '../actors/core/internal/ring-buffer.ts'
import {
  type Benchmark,
  countOption,
  defaultResultPath,
  formatTable,
  humanNumber,
  machineInfo,
  option,
  progress,
  report,
} from './kit/benchmark.ts'

const help = `Usage: baton bench actors [options]

Measures the actor core alone (no Kafka, no database), in this process:

  tell, 1 actor        messages/s through tell -> a trivial handler on one actor
  tell, 1000 actors    the same, spread round-robin over --actors actors
  ask, concurrent      ask round trips/s with 64 asks in flight (default 5 s timeout armed on each)
  ask, sequential      one ask at a time: round trips/s, p50 and p99 latency
  idle actor memory    heap bytes per spawned, idle actor (100,000 of them)

and, measured in the same run for comparison:

  limit: queue+call    a bare ring-buffer push, shift and function call: what tell+handle cannot beat
  peer: promise/msg    a naive actor that awaits its handler, i.e. allocates a promise per message

Each throughput is the best of --runs runs after a warm-up. Progress goes to stderr, the table to stdout,
the figures to bench/results/actors.json (tellPerSec, tellPerSec1000, askPerSec, bytesPerIdleActor,
eventsPerSec, p50Ms, p99Ms, peakRssMb, limits, peers, machine).

Options:
  --messages <n>   messages per tell run (default 5000000)
  --asks <n>       round trips per ask run (default 500000)
  --actors <n>     actors for the spread run (default 1000)
  --runs <n>       measured runs per figure (default 3)
  --out <path>     where to write the JSON (default bench/results/actors.json)
  --quick          small counts, for a smoke test (figures not comparable)`

type Inc = { type: 'inc' }
type Echo = { n: number; reply: (n: number) => void }

const mailboxCapacity = 1024
const inc: Inc = { type: 'inc' }
const quietEvents = () => {}

/** Tells `messages` messages round-robin over `actors` actors; resolves with messages/s once all are handled. */
async function tellRun(messages: number, actors: number): Promise<number> {
  const system = new ActorSystem({ name: 'bench', onEvent: quietEvents })
  let handled = 0
  let finish = () => {}
  const finished = new Promise<void>((resolve) => {
    finish = resolve
  })
  const receive = () => {
    if (++handled === messages) finish()
  }
  const refs: ActorRef<Inc>[] = []
  for (let i = 0; i < actors; i++)
    refs.push(system.spawn<Inc>(`a${i}`, () => ({ receive }), { mailboxCapacity }))
  const start = performance.now()
  if (actors === 1) {
    const ref = refs[0] as ActorRef<Inc>
    for (let i = 0; i < messages; i++) {
      // tell while there is room, wait for room otherwise: the backpressure a real producer uses
      if (ref.mailboxDepth < mailboxCapacity) ref.tell(inc)
      else await ref.send(inc)
    }
  } else {
    for (let i = 0; i < messages; i++) {
      const ref = refs[i % actors] as ActorRef<Inc>
      if (ref.mailboxDepth < mailboxCapacity) ref.tell(inc)
      else await ref.send(inc)
    }
  }
  await finished
  const seconds = (performance.now() - start) / 1000
  await system.shutdown(10_000)
  return messages / seconds
}

function echo() {
  return {
    receive(msg: Echo) {
      msg.reply(msg.n)
    },
  }
}

/** `asks` round trips with `inFlight` askers in parallel; messages/s, and each latency when sequential. */
async function askRun(asks: number, inFlight: number, latencies?: number[]): Promise<number> {
  const system = new ActorSystem({ name: 'bench', onEvent: quietEvents })
  const ref = system.spawn<Echo>('echo', echo, { mailboxCapacity })
  const perAsker = Math.ceil(asks / inFlight)
  const asker = async () => {
    for (let i = 0; i < perAsker; i++) {
      const sent = latencies === undefined ? 0 : performance.now()
      await ref.ask<number>((reply) => ({ n: i, reply }))
      if (latencies !== undefined) latencies.push(performance.now() - sent)
    }
  }
  const start = performance.now()
  await Promise.all(Array.from({ length: inFlight }, asker))
  const seconds = (performance.now() - start) / 1000
  await system.shutdown(10_000)
  return (perAsker * inFlight) / seconds
}

/** Heap bytes per idle actor, from the heap growth over spawning `count` of them. */
async function idleActorBytes(count: number): Promise<number> {
  const system = new ActorSystem({ name: 'bench', onEvent: quietEvents })
  const receive = () => {}
  Bun.gc(true)
  const before = process.memoryUsage().heapUsed
  for (let i = 0; i < count; i++) system.spawn<Inc>(`a${i}`, () => ({ receive }))
  await Promise.resolve()
  Bun.gc(true)
  const bytes = (process.memoryUsage().heapUsed - before) / count
  await system.shutdown(60_000)
  return bytes
}

/** The floor: the same ring buffer as a mailbox, a push, a shift and a call per message, nothing else. */
function queueAndCallRun(messages: number): number {
  const ring = new RingBuffer<Inc>(mailboxCapacity)
  let handled = 0
  const handler = {
    receive(_msg: Inc) {
      handled++
    },
  }
  const start = performance.now()
  for (let i = 0; i < messages; i++) {
    if (ring.isFull) while (ring.size > 0) handler.receive(ring.shift() as Inc)
    ring.push(inc)
  }
  while (ring.size > 0) handler.receive(ring.shift() as Inc)
  const seconds = (performance.now() - start) / 1000
  if (handled !== messages) throw new Error('queue+call run lost messages')
  return messages / seconds
}

/** A peer design: an actor loop that awaits its handler, so every message costs a promise. */
async function promisePerMessageRun(messages: number): Promise<number> {
  const queue: Inc[] = []
  let wake: (() => void) | undefined
  let handled = 0
  const handler = async (_msg: Inc) => {
    handled++
  }
  const loop = async () => {
    while (handled < messages) {
      const msg = queue.shift()
      if (msg === undefined) {
        await new Promise<void>((resolve) => {
          wake = resolve
        })
        continue
      }
      await handler(msg)
    }
  }
  const start = performance.now()
  const looping = loop()
  for (let i = 0; i < messages; i++) {
    queue.push(inc)
    if (wake !== undefined) {
      const w = wake
      wake = undefined
      w()
    }
    if (queue.length >= mailboxCapacity) await new Promise<void>((resolve) => setImmediate(resolve))
  }
  await looping
  return messages / ((performance.now() - start) / 1000)
}

async function best(
  label: string,
  runs: number,
  run: () => Promise<number> | number,
  unit: string,
): Promise<number> {
  await run() // warm-up: let the JIT settle before measuring
  let top = 0
  for (let i = 1; i <= runs; i++) {
    const value = await run()
    progress(`  ${label}: run ${i}/${runs}: ${humanNumber(value)} ${unit}`)
    top = Math.max(top, value)
  }
  return top
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0
}

export interface ActorsResult {
  benchmark: 'actors'
  at: string
  tellPerSec: number
  tellPerSec1000: number
  askPerSec: number
  askSequentialPerSec: number
  bytesPerIdleActor: number
  eventsPerSec: number
  p50Ms: number
  p99Ms: number
  peakRssMb: number
  limits: { queuePushAndCallPerSec: number }
  peers: { promisePerMessagePerSec: number }
  config: { messages: number; asks: number; actors: number; runs: number; mailboxCapacity: number }
  machine: ReturnType<typeof machineInfo>
}

/** Runs every measurement and returns the figures. */
export async function measureActors(config: ActorsResult['config']): Promise<ActorsResult> {
  const { messages, asks, actors, runs } = config
  let peakRss = process.memoryUsage().rss
  const sampleRss = () => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss)
  }

  progress(`tell -> handler, 1 actor, ${humanNumber(messages)} messages`)
  const tellPerSec = await best('tell, 1 actor', runs, () => tellRun(messages, 1), 'msg/s')
  sampleRss()
  progress(`tell -> handler, ${actors} actors, ${humanNumber(messages)} messages`)
  const tellPerSec1000 = await best(`tell, ${actors} actors`, runs, () => tellRun(messages, actors), 'msg/s')
  sampleRss()
  progress(`ask round trips, 64 in flight, ${humanNumber(asks)} asks`)
  const askPerSec = await best('ask, concurrent', runs, () => askRun(asks, 64), 'asks/s')
  sampleRss()
  progress(`ask round trips, one at a time, ${humanNumber(asks)} asks`)
  const askSequentialPerSec = await best('ask, sequential', runs, () => askRun(asks, 1), 'asks/s')
  const latencies: number[] = []
  await askRun(Math.min(asks, 200_000), 1, latencies)
  latencies.sort((a, b) => a - b)
  sampleRss()
  progress('memory per idle actor, 100k actors')
  const bytesPerIdleActor = await idleActorBytes(100_000)
  sampleRss()
  progress('limit: ring-buffer push + shift + call')
  const queuePushAndCallPerSec = await best('queue+call', runs, () => queueAndCallRun(messages), 'msg/s')
  progress('peer: a promise per message')
  const promisePerMessagePerSec = await best(
    'promise/msg',
    runs,
    () => promisePerMessageRun(messages),
    'msg/s',
  )
  sampleRss()

  return {
    benchmark: 'actors',
    at: new Date().toISOString(),
    tellPerSec: Math.round(tellPerSec),
    tellPerSec1000: Math.round(tellPerSec1000),
    askPerSec: Math.round(askPerSec),
    askSequentialPerSec: Math.round(askSequentialPerSec),
    bytesPerIdleActor: Math.round(bytesPerIdleActor),
    eventsPerSec: Math.round(tellPerSec),
    p50Ms: threeDigits(percentile(latencies, 50)),
    p99Ms: threeDigits(percentile(latencies, 99)),
    peakRssMb: Math.round(peakRss / 1024 / 1024),
    limits: { queuePushAndCallPerSec: Math.round(queuePushAndCallPerSec) },
    peers: { promisePerMessagePerSec: Math.round(promisePerMessagePerSec) },
    config,
    machine: machineInfo(),
  }
}

/** Three significant digits: sub-microsecond latencies stay visible in milliseconds. */
function threeDigits(n: number): number {
  return Number(n.toPrecision(3))
}

/** The result table `baton bench actors` prints. */
export function actorsTable(r: ActorsResult): string {
  const rate = (n: number, unit: string) => `${humanNumber(n)} ${unit}`
  return formatTable([
    ['MEASURE', 'RESULT'],
    ['tell -> handler, 1 actor', rate(r.tellPerSec, 'msg/s')],
    [`tell -> handler, ${r.config.actors} actors`, rate(r.tellPerSec1000, 'msg/s')],
    ['ask, 64 in flight', rate(r.askPerSec, 'asks/s')],
    ['ask, one at a time', rate(r.askSequentialPerSec, 'asks/s')],
    ['ask latency p50 / p99', `${r.p50Ms} / ${r.p99Ms} ms`],
    ['memory per idle actor', `${r.bytesPerIdleActor} bytes`],
    ['limit: queue push+shift+call', rate(r.limits.queuePushAndCallPerSec, 'msg/s')],
    ['peer: promise per message', rate(r.peers.promisePerMessagePerSec, 'msg/s')],
    ['peak RSS', `${r.peakRssMb} MB`],
    ['machine', `${r.machine.cores} cores, ${r.machine.cpuModel}, ${r.machine.runtime}`],
  ])
}

export const actorsBenchmark: Benchmark = {
  name: 'actors',
  summary: 'actor core: tell and ask throughput, memory per idle actor',
  help,
  async run(args) {
    const quick = args.includes('--quick')
    const config = {
      messages: countOption(args, '--messages', quick ? 200_000 : 5_000_000),
      asks: countOption(args, '--asks', quick ? 20_000 : 500_000),
      actors: countOption(args, '--actors', 1000),
      runs: countOption(args, '--runs', quick ? 1 : 3),
      mailboxCapacity,
    }
    const out = option(args, '--out') ?? defaultResultPath('actors')
    const result = await measureActors(config)
    return report(out, result, actorsTable(result))
  },
}

if (import.meta.main) process.exitCode = await actorsBenchmark.run(process.argv.slice(2))
