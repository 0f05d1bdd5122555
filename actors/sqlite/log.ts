import type { Database, Statement } from 'bun:sqlite'
import { type Cancellable, type Clock, realClock } from '../core/clock.ts'
import { BatonError, errorMessage } from '../core/errors.ts'
import { Partitioner } from '../partitioner.ts'
import { NO_HEADERS, type SourceRecord } from '../ports.ts'
import { type DatabaseOptions, openDatabase } from './store.ts'
import { assertTopicName } from './topic-name.ts'

/** One event to append. */
export interface LogEvent {
  /** Picks the partition as Kafka's default partitioner does; null or absent: round-robin. */
  readonly key?: string | Uint8Array | null
  /**
   * Stored as bytes: a string as its UTF-8 bytes (so pre-encoded JSON, or text that is not JSON, goes in
   * unchanged), a Uint8Array as it is, null or absent as no value (a tombstone), anything else as JSON.
   */
  readonly value?: unknown
  readonly headers?: Readonly<Record<string, string>> | null
  /** Event time in ms since the epoch; defaults to the time of the append. */
  readonly time?: number
}

/** Where an appended event was stored. */
export interface Appended {
  readonly partition: number
  readonly offset: number
}

export interface TopicInfo {
  readonly name: string
  readonly partitions: number
}

/**
 * How much of each partition is kept once every consumer has passed it. A record is deleted only when all
 * three allow it: it is below every live consumer's committed position, it is not among the last
 * `keepEvents` of its partition, and its event time is more than `keepMs` ago (0: no time limit).
 */
export interface LogRetention {
  readonly keepEvents: number
  readonly keepMs: number
  /** Retention runs on a consumer's commit at most this often per partition. */
  readonly intervalMs: number
}

export const DEFAULT_RETENTION: LogRetention = { keepEvents: 10_000, keepMs: 0, intervalMs: 1_000 }

export interface SqliteLogOptions extends DatabaseOptions {
  /** Partitions of a topic created without a count (BATON_PARTITIONS; default 8). */
  readonly partitions?: number
  readonly retention?: Partial<LogRetention>
  /** Stamps appended events and times retention (default: the process clock); tests pass their own. */
  readonly clock?: Clock
}

interface TopicState extends TopicInfo {
  readonly id: number
  /** Row id in baton_log_partitions of each partition, by partition number. */
  readonly pids: number[]
  readonly partitioner: Partitioner
}

interface Encoded {
  readonly partition: number
  readonly key: Uint8Array | null
  readonly value: Uint8Array | null
  readonly headers: string | null
  readonly time: number
}

type RecordRow = [
  offset: number,
  key: Uint8Array | null,
  value: Uint8Array | null,
  headers: string | null,
  time: number,
]

const SCHEMA = [
  `create table if not exists baton_log_topics (
    id integer primary key,
    name text not null unique,
    partitions integer not null,
    created_at integer not null
  )`,
  // next_offset is kept here rather than derived from the records, so a partition whose records were all
  // deleted by retention still continues where it was instead of starting again at 0.
  `create table if not exists baton_log_partitions (
    id integer primary key,
    topic_id integer not null references baton_log_topics (id),
    partition integer not null,
    start_offset integer not null,
    next_offset integer not null,
    unique (topic_id, partition)
  )`,
  // Clustered by (partition, offset): an append writes at the end of its partition's range and a read is
  // one range scan. Values are small (an event), which is where WITHOUT ROWID pays.
  `create table if not exists baton_log_records (
    pid integer not null,
    "offset" integer not null,
    key blob,
    value blob,
    headers text,
    time integer not null,
    primary key (pid, "offset")
  ) without rowid`,
]

/**
 * The embedded partitioned log: Kafka's model (topics of N partitions, offsets from 0 and contiguous per
 * partition, keys hashed like Kafka's default partitioner) in one bun:sqlite file in WAL mode.
 *
 * An append is one transaction, all events or none, and returns only after it is durable (`durability`
 * FULL, the default: the WAL is fsynced at commit). log.bench.ts on the 2-core development box, 1,000
 * events of ~100 bytes per append: 540-560k events/s appended with FULL when the box is otherwise idle
 * (1.8 ms per append, of which the fsync is ~0.12 ms; NORMAL is within noise of it), 165-260k/s while
 * other test suites ran; reads of 500-record chunks 0.6-1.6M records/s. Everything is synchronous, as
 * bun:sqlite is: an append of 1,000 events holds the event loop for about 2 ms.
 *
 * The log has its own file and connection, apart from the sink's: an append never waits for a batch
 * transaction that is awaiting the pipeline, and the sink never waits for ingest.
 */
