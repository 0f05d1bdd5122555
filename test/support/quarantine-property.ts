import { expect } from 'bun:test'
import fc from 'fast-check'
import { isBatonError } from '../../actors/core/errors.ts'
import { type ActorRef, backoff } from '../../actors/core/index.ts'
import { testSystem } from '../../actors/core/testing.ts'
import {
  type PartitionMsg,
  partitionActor,
  type ReleaseReply,
} from '../../actors/partition/partition-actor.ts'
import type { PartitionStatus } from '../../actors/partition/stats.ts'
import type { Pipeline } from '../../actors/pipeline.ts'
import type { Checkpoints, PartitionKey, Sink, SourceRecord } from '../../actors/ports.ts'
import type { QuarantineStore } from '../../actors/quarantine.ts'
import { MemoryPartition } from './memory-feed.ts'
import { testPartitionDeps } from './partition-deps.ts'

/**
 * A sink under the property: fresh for each run. `pipeline(poison)` dead-letters (with PoisonEventError)
 * the offsets in `poison` as long as they are in it, so deleting one is deploying its fix; `applied`
 * reads the offsets the pipeline handled, in the order handled; `letter` reads a dead letter's record.
 */
export interface PropertySink {
  /** The partition the run uses: its own, on a database other runs share. */
  readonly key: PartitionKey
  readonly sink: Sink
  readonly store: QuarantineStore
  readonly checkpoints: Checkpoints
  pipeline(poison: Set<number>): Pipeline
  applied(): Promise<number[]>
  letter(id: number): Promise<SourceRecord>
  close(): Promise<void>
  /**
   * True for a sink that answers over the network (PostgreSQL): its calls complete in real time, not on
   * the clock, so after each step the runner waits until the owner has handled its mailbox.
   */
  readonly realIo?: boolean
}

const KEYS = ['a', 'b', 'c'] as const

type Op =
  | { readonly op: 'append'; readonly events: readonly { key: number; poison: boolean }[] }
  | { readonly op: 'run' }
  | { readonly op: 'decide'; readonly pick: number; readonly how: 'fix' | 'fail' | 'skip' }
  | { readonly op: 'restart' }
  | { readonly op: 'zombie' }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('append' as const),
      // key 3 is keyless: never quarantined, its poison is only dead-lettered
      events: fc.array(fc.record({ key: fc.nat(3), poison: fc.nat(4).map((n) => n === 0) }), {
        minLength: 1,
        maxLength: 12,
      }),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ op: 'run' as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('decide' as const),
      pick: fc.nat(5),
      how: fc.constantFrom('fix' as const, 'fail' as const, 'skip' as const),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'restart' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'zombie' as const }) },
)

/**
 * The property of issue 20, on a ManualClock: random streams over three keys (and keyless events) with
 * random poison events, random decisions (a retry after the fix, a retry that fails, a skip), owners
 * restarted (a crash, a rebalance) and zombies (a new owner while the old one runs, sometimes asked to
 * release) at random points. In the end, once every key was decided, each key's handled events are its
 * events in offset order without the skipped ones, and no event was handled twice.
 */
