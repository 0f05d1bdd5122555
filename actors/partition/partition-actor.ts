import { BatonError, errorMessage, isBatonError } from '../core/errors.ts'
import {
  type ActorContext,
  type Backoff,
  type Behavior,
  backoff,
  type Clock,
  realClock,
} from '../core/index.ts'
import { LatestPerKey } from '../core/latest-per-key.ts'
import type { Pipeline } from '../pipeline.ts'
import type {
  Checkpoints,
  DeadLetter,
  DeadLetterPublisher,
  PartitionFeed,
  PartitionKey,
  Sink,
  SourceRecord,
} from '../ports.ts'
import type { QuarantineStore } from '../quarantine.ts'
import { Batcher, type BatchItem, type BatchLimits } from './batcher.ts'
import { commitItems } from './commit-items.ts'
import { classifyFailure, failureCode } from './failure.ts'
import type { PartitionObserver } from './observer.ts'
import { QuarantinedKeys } from './quarantined-keys.ts'
import {
  markRelease,
  type ReleaseContext,
  type ReleaseProgress,
  type ReleaseRequest,
  releaseHeld,
} from './release.ts'
import type { PartitionState, PartitionStats, PartitionStatus } from './stats.ts'

/** The closed protocol of a partition actor. */
export type PartitionMsg =
  | {
      readonly type: 'records'
      readonly records: readonly SourceRecord[]
      /** The instance whose feed delivered them (see `#instance`). */
      readonly instance: object
      /** Gives their bytes back to the source's fetch budget (see PartitionFeed.start). */
      readonly taken?: () => void
    }
  | { readonly type: 'flush'; readonly batch: number }
  | { readonly type: 'pause' }
  | { readonly type: 'resume' }
  | { readonly type: 'seek'; readonly offset: number; readonly reply: (r: SeekResult) => void }
  | { readonly type: 'drain'; readonly reply: (r: DrainResult) => void }
  | { readonly type: 'status'; readonly reply: (s: PartitionStatus) => void }
  /** The feed holds at a corrupt record batch (an error), or flows past it again (null). */
  | { readonly type: 'corrupt'; readonly error: BatonError | null; readonly instance: object }
  /** An operator's retry or skip of the letter holding `recordKey` back (POST /v1/dlq/:id/{retry,skip}). */
  | ({ readonly type: 'release'; readonly reply: (r: ReleaseReply) => void } & ReleaseRequest)
  /** Goes on releasing a key between batches (a long release, or one a previous owner left `releasing`). */
  | { readonly type: 'release-continue'; readonly recordKey: Buffer; readonly instance: object }

/**
 * What a release request came to: `done` (the key flows again), `releasing` (it goes on between
 * batches), `held` (a released event failed: it holds the key back as `newHeadLetterId`); `moved` when
 * this actor no longer owns the partition (fenced); `failed` when the retried event failed again (nothing changed), `conflict` when the letter
 * does not hold the key any more.
 */
export type ReleaseReply =
  | ({ readonly status: 'done' | 'releasing' | 'held' } & ReleaseProgress)
  | { readonly status: 'failed' | 'conflict' | 'unavailable' | 'moved'; readonly error: string }

export interface SeekResult {
  /** Where fetching continues. Offsets below the watermark are already stored and are skipped. */
  readonly position: number
  readonly watermark: number | null
}

export interface DrainResult {
  readonly watermark: number | null
}