export class SqliteLog {
  readonly path: string
  readonly #db: Database
  readonly #defaultPartitions: number
  readonly #retention: LogRetention
  readonly #clock: Clock
  readonly #topics = new Map<string, TopicState>()
  readonly #listeners = new Map<number, Set<(endOffset: number) => void>>()
  /** Committed position of each consumer group, by partition row id; only live consumers hold retention. */
  readonly #consumers = new Map<number, Map<string, number>>()
  readonly #lastRetention = new Map<number, number>()
  /** Retention runs put off by `intervalMs`, so the last commit of a burst still gets its run. */
  readonly #deferredRetention = new Map<number, Cancellable>()
  readonly #sql: {
    insert: Statement
    nextOffset: Statement<{ next_offset: number }>
    setNextOffset: Statement
    bounds: Statement<{ start_offset: number; next_offset: number }>
    range: Statement
    firstAtOrAfter: Statement<{ offset: number }>
    firstYoungInRange: Statement<{ offset: number }>
    deleteBefore: Statement
    setStartOffset: Statement
  }
  readonly #appendTx: (topic: TopicState, events: readonly Encoded[]) => Appended[]
  readonly #truncateTx: (pid: number, before: number) => number

  private constructor(path: string, db: Database, options: SqliteLogOptions) {
    this.path = path
    this.#db = db
    this.#defaultPartitions = options.partitions ?? 8
    this.#retention = { ...DEFAULT_RETENTION, ...options.retention }
    this.#clock = options.clock ?? realClock
    db.transaction(() => {
      for (const statement of SCHEMA) db.run(statement)
    }).immediate()
    this.#sql = {
      insert: db.prepare(
        'insert into baton_log_records (pid, "offset", key, value, headers, time) values (?, ?, ?, ?, ?, ?)',
      ),
      nextOffset: db.prepare('select next_offset from baton_log_partitions where id = ?'),
      setNextOffset: db.prepare('update baton_log_partitions set next_offset = ? where id = ?'),
      bounds: db.prepare('select start_offset, next_offset from baton_log_partitions where id = ?'),
      range: db.prepare(
        'select "offset", key, value, headers, time from baton_log_records where pid = ? and "offset" >= ? order by "offset" limit ?',
      ),
      firstAtOrAfter: db.prepare(
        'select "offset" from baton_log_records where pid = ? and time >= ? order by "offset" limit 1',
      ),
      firstYoungInRange: db.prepare(
        'select "offset" from baton_log_records where pid = ? and "offset" < ? and time >= ? order by "offset" limit 1',
      ),
      deleteBefore: db.prepare('delete from baton_log_records where pid = ? and "offset" < ?'),
      setStartOffset: db.prepare(
        'update baton_log_partitions set start_offset = ? where id = ? and start_offset < ?',
      ),
    }
    this.#appendTx = db.transaction((topic: TopicState, events: readonly Encoded[]) =>
      this.#write(topic, events),
    ).immediate as (topic: TopicState, events: readonly Encoded[]) => Appended[]
    this.#truncateTx = db.transaction((pid: number, before: number) => {
      const deleted = this.#sql.deleteBefore.run(pid, before).changes
      this.#sql.setStartOffset.run(before, pid, before)
      return deleted
    }).immediate as (pid: number, before: number) => number
    this.#loadTopics()
  }

  /**
   * Opens (or creates) the log in the file at `path`.
   *
   * @example
   * const log = SqliteLog.open(join(dataDir, 'log.db'), { partitions: 8 })
   * log.createTopic('events')
   * log.append('events', [{ key: 'order-42', value: { total: 12.5 } }]) // [{ partition: 0, offset: 0 }]
   */
  static open(path: string, options: SqliteLogOptions = {}): SqliteLog {
    const db = openDatabase(path, options, 'SOURCE_UNAVAILABLE')
    try {
      return new SqliteLog(path, db, options)
    } catch (err) {
      db.close()
      throw unavailable(`open the log at ${path}`, err)
    }
  }

  /**
   * Creates the topic with `partitions` partitions, or returns it when it exists. An existing topic with
   * fewer partitions grows (keys then map as Kafka maps them after adding partitions); one with more
   * cannot shrink, which is a CONFIG_INVALID error.
   */
  createTopic(name: string, partitions: number = this.#defaultPartitions): TopicInfo {
    assertTopicName(name)
    if (!Number.isInteger(partitions) || partitions < 1) {
      throw new BatonError(
        'CONFIG_INVALID',
        `Topic '${name}' needs a whole number of partitions, at least 1; got ${partitions}. Check BATON_PARTITIONS.`,
      )
    }
    const existing = this.#topics.get(name)
    if (existing && existing.partitions === partitions) return info(existing)
    if (existing && existing.partitions > partitions) {
      throw new BatonError(
        'CONFIG_INVALID',
        `Topic '${name}' has ${existing.partitions} partitions in ${this.path}; it cannot shrink to ${partitions}. Set BATON_PARTITIONS=${existing.partitions}, or use a new BATON_DATA_DIR.`,
      )
    }
    this.#guard(`create topic '${name}'`, () =>
      this.#db
        .transaction(() => {
          const now = this.#clock.now()
          const id =
            existing?.id ??
            Number(
              this.#db
                .prepare('insert into baton_log_topics (name, partitions, created_at) values (?, ?, ?)')
                .run(name, partitions, now).lastInsertRowid,
            )
          const addPartition = this.#db.prepare(
            'insert into baton_log_partitions (topic_id, partition, start_offset, next_offset) values (?, ?, 0, 0)',
          )
          for (let p = existing?.partitions ?? 0; p < partitions; p++) addPartition.run(id, p)
          this.#db.prepare('update baton_log_topics set partitions = ? where id = ?').run(partitions, id)
        })
        .immediate(),
    )
    this.#loadTopics()
    return info(this.#topics.get(name) as TopicState)
  }

  /** The topic, or undefined when it does not exist. */
  topic(name: string): TopicInfo | undefined {
    const topic = this.#topics.get(name)
    return topic && info(topic)
  }

  /** Every topic, by name. */
  topics(): TopicInfo[] {
    return [...this.#topics.values()].map(info).sort((a, b) => a.name.localeCompare(b.name))
  }

  /**
   * Appends `events` to `topic` in one durable transaction and returns where each one went, in input order.
   * Nothing is stored when any event is invalid (BAD_REQUEST naming its index), the topic does not exist
   * (NOT_FOUND) or the disk fails (SOURCE_UNAVAILABLE).
   */
  append(topic: string, events: readonly LogEvent[]): Appended[] {
    const state = this.#topic(topic)
    if (events.length === 0) return []
    const now = this.#clock.now()
    const encoded = events.map((event, i) => encode(event, i, now, state.partitioner))
    const appended = this.#guard(`append ${events.length} events to '${topic}'`, () =>
      this.#appendTx(state, encoded),
    )
    this.#notify(state, appended)
    return appended
  }

  /**
   * Up to `maxRecords` records of one partition from `fromOffset` on, in offset order, stopping before the
   * record that would pass `maxBytes` (key + value bytes; the first record is returned whatever its size).
   * Reading below the earliest retained offset starts at that offset; at or past the end returns [].
   */
  read(
    topic: string,
    partition: number,
    fromOffset: number,
    maxRecords: number,
    maxBytes = Number.POSITIVE_INFINITY,
  ): SourceRecord[] {
    const pid = this.#pid(topic, partition)
    const rows = this.#guard(`read ${topic}/${partition}`, () =>
      this.#sql.range.values(pid, fromOffset, maxRecords),
    ) as RecordRow[]
    const records: SourceRecord[] = []
    let bytes = 0
    for (const [offset, key, value, headers, time] of rows) {
      const size = (key?.length ?? 0) + (value?.length ?? 0)
      if (records.length > 0 && bytes + size > maxBytes) break
      bytes += size
      records.push({
        topic,
        partition,
        offset,
        key: key && Buffer.from(key.buffer, key.byteOffset, key.byteLength),
        value: value && Buffer.from(value.buffer, value.byteOffset, value.byteLength),
        headers: headers === null ? NO_HEADERS : (JSON.parse(headers) as Record<string, string>),
        timestamp: time,
      })
    }
    return records
  }

  /** The offset the next append to this partition gets (the "log end offset"). */
  endOffset(topic: string, partition: number): number {
    return this.#bounds(topic, partition).next_offset
  }

  /** The earliest offset still retained (equals `endOffset` when retention deleted everything). */
  startOffset(topic: string, partition: number): number {
    return this.#bounds(topic, partition).start_offset
  }

  /**
   * The earliest retained offset whose event time is at or after `time` (Kafka's offsetsForTimes), or the
   * end offset when there is none. Scans the partition: meant for an operator's seek, not a hot path.
   */
  offsetForTime(topic: string, partition: number, time: number): number {
    const pid = this.#pid(topic, partition)
    const row = this.#guard(`search ${topic}/${partition} by time`, () =>
      this.#sql.firstAtOrAfter.get(pid, time),
    )
    return row?.offset ?? this.endOffset(topic, partition)
  }

  /**
   * Calls `listener` with the new end offset after each append to the partition commits, so feeds can wait
   * instead of polling. It runs in a microtask after `append` returns; it should only wake its consumer.
   * Appends by other processes are not signalled. Returns the function that unsubscribes.
   */
  onAppend(topic: string, partition: number, listener: (endOffset: number) => void): () => void {
    const pid = this.#pid(topic, partition)
    let listeners = this.#listeners.get(pid)
    if (!listeners) {
      listeners = new Set()
      this.#listeners.set(pid, listeners)
    }
    listeners.add(listener)
    return () => {
      listeners.delete(listener)
    }
  }

  /**
   * Records that `group` has committed everything below `nextOffset` on the partition, and now and then
   * (at most every `retention.intervalMs`) deletes what every consumer of this process has passed. Consumer
   * positions live in memory: after a restart nothing is deleted until the consumers have committed again.
   * Returns how many records it deleted.
   */
  commitConsumer(group: string, topic: string, partition: number, nextOffset: number): number {
    const pid = this.#pid(topic, partition)
    let positions = this.#consumers.get(pid)
    if (!positions) {
      positions = new Map()
      this.#consumers.set(pid, positions)
    }
    positions.set(group, nextOffset)
    const now = this.#clock.now()
    const last = this.#lastRetention.get(pid)
    if (last !== undefined && now - last < this.#retention.intervalMs) {
      if (!this.#deferredRetention.has(pid)) {
        const timer = this.#clock.schedule(this.#retention.intervalMs - (now - last), () => {
          this.#deferredRetention.delete(pid)
          this.#lastRetention.set(pid, this.#clock.now())
          const current = this.#consumers.get(pid)
          try {
            if (current) this.truncateBefore(topic, partition, Math.min(...current.values()))
          } catch {
            // Retention is housekeeping: a failed run (a full disk) is retried on the next commit.
          }
        })
        this.#deferredRetention.set(pid, timer)
      }
      return 0
    }
    this.#lastRetention.set(pid, now)
    return this.truncateBefore(topic, partition, Math.min(...positions.values()))
  }

  /**
   * Deletes the partition's records below `offset` that the retention settings let go (see LogRetention);
   * only ever a prefix, so the retained offsets stay contiguous. Returns how many records it deleted.
   */
  truncateBefore(topic: string, partition: number, offset: number): number {
    const pid = this.#pid(topic, partition)
    const { keepEvents, keepMs } = this.#retention
    const { start_offset: start, next_offset: end } = this.#bounds(topic, partition)
    let before = Math.min(offset, end - keepEvents)
    if (before <= start) return 0
    if (keepMs > 0) {
      const young = this.#sql.firstYoungInRange.get(pid, before, this.#clock.now() - keepMs)
      if (young) before = young.offset
      if (before <= start) return 0
    }
    return this.#guard(`delete old records of ${topic}/${partition}`, () => this.#truncateTx(pid, before))
  }

  /** Closes the file. Appends and reads afterwards throw. */
  close(): void {
    for (const timer of this.#deferredRetention.values()) timer.cancel()
    this.#deferredRetention.clear()
    this.#listeners.clear()
    this.#db.close()
  }

  #write(topic: TopicState, events: readonly Encoded[]): Appended[] {
    const { insert, nextOffset, setNextOffset } = this.#sql
    // Read inside the write transaction, so offsets stay contiguous even if another process appends too.
    const next = new Map<number, number>()
    const appended = new Array<Appended>(events.length)
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as Encoded
      const pid = topic.pids[event.partition] as number
      const offset = next.get(event.partition) ?? (nextOffset.get(pid) as { next_offset: number }).next_offset
      insert.run(pid, offset, event.key, event.value, event.headers, event.time)
      next.set(event.partition, offset + 1)
      appended[i] = { partition: event.partition, offset }
    }
    for (const [partition, offset] of next) setNextOffset.run(offset, topic.pids[partition] as number)
    return appended
  }

  #notify(topic: TopicState, appended: readonly Appended[]): void {
    const ends = new Map<number, number>()
    for (const { partition, offset } of appended) ends.set(partition, offset + 1)
    for (const [partition, end] of ends) {
      const listeners = this.#listeners.get(topic.pids[partition] as number)
      if (!listeners) continue
      for (const listener of listeners) queueMicrotask(() => listener(end))
    }
  }

  #loadTopics(): void {
    const rows = this.#db
      .query(
        'select t.id, t.name, t.partitions, p.partition, p.id as pid from baton_log_topics t join baton_log_partitions p on p.topic_id = t.id order by t.id, p.partition',
      )
      .all() as { id: number; name: string; partitions: number; partition: number; pid: number }[]
    for (const row of rows) {
      let topic = this.#topics.get(row.name)
      if (!topic || topic.partitions !== row.partitions) {
        topic = {
          id: row.id,
          name: row.name,
          partitions: row.partitions,
          pids: [],
          partitioner: new Partitioner(row.partitions),
        }
        this.#topics.set(row.name, topic)
      }
      topic.pids[row.partition] = row.pid
    }
  }

  #topic(name: string): TopicState {
    const topic = this.#topics.get(name)
    if (topic) return topic
    assertTopicName(name)
    throw new BatonError(
      'NOT_FOUND',
      `Topic '${name}' does not exist in the embedded log. Add it to BATON_TOPICS so the node creates it at start-up.`,
    )
  }

  #pid(topic: string, partition: number): number {
    const state = this.#topic(topic)
    const pid = Number.isInteger(partition) ? state.pids[partition] : undefined
    if (pid === undefined) {
      throw new BatonError(
        'NOT_FOUND',
        `Topic '${topic}' has partitions 0 to ${state.partitions - 1}; there is no partition ${partition}.`,
      )
    }
    return pid
  }

  #bounds(topic: string, partition: number): { start_offset: number; next_offset: number } {
    const pid = this.#pid(topic, partition)
    return this.#guard(`read the offsets of ${topic}/${partition}`, () => this.#sql.bounds.get(pid)) as {
      start_offset: number
      next_offset: number
    }
  }

  #guard<T>(what: string, fn: () => T): T {
    try {
      return fn()
    } catch (err) {
      throw unavailable(`${what} in ${this.path}`, err)
    }
  }
}