export async function quarantineProperty(
  open: () => Promise<PropertySink>,
  options: { numRuns: number; maxOps?: number },
): Promise<void> {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: options.maxOps ?? 25 }), async (ops) => {
      const backend = await open()
      const { key } = backend
      const kit = testSystem({
        supervision: {
          intensity: Number.POSITIVE_INFINITY,
          backoff: backoff({ minMs: 10, maxMs: 10, jitter: 0 }),
          // A fenced actor is a zombie: it stops for good, as under the coordinator.
          decider: (err) => (isBatonError(err, 'FENCED') ? 'stop' : 'restart'),
        },
      })
      const feed = new MemoryPartition(key)
      const poison = new Set<number>()
      const pipeline = backend.pipeline(poison)
      let generation = 0
      const spawn = () =>
        kit.system.spawn<PartitionMsg>(
          `p${generation++}`,
          partitionActor(
            testPartitionDeps({
              key,
              pipeline,
              sink: backend.sink,
              checkpoints: backend.checkpoints,
              openFeed: () => feed.feed(),
              quarantine: { store: backend.store, maxKeys: 10_000 },
            }),
          ),
          // As under the coordinator (BATON_MAILBOX_CAPACITY): a few fetched chunks, then fetching waits.
          { mailboxCapacity: 2 },
        )
      let owner: ActorRef<PartitionMsg> | null = null
      const run = async (ms = 500) => {
        await kit.clock.advance(ms)
        if (backend.realIo) await settle()
      }
      /**
       * Waits until the owner committed every record appended so far (its status, asked through its
       * mailbox, behind whatever it still has to do), moving the clock meanwhile: batches flush on its
       * timers while the database answers in real time.
       */
      const settle = async () => {
        for (let round = 0; round < 1_000; round++) {
          const ref = owner
          if (!ref) return
          let status: PartitionStatus | null | undefined
          const asked = ref
            .ask<PartitionStatus>((reply) => ({ type: 'status', reply }), { timeoutMs: 600_000 })
            .then(
              (s) => {
                status = s
              },
              () => {
                status = null // a stopped owner (replaced meanwhile): ask the current one again
              },
            )
          while (status === undefined) {
            await kit.clock.advance(10)
            await new Promise((resolve) => setTimeout(resolve, 1))
          }
          await asked
          if (status && (status.committedOffset ?? 0) === feed.records.length && status.inFlight === 0) return
        }
        throw new Error('the owner did not commit what was appended (test)')
      }
      const skipped = new Set<number>()
      const decide = async (ref: ActorRef<PartitionMsg>, pick: number, how: 'fix' | 'fail' | 'skip') => {
        const held = (
          await backend.store.list({ topic: key.topic, partition: key.partition })
        ).entries.filter((e) => e.state === 'quarantined')
        const entry = held[pick % Math.max(1, held.length)]
        if (!entry) return
        const letter = await backend.letter(entry.deadLetterId)
        if (how === 'fix') poison.delete(letter.offset)
        const outcome = how === 'skip' ? 'skipped' : 'retried'
        const answer = ref.ask<ReleaseReply>(
          (reply) => ({
            type: 'release',
            letterId: entry.deadLetterId,
            recordKey: entry.key,
            outcome,
            letter,
            reply,
          }),
          { timeoutMs: 60_000 },
        )
        answer.catch(() => {}) // awaited below, after the clock moved: not unhandled meanwhile
        await run(100)
        const reply = await answer
        if (
          outcome === 'skipped' &&
          (reply.status === 'done' || reply.status === 'releasing' || reply.status === 'held')
        ) {
          skipped.add(letter.offset)
        }
      }
      try {
        owner = spawn()
        let zombie: ActorRef<PartitionMsg> | null = null
        for (const o of ops) {
          if (o.op === 'append') {
            for (const e of o.events) {
              const offset = feed.records.length
              if (e.poison) poison.add(offset)
              // A keyless poison event is dead-lettered only, never decided here: never handled.
              if (e.poison && e.key >= KEYS.length) skipped.add(offset)
              feed.append([`v${offset}`], e.key < KEYS.length ? (KEYS[e.key] as string) : null)
            }
          } else if (o.op === 'run') {
            await run()
          } else if (o.op === 'decide') {
            if (zombie) {
              // A zombie asked to release (if it has not stopped by itself yet) is refused, applies nothing.
              await decide(zombie, o.pick, o.how).catch((err) => {
                if (!isBatonError(err, 'ACTOR_STOPPED')) throw err
              })
              zombie = null
            } else {
              await decide(owner, o.pick, o.how)
            }
          } else if (o.op === 'restart') {
            await owner.stop()
            owner = spawn()
          } else {
            zombie = owner
            owner = spawn()
          }
          await run(100)
        }
        // The end: every key is decided (a retry after its fix, or a skip) until none is held back.
        for (
          let round = 0;
          round < 100 &&
          (await backend.store.list({ topic: key.topic, partition: key.partition })).entries.length > 0;
          round++
        ) {
          await run()
          await decide(owner, round, round % 2 === 0 ? 'fix' : 'skip')
        }
        await run(2_000)
        expect((await backend.store.list({ topic: key.topic, partition: key.partition })).entries).toEqual([])
        const applied = await backend.applied()
        expect(new Set(applied).size).toBe(applied.length) // nothing applied twice
        const keyOf = new Map(feed.records.map((r) => [r.offset, r.key?.toString() ?? null]))
        for (const k of [...KEYS, null]) {
          const expected = feed.records
            .filter((r) => (r.key?.toString() ?? null) === k && !skipped.has(r.offset))
            .map((r) => r.offset)
          expect(applied.filter((o) => keyOf.get(o) === k)).toEqual(expected)
        }
      } finally {
        await kit.system.shutdown(1_000)
        await backend.close()
      }
    }),
    { numRuns: options.numRuns },
  )
}