export interface PartitionActorDeps<E> {
  readonly key: PartitionKey
  readonly pipeline: Pipeline<E>
  readonly sink: Sink
  readonly checkpoints: Checkpoints
  /** Opens the partition's feed; called on every (re)start of the actor, which stops the feed on its end. */
  readonly openFeed: () => PartitionFeed
  /** Publishes dead letters after commit (cluster mode); null when the sink's table is the DLQ. */
  readonly deadLetters: DeadLetterPublisher | null
  readonly limits: BatchLimits
  /** Per-key quarantine (issue 20): the sink's tables, and how many keys the partition may hold at most. */
  readonly quarantine?: { readonly store: QuarantineStore; readonly maxKeys: number }
  readonly maxRetries: number
  readonly stats: PartitionStats
  readonly observer: PartitionObserver
  /** Delays between retries of an isolated event or of an unreachable sink (default {@link retryDefaults}). */
  readonly retry?: Backoff
  /** How long the sink may stay unreachable before the actor gives up and lets its supervisor restart it. */
  readonly sinkOutageMs?: number
  readonly log?: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void
  /** Called at the start of every instance, before the epoch is taken (the coordinator counts restarts). */
  readonly onStarting?: () => void
  /** TEST ONLY (runtime/test-hooks.ts): called after a batch committed in the sink, before its checkpoint. */
  readonly testAfterCommit?: () => void
}

/** 100 ms doubling up to 5 s, without jitter: retries of one partition do not line up with others' anyway. */
export const retryDefaults: Backoff = backoff({ minMs: 100, maxMs: 5_000, jitter: 0 })

/**
 * One partition's actor. On start it takes a new epoch, claims the partition's watermark row with it and
 * starts fetching from the stored watermark. Records are decoded as they arrive and batched; a batch is
 * committed with the pipeline's effects and the fenced watermark in one transaction, then checkpointed
 * (Redis, fenced by epoch), then reported to the source (Kafka offsets); those two run behind the batches
 * (one at a time, the newest watermark waiting), and a drain or stop waits for them. Commits of one
 * partition are strictly sequential and in offset order, while the source keeps fetching into the bounded mailbox
 * (a full mailbox stops fetching for this partition only).
 *
 * Failure handling: a refused batch is split to find the failing event, which is retried and then
 * dead-lettered (commit-items.ts); an unreachable sink is retried with backoff while fetching pauses,
 * and after `sinkOutageMs` the actor fails so its supervisor restarts it; a WATERMARK_MISMATCH (the row is
 * not at this batch's start under this epoch) fails it too, and the new instance resumes from the stored
 * watermark; a FENCED commit stops the actor for good — another actor owns the partition.
 */
export function partitionActor<E>(deps: PartitionActorDeps<E>): () => Behavior<PartitionMsg> {
  return () => new PartitionBehavior(deps)
}