function info(topic: TopicState): TopicInfo {
  return { name: topic.name, partitions: topic.partitions }
}

function unavailable(what: string, err: unknown): BatonError {
  if (err instanceof BatonError) return err
  return new BatonError(
    'SOURCE_UNAVAILABLE',
    `The embedded log could not ${what}: ${errorMessage(err)}. Nothing was changed; check free disk space and BATON_DATA_DIR, then retry.`,
    { cause: err },
  )
}

const encoder = new TextEncoder()

function encode(event: LogEvent, index: number, now: number, partitioner: Partitioner): Encoded {
  const bad = (what: string) => new BatonError('BAD_REQUEST', `Event ${index}: ${what}. Nothing was stored.`)
  if (event === null || typeof event !== 'object') throw bad('must be an object with a `value`')
  const { key, value, headers, time } = event
  if (key !== undefined && key !== null && typeof key !== 'string' && !(key instanceof Uint8Array)) {
    throw bad('`key` must be a string or null')
  }
  let bytes: Uint8Array | null
  if (value === undefined || value === null) bytes = null
  else if (typeof value === 'string') bytes = encoder.encode(value)
  else if (value instanceof Uint8Array) bytes = value
  else {
    let json: string | undefined
    try {
      json = JSON.stringify(value)
    } catch (err) {
      throw bad(`\`value\` cannot be written as JSON (${errorMessage(err)})`)
    }
    if (json === undefined) throw bad('`value` cannot be written as JSON')
    bytes = encoder.encode(json)
  }
  let headersJson: string | null = null
  if (headers !== undefined && headers !== null) {
    if (typeof headers !== 'object' || Array.isArray(headers))
      throw bad('`headers` must be an object of strings')
    const names = Object.keys(headers)
    for (const name of names) {
      if (typeof headers[name] !== 'string') throw bad(`header '${name}' must be a string`)
    }
    if (names.length > 0) headersJson = JSON.stringify(headers)
  }
  if (time !== undefined && (typeof time !== 'number' || !Number.isFinite(time))) {
    throw bad('`time` must be a number of milliseconds since the epoch')
  }
  return {
    partition: partitioner.partition(key),
    key: typeof key === 'string' ? encoder.encode(key) : (key ?? null),
    value: bytes,
    headers: headersJson,
    time: time === undefined ? now : Math.trunc(time),
  }
}