class PartitionBehavior<E> implements Behavior<PartitionMsg> {
  readonly #d: PartitionActorDeps<E>
  readonly #batcher: Batcher<E>
  #state: PartitionState = 'starting'
  #epoch = 0
  /** The stored watermark: everything below it is committed. */
  #watermark: number | null = null
  /** The next offset expected from the source; records below it are replays and skipped. */
  #position = 0
  #batchNo = 0
  #timer: { cancel(): void } | null = null
  #feed: PartitionFeed | null = null
  /** Tags what this instance's feed delivers, so a restarted instance tells its own records apart. */
  readonly #instance = {}
  /** Set when publishing dead letters failed: the outbox holds some, and the next commit tries again. */
  #unpublished = false
  /** The pipeline's per-partition state (see PipelineState): loaded from the sink, never carried over. */
  #pipelineState: unknown
  /** Set when a transaction failed after `handle` may have changed the state: reload before going on. */
  #stateDirty = false
  /** Set while the feed holds at a corrupt record batch: shown as state `corrupt` while running. */
  #corrupt = false
  /** The actor's clock, taken in onStart; nothing reads time before (the status has no lag until then). */
  #clock: Clock = realClock
  /** The partition's quarantined keys; null when the sink has no quarantine tables. */
  readonly #quarantine: QuarantinedKeys | null
  /** Items of a batch refused as QUARANTINE_FULL: committed first once a key was released. */
  #stalled: BatchItem<E>[] = []
  /**
   * Fetched chunks taken from the mailbox whose records are not all committed yet, oldest first, each with
   * its last offset. Their bytes stay in the node's fetch budget until the watermark passes them, so the
   * budget bounds what waits in batches too: released on take, a node owning 4,096 partitions held a
   * formed batch per partition beside the budget (peak RSS 849-931 MB).
   */
  readonly #uncommitted: { readonly last: number; readonly release: () => void }[] = []
  /** Checkpoints, then the source's offsets, behind the batches: one out, the newest watermark waiting. */
  readonly #checkpoints = new LatestPerKey<number, void>(
    async (entries) => {
      for (const [, watermark] of entries) {
        await this.#checkpoint(watermark)
        void this.#feed?.commit(watermark).catch(() => {})
      }
      return entries.map(() => ({ ok: true, value: undefined }))
    },
    { defer: queueMicrotask },
  )

  constructor(deps: PartitionActorDeps<E>) {
    this.#d = deps
    this.#batcher = new Batcher(deps.limits)
    this.#quarantine = deps.quarantine
      ? new QuarantinedKeys(deps.pipeline.onPoison ?? 'dead-letter', deps.quarantine.maxKeys)
      : null
    deps.stats.current = () => this.#status()
  }

  async onStart(ctx: ActorContext<PartitionMsg>): Promise<void> {
    const { key, sink, checkpoints, stats } = this.#d
    this.#clock = ctx.clock
    const feed = this.#d.openFeed()
    this.#feed = feed
    this.#d.onStarting?.()
    this.#epoch = await checkpoints.nextEpoch(key, (await sink.storedEpoch(key)) ?? 0)
    stats.epoch = this.#epoch
    const stored = await sink.claim(key, this.#epoch)
    this.#watermark = stored
    stats.committedOffset = stored
    if (stored !== null) {
      this.#position = stored
    } else {
      const checkpoint = await checkpoints.read(key)
      this.#position = checkpoint?.nextOffset ?? (await feed.initialOffset())
    }
    await this.#loadState()
    if (this.#quarantine && this.#d.quarantine) {
      this.#quarantine.load(await this.#d.quarantine.store.load(key))
      this.#reportQuarantine()
      // A previous owner stopped mid-release: finish it, between this instance's batches. A timer, not
      // `send`: waiting for room in its own mailbox would wait for itself.
      for (const recordKey of this.#quarantine.releasing()) {
        ctx.scheduleOnce(0, { type: 'release-continue', recordKey, instance: this.#instance })
      }
    }
    await this.#publishOutbox()
    await this.#d.pipeline.onAssign?.(this.#info(), this.#pipelineState)
    this.#state = 'running'
    const self = ctx.self
    const instance = this.#instance
    feed.start(
      this.#position,
      (records, taken) => self.send({ type: 'records', records, instance, taken }),
      // Dropped when the actor is stopping: its feed stops with it.
      (error) => void self.send({ type: 'corrupt', error, instance }).catch(() => {}),
    )
    this.#d.log?.('info', 'partition taken', { epoch: this.#epoch, offset: this.#position })
  }

  async onStop(): Promise<void> {
    this.#timer?.cancel()
    this.#feed?.stop()
    await this.#checkpoints.idle()
    await this.#d.deadLetters?.release?.(this.#d.key)
  }

  async receive(msg: PartitionMsg, ctx: ActorContext<PartitionMsg>): Promise<void> {
    switch (msg.type) {
      case 'records':
        // Mail outlives a restart: records its previous instance was fed lie past the batch that failed
        // there, and taking them would skip that batch. This instance's feed delivers them again.
        if (msg.instance !== this.#instance || this.#state === 'draining' || this.#state === 'drained') {
          msg.taken?.()
          return
        }
        if (msg.taken) {
          const last = msg.records.at(-1)?.offset ?? -1
          this.#uncommitted.push({ last, release: msg.taken })
        }
        await this.#onRecords(msg.records, ctx)
        // Nothing else waits to join the batch: commit it now instead of on the timer. While a batch
        // commits the mailbox fills, so under load batches still grow to their limits; at a steady rate an
        // event waits for the commit before it, not for the timer (p50 at half load: 113 ms, the timer).
        if (this.#batcher.size > 0 && ctx.self.mailboxDepth === 0) await this.#flush(ctx)
        this.#releaseCommitted()
        return
      case 'flush':
        if (msg.batch === this.#batchNo && this.#batcher.size > 0) await this.#flush(ctx)
        return
      case 'pause':
        this.#feed?.pause()
        if (this.#state === 'running') this.#state = 'paused'
        return
      case 'resume':
        this.#feed?.resume()
        if (this.#state === 'paused') this.#state = 'running'
        return
      case 'seek':
        return this.#seek(msg.offset, msg.reply, ctx)
      case 'drain':
        this.#state = 'draining'
        this.#feed?.stop()
        if (this.#batcher.size > 0) await this.#flush(ctx)
        await this.#checkpoints.idle()
        await this.#d.pipeline.onRevoke?.(this.#info(), this.#pipelineState)
        this.#state = 'drained'
        msg.reply({ watermark: this.#watermark })
        return
      case 'status':
        msg.reply(this.#status())
        return
      case 'corrupt':
        if (msg.instance !== this.#instance) return
        this.#corrupt = msg.error !== null
        if (msg.error) {
          this.#d.stats.recordError(msg.error, msg.error.code, ctx.clock.now())
          this.#d.observer.corruptBatch(this.#d.key)
        }
        return
      case 'release':
        return this.#release(msg, ctx)
      case 'release-continue':
        if (msg.instance !== this.#instance) return
        return this.#continueRelease(msg.recordKey, ctx)
    }
  }

  async #onRecords(records: readonly SourceRecord[], ctx: ActorContext<PartitionMsg>): Promise<void> {
    const { pipeline, observer, key } = this.#d
    observer.consumed(key, records.length)
    const now = ctx.clock.now()
    for (const record of records) {
      if (record.offset < this.#position) continue
      this.#position = record.offset + 1
      let item: BatchItem<E>
      try {
        item = { record, ok: true, value: pipeline.decode(record) }
      } catch (error) {
        item = { record, ok: false, error }
      }
      const wasEmpty = this.#batcher.size === 0
      const full = this.#batcher.add(item, now)
      if (full) {
        await this.#flush(ctx)
      } else if (wasEmpty) {
        this.#timer = ctx.scheduleOnce(this.#d.limits.maxWaitMs, { type: 'flush', batch: this.#batchNo })
      }
    }
  }

  async #seek(offset: number, reply: (r: SeekResult) => void, ctx: ActorContext<PartitionMsg>) {
    if (this.#batcher.size > 0) await this.#flush(ctx)
    // Below the watermark the sink already holds the effects: refetching them would only be skipped,
    // so a seek back stops at the watermark. Forward seeks skip events, which is what an operator asks.
    this.#position = Math.max(offset, this.#watermark ?? 0)
    // What was taken is committed by the flush above, or skipped by this seek; unless the flush could not
    // commit (quarantine full): records still held keep their bytes until they commit.
    if (this.#stalled.length === 0 && this.#batcher.size === 0) {
      for (const chunk of this.#uncommitted.splice(0)) chunk.release()
    }
    this.#feed?.seek(this.#position)
    reply({ position: this.#position, watermark: this.#watermark })
  }

  async #flush(ctx: ActorContext<PartitionMsg>): Promise<void> {
    this.#timer?.cancel()
    this.#timer = null
    // Paused at the quarantine's cap: what arrives waits (the paused feed bounds it) until a release.
    if (this.#state === 'quarantine-full') return
    this.#batchNo++
    const openedAt = this.#batcher.openedAt
    let items = [...this.#stalled, ...this.#batcher.take()]
    this.#stalled = []
    const { stats } = this.#d
    stats.batchWaitMs.add(ctx.clock.now() - openedAt)
    const retry = this.#d.retry ?? retryDefaults
    const outageMs = this.#d.sinkOutageMs ?? 60_000
    const downSince = ctx.clock.now()
    for (let attempt = 1; items.length > 0; attempt++) {
      try {
        if (this.#stateDirty) await this.#loadState()
        await this.#commit(items, ctx)
        if (this.#state === 'sink-down') this.#state = 'running'
        return
      } catch (err) {
        this.#stateDirty = this.#d.pipeline.state !== undefined
        const kind = classifyFailure(err)
        stats.recordError(err, failureCode(err), ctx.clock.now())
        if (kind === 'fenced') {
          stats.fencedCommits++
          this.#d.observer.fenced(this.#d.key)
          throw err
        }
        if (kind === 'full') return this.#stall(items, err)
        if (kind !== 'unavailable') throw err
        // The sink is down: keep the rest of the batch, pause (the full mailbox stops fetching) and retry.
        const watermark = this.#watermark
        items = items.filter((i) => watermark === null || i.record.offset >= watermark)
        this.#state = 'sink-down'
        if (ctx.clock.now() - downSince >= outageMs) throw err
        this.#d.log?.('warn', 'sink unavailable, retrying', { attempt, error: errorMessage(err) })
        await sleep(ctx, retry.delayMs(attempt - 1))
      }
    }
  }

  async #commit(items: BatchItem<E>[], ctx: ActorContext<PartitionMsg>): Promise<void> {
    const { key, sink, pipeline, maxRetries, stats, observer } = this.#d
    const retry = this.#d.retry ?? retryDefaults
    const letters: DeadLetter[] = []
    const watermark = await commitItems(
      {
        key,
        epoch: this.#epoch,
        sink,
        pipeline,
        maxRetries,
        clock: ctx.clock,
        retryDelay: (attempt) => sleep(ctx, retry.delayMs(attempt - 1)),
        state: () => this.#pipelineState,
        afterFailure: () => this.#loadState(),
        ...(this.#quarantine && { quarantine: this.#quarantine }),
        onCommitted: (c) => {
          const now = ctx.clock.now()
          this.#watermark = c.toOffset
          stats.committedOffset = c.toOffset
          stats.lastEventTime = c.lastEventTime
          stats.deadLetters += c.deadLetters.length
          stats.recordCommit(c.events + c.deadLetters.length, now)
          stats.handleMs.add(c.handleMs)
          stats.commitMs.add(c.commitMs)
          letters.push(...c.deadLetters)
          if (c.held > 0 || c.deadLetters.length > 0) this.#reportQuarantine()
          for (const offset of c.quarantinedAt) {
            this.#d.log?.(
              'warn',
              'key quarantined: its later events are held until its letter is retried or skipped',
              {
                offset,
                quarantinedKeys: this.#quarantine?.size,
              },
            )
          }
          observer.committed(key, {
            events: c.events,
            deadLetters: c.deadLetters.length,
            commitSeconds: (c.commitMs + c.handleMs) / 1000,
            oldestEventSeconds: Math.max(0, (now - c.firstEventTime) / 1000),
          })
        },
      },
      this.#watermark,
      items,
    )
    this.#d.testAfterCommit?.()
    this.#releaseCommitted()
    // Off the batch path: the next batch does not wait for the checkpoint; a drain or stop waits for it.
    this.#checkpoints.submit('', watermark).catch((err) => {
      this.#d.log?.('warn', 'checkpoint not written', { error: errorMessage(err) })
    })
    if (letters.length > 0 || this.#unpublished) await this.#publish(letters)
  }

  /** Gives the fetch budget back the bytes of the chunks whose records are all below the watermark. */
  #releaseCommitted(): void {
    const watermark = this.#watermark
    if (watermark === null) return
    let done = 0
    while (done < this.#uncommitted.length && (this.#uncommitted[done]?.last ?? 0) < watermark) {
      this.#uncommitted[done]?.release()
      done++
    }
    if (done > 0) this.#uncommitted.splice(0, done)
  }

  /** Keeps the items past the watermark and pauses at the quarantine's cap (state `quarantine-full`). */
  #stall(items: BatchItem<E>[], err: unknown): void {
    const watermark = this.#watermark
    this.#stalled = items.filter((i) => watermark === null || i.record.offset >= watermark)
    this.#state = 'quarantine-full'
    this.#feed?.pause()
    this.#d.log?.('warn', 'quarantine full, partition paused', { error: errorMessage(err) })
  }

  /** Leaves `quarantine-full` once a key was released, committing the stalled items first. */
  async #unstall(ctx: ActorContext<PartitionMsg>): Promise<void> {
    if (this.#state !== 'quarantine-full' || this.#quarantine?.full) return
    this.#state = 'running'
    this.#feed?.resume()
    if (this.#stalled.length > 0 || this.#batcher.size > 0) await this.#flush(ctx)
  }

  #reportQuarantine(): void {
    const q = this.#quarantine
    if (q) this.#d.observer.quarantined?.(this.#d.key, q.size, q.events)
  }

  #releaseContext(): ReleaseContext<E> | null {
    const { key, pipeline, quarantine } = this.#d
    if (!quarantine || !this.#quarantine) return null
    return {
      key,
      epoch: this.#epoch,
      store: quarantine.store,
      pipeline,
      keys: this.#quarantine,
      state: () => this.#pipelineState,
      afterFailure: () => this.#loadState(),
    }
  }

  /** Runs an operator's retry or skip: the marking transaction, then held events while steps allow. */
  async #release(req: Extract<PartitionMsg, { type: 'release' }>, ctx: ActorContext<PartitionMsg>) {
    const rc = this.#releaseContext()
    if (!rc) return req.reply({ status: 'conflict', error: 'This partition has no quarantine.' })
    if (this.#state === 'draining' || this.#state === 'drained') {
      return req.reply({ status: 'moved', error: 'The partition is moving to another node.' })
    }
    let progress: ReleaseProgress
    try {
      progress = await markRelease(rc, req)
    } catch (err) {
      const kind = classifyFailure(err)
      if (kind === 'fenced' || kind === 'stale') {
        req.reply({ status: 'moved', error: errorMessage(err) })
        throw err
      }
      const status =
        kind === 'unavailable' ? kind : isBatonError(err, 'QUARANTINE_CONFLICT') ? 'conflict' : 'failed'
      return req.reply({ status, error: errorMessage(err) })
    }
    this.#reportQuarantine()
    this.#d.log?.('info', `dead letter ${req.outcome}, releasing its key`, { deadLetterId: req.letterId })
    try {
      if (progress.done) await this.#unstall(ctx)
      else progress = await this.#releaseSteps(req.recordKey, ctx)
    } finally {
      // The marking committed: whatever stops the steps, the key is `releasing` and gets finished.
      req.reply({ status: releaseStatus(progress), ...progress })
    }
  }

  async #continueRelease(recordKey: Buffer, ctx: ActorContext<PartitionMsg>): Promise<void> {
    // A drained partition is on its way to its next owner, which finishes the release.
    if (this.#state === 'draining' || this.#state === 'drained') return
    if (this.#quarantine?.state(recordKey) !== 'releasing') return
    await this.#releaseSteps(recordKey, ctx)
  }

  /**
   * A few release transactions, then the rest later through a message to itself, so the partition's
   * batches go on between them. An unreachable sink is tried again after a delay.
   */
  async #releaseSteps(recordKey: Buffer, ctx: ActorContext<PartitionMsg>): Promise<ReleaseProgress> {
    const rc = this.#releaseContext() as ReleaseContext<E>
    const again = { type: 'release-continue', recordKey, instance: this.#instance } as const
    let progress: ReleaseProgress
    try {
      progress = await releaseHeld(rc, recordKey, 8)
    } catch (err) {
      if (classifyFailure(err) !== 'unavailable') throw err
      this.#d.log?.('warn', 'sink unavailable during a release, retrying', { error: errorMessage(err) })
      ctx.scheduleOnce((this.#d.retry ?? retryDefaults).delayMs(0), again)
      return { done: false, released: 0 }
    }
    this.#reportQuarantine()
    const fields = { released: progress.released, held: this.#quarantine?.events }
    if (progress.done) {
      this.#d.log?.('info', 'key released', fields)
      await this.#unstall(ctx)
    } else if (progress.newHeadLetterId !== undefined) {
      this.#d.log?.('warn', 'released event failed: it holds its key back again', {
        ...fields,
        deadLetterId: progress.newHeadLetterId,
      })
      // The new head letter is in the sink's outbox: publish it now, not at the next batch with letters.
      await this.#publish([])
    } else {
      // A timer, not `send`: fetched records may fill the mailbox, whose room only this actor's turns make.
      ctx.scheduleOnce(0, again)
    }
    return progress
  }

  #info() {
    return { topic: this.#d.key.topic, partition: this.#d.key.partition, epoch: this.#epoch }
  }

  async #loadState(): Promise<void> {
    const { state } = this.#d.pipeline
    if (!state) return
    this.#pipelineState = await this.#d.sink.read((tx) => state.load(this.#info(), tx))
    this.#stateDirty = false
  }

  async #checkpoint(watermark: number): Promise<void> {
    const { key, checkpoints, stats, observer } = this.#d
    const started = this.#clock.now()
    let applied: boolean
    try {
      applied = await checkpoints.write(key, this.#epoch, watermark)
    } catch (err) {
      // The watermark in the sink is the truth; the checkpoint is the fast path. Losing one costs a
      // lookup on the next start, not an event, so an unreachable checkpoint store does not stop the flow.
      this.#d.log?.('warn', 'checkpoint not written', { error: errorMessage(err) })
      return
    }
    const ms = this.#clock.now() - started
    stats.checkpointMs.add(ms)
    observer.checkpointed(key, ms / 1000)
    // A refused checkpoint means a newer epoch exists in the checkpoint store, or the store lost its data
    // (a Redis FLUSHALL). Either way the sink's watermark decides: the next commit is fenced if this actor
    // is a zombie, and goes through if it is not.
    if (!applied) this.#d.log?.('warn', 'checkpoint refused by the checkpoint store', { epoch: this.#epoch })
  }

  async #publish(letters: DeadLetter[]): Promise<void> {
    if (!this.#d.deadLetters) return
    try {
      await this.#d.deadLetters.publish(this.#d.key, letters, this.#epoch)
      this.#unpublished = false
    } catch (err) {
      // They stay in the sink's outbox; the next commit (or start) publishes them.
      this.#unpublished = true
      this.#d.log?.('warn', 'dead letters not published yet', {
        count: letters.length,
        error: errorMessage(err),
      })
    }
  }

  async #publishOutbox(): Promise<void> {
    if (!this.#d.deadLetters) return
    await this.#d.deadLetters.publish(this.#d.key, [], this.#epoch)
  }

  #status(): PartitionStatus {
    const end = this.#feed?.endOffset() ?? null
    const committed = this.#watermark
    const lag = end === null ? null : Math.max(0, end - (committed ?? 0))
    const lastEventTime = this.#d.stats.lastEventTime
    return {
      state: this.#corrupt && this.#state === 'running' ? 'corrupt' : this.#state,
      epoch: this.#epoch,
      committedOffset: committed,
      position: this.#position,
      endOffset: end,
      lag,
      lagSeconds:
        lag === null
          ? null
          : lag === 0 || lastEventTime === 0
            ? 0
            : (this.#clock.now() - lastEventTime) / 1000,
      inFlight: this.#batcher.size + this.#stalled.length,
      quarantinedKeys: this.#quarantine?.size ?? 0,
      quarantinedEvents: this.#quarantine?.events ?? 0,
    }
  }
}

const releaseStatus = (p: ReleaseProgress) =>
  p.done ? 'done' : p.newHeadLetterId !== undefined ? 'held' : 'releasing'

/** Waits `ms` on the actor's clock; gives up (rejects) when the actor instance ends first. */
function sleep(ctx: ActorContext<PartitionMsg>, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      timer.cancel()
      reject(new BatonError('ACTOR_STOPPED', `${ctx.path} stopped while waiting to retry.`))
    }
    const timer = ctx.clock.schedule(ms, () => {
      ctx.signal.removeEventListener('abort', onAbort)
      resolve()
    })
    if (ctx.signal.aborted) onAbort()
    else ctx.signal.addEventListener('abort', onAbort, { once: true })
  })
}
