import { afterAll, beforeAll } from 'bun:test'
import { Consumer } from '@platformatic/kafka'
import postgres from 'postgres'
import { deleteTopics, ensureTopics } from '../../actors/kafka/admin.ts'
import { clientOptions } from '../../actors/kafka/kafka-client.ts'
import { type KafkaSecurity, kafkaSecurityFromEnv } from '../../actors/kafka/kafka-security.ts'
import { type EventToProduce, KafkaEventProducer } from '../../actors/kafka/producer.ts'
import { postgresConnection } from '../../actors/postgres/tls.ts'
import { type NodeProcess, startNodeProcess } from '../../deploy/local/node-process.ts'
import type { SecureServiceEnv, ServiceEnv } from '../../deploy/local/services.ts'
import { type SyntheticOptions, syntheticEvent } from '../../runtime/cli/synthetic-events.ts'
import { serviceEnv } from '../support/env.ts'
import { uniqueName } from '../support/names.ts'
import { type PrivateServices, privateServices } from './support.ts'

/**
 * One cluster-mode scenario: its own topic (8 partitions unless told, plus .dlq) and consumer group on the shared
 * services, nodes started as processes, and the exactly-once check against PostgreSQL and Kafka.
 */
export class ClusterScenario {
  readonly topic = uniqueName('t')
  readonly group = uniqueName('g')
  readonly partitions: number
  readonly databaseUrl: string
  readonly sql: postgres.Sql
  readonly nodes: NodeProcess[] = []
  readonly poisonSeqs = new Set<number>()
  produced = 0
  #producer: KafkaEventProducer | null = null
  /** The services' env lines every node gets, and what the scenario's own clients connect with. */
  readonly #services: Partial<ServiceEnv & SecureServiceEnv>
  readonly #brokers: string[]
  readonly #security: KafkaSecurity | undefined

  /**
   * `databaseUrl`: a PostgreSQL of the test's own (to restart it), instead of the shared one. `services`:
   * the env lines of a private (e.g. secure) set instead of the shared services; the scenario then checks
   * and cleans up as DATABASE_MIGRATION_URL's role when there is one (the runtime role may not).
   * `partitions`: of the topic (default 8).
   */
  constructor(
    readonly events: SyntheticOptions = { keys: 1000, valueBytes: 100, poison: 0 },
    options: {
      databaseUrl?: string
      services?: Partial<ServiceEnv & SecureServiceEnv>
      partitions?: number
    } = {},
  ) {
    this.partitions = options.partitions ?? 8
    this.#services = options.services ?? serviceEnv()
    this.#brokers = (this.#services.KAFKA_BROKERS ?? '').split(',')
    this.#security = kafkaSecurityFromEnv(this.#services)
    this.databaseUrl = options.databaseUrl ?? (this.#services.DATABASE_URL as string)
    const checker = postgresConnection(this.#services.DATABASE_MIGRATION_URL ?? this.databaseUrl)
    this.sql = postgres(checker.url, { ssl: checker.ssl, max: 2, onnotice: () => {} })
  }

  async createTopics(): Promise<void> {
    await ensureTopics({
      brokers: this.#brokers,
      security: this.#security,
      topics: [this.topic],
      partitions: this.partitions,
      dlq: true,
    })
  }

  /** Produces the next `count` synthetic events (seq continues across calls). */
  async produce(count: number): Promise<void> {
    const events: EventToProduce[] = []
    for (let seq = this.produced; seq < this.produced + count; seq++) {
      const e = syntheticEvent(seq, this.events)
      if (e.poison) this.poisonSeqs.add(seq)
      events.push({ key: e.key, value: e.value })
    }
    await this.produceEvents(events)
  }

  /** Produces events as they are, in requests of 1,000; they count towards `produced`. */
  async produceEvents(events: readonly EventToProduce[]): Promise<void> {
    this.#producer ??= new KafkaEventProducer({
      brokers: this.#brokers,
      security: this.#security,
      clientId: `${this.topic}-producer`,
    })
    for (let from = 0; from < events.length; from += 1000) {
      await this.#producer.produce(this.topic, events.slice(from, from + 1000))
    }
    this.produced += events.length
  }

  async startNode(nodeId: string, env: Record<string, string> = {}): Promise<NodeProcess> {
    const node = await startNodeProcess({
      ...this.#services,
      DATABASE_URL: this.databaseUrl,
      BATON_NODE_ID: nodeId,
      BATON_TOPICS: this.topic,
      BATON_GROUP_ID: this.group,
      BATON_PARTITIONS: String(this.partitions),
      BATON_DRAIN_TIMEOUT_MS: '5000',
      ...env,
    })
    this.nodes.push(node)
    return node
  }

  /** Events committed so far (the sum of the partitions' watermarks), read from PostgreSQL. */
  async committed(): Promise<number> {
    const [row] = await this.sql<{ n: string | null }[]>`
      select sum(next_offset)::text as n from baton_watermarks where group_id = ${this.group} and topic = ${this.topic}`
    return Number(row?.n ?? 0)
  }

  /** Waits until every produced event is committed (watermarks add up to the number produced). */
  async caughtUp(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if ((await this.committed()) >= this.produced) return
      await Bun.sleep(250)
    }
    // What the nodes said is what explains a stall: the last lines of each.
    const said = this.nodes
      .map((n, i) => {
        const lines = n
          .output()
          .split('\n')
          .filter((l) => l.length > 0)
        return `node ${i}:\n${lines.slice(-30).join('\n')}`
      })
      .join('\n')
    throw new Error(
      `only ${await this.committed()} of ${this.produced} events committed after ${timeoutMs} ms\n${said}`,
    )
  }

  /**
   * The invariants: every produced event is stored exactly once or dead-lettered exactly once (poison),
   * stored offsets per partition are contiguous apart from dead-lettered ones and in offset order, and
   * the dead letters carry their metadata.
   */
  async check(): Promise<{ stored: number; deadLettered: number }> {
    const rows = await this.sql<{ partition: number; offset: number; seq: number }[]>`
      select partition, "offset"::int as "offset", (value->>'seq')::int as seq from baton_events
      where topic = ${this.topic} order by partition, baton_events."offset"`
    const letters = await this.sql<
      {
        partition: number
        offset: string
        error: string
        error_code: string
        attempts: number
        value: Buffer
      }[]
    >`select partition, "offset"::text, error, error_code, attempts, value from baton_dead_letters
      where group_id = ${this.group} and topic = ${this.topic}`
    const storedSeqs = new Set(rows.map((r) => r.seq))
    if (storedSeqs.size !== rows.length)
      throw new Error(`${rows.length - storedSeqs.size} events stored twice`)
    const letterSeqs = new Set(letters.map((l) => Number(/"seq":(\d+)/.exec(l.value.toString())?.[1])))
    if (letterSeqs.size !== letters.length) throw new Error('a dead letter is recorded twice')
    const lost: number[] = []
    for (let seq = 0; seq < this.produced; seq++)
      if (!storedSeqs.has(seq) && !letterSeqs.has(seq)) lost.push(seq)
    if (lost.length > 0)
      throw new Error(`${lost.length} events lost, e.g. seq ${lost.slice(0, 5).join(', ')}`)
    for (const seq of storedSeqs)
      if (this.poisonSeqs.has(seq)) throw new Error(`poison event ${seq} was stored`)
    const dead = new Set(letters.map((l) => `${l.partition}/${l.offset}`))
    for (let p = 0; p < this.partitions; p++) {
      const offsets = rows.filter((r) => r.partition === p).map((r) => r.offset)
      let expected = 0
      for (const offset of offsets) {
        while (dead.has(`${p}/${expected}`)) expected++
        if (offset !== expected)
          throw new Error(`partition ${p}: offset ${offset} stored where ${expected} was due`)
        expected++
      }
    }
    for (const l of letters) {
      if (!l.error || !l.error_code || l.attempts < 1)
        throw new Error(`dead letter ${l.offset} lacks its metadata`)
    }
    return { stored: rows.length, deadLettered: letters.length }
  }

  /** The group's committed Kafka offsets and the partitions' end offsets. */
  async kafkaOffsets(): Promise<{ committed: number[]; end: number[] }> {
    const consumer = new Consumer({
      ...clientOptions(`${this.group}-check`, this.#brokers, this.#security),
      groupId: this.group,
    })
    try {
      const partitions = Array.from({ length: this.partitions }, (_, p) => p)
      const committed = await consumer.listCommittedOffsets({ topics: [{ topic: this.topic, partitions }] })
      const end = await consumer.listOffsets({ topics: [this.topic], timestamp: -1n })
      return {
        committed: partitions.map((p) => Number(committed.get(this.topic)?.[p] ?? -1n)),
        end: partitions.map((p) => Number(end.get(this.topic)?.[p] ?? -1n)),
      }
    } finally {
      await consumer.close()
    }
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.kill()))
    await this.#producer?.close()
    const [events] = await this.sql<
      { exists: boolean }[]
    >`select to_regclass('baton_events') is not null as exists`
    if (events?.exists) await this.sql`delete from baton_events where topic = ${this.topic}`
    await this.sql`delete from baton_dead_letters where group_id = ${this.group}`
    const [quarantine] = await this.sql<
      { exists: boolean }[]
    >`select to_regclass('baton_quarantine') is not null as exists`
    if (quarantine?.exists) {
      await this.sql`delete from baton_quarantine where group_id = ${this.group}`
      await this.sql`delete from baton_quarantined_keys where group_id = ${this.group}`
    }
    await this.sql`delete from baton_watermarks where group_id = ${this.group}`
    await this.sql.end()
    await deleteTopics(this.#brokers, [this.topic, `${this.topic}.dlq`], this.#security).catch(() => {})
  }
}

/**
 * The set-up of a test file whose scenario needs a PostgreSQL of its own (to restart it, or because the
 * pipeline's tables are not per topic), with the shared Kafka and Redis: brought up before the file's
 * tests, the scenario cleaned up and PostgreSQL taken down after them. Call it once at the top of the file.
 */
export function scenarioOnPrivatePostgres(): { scenario: ClusterScenario; services: PrivateServices } {
  const file = {} as { scenario: ClusterScenario; services: PrivateServices }
  beforeAll(async () => {
    file.services = await privateServices(['postgres'])
    file.scenario = new ClusterScenario(undefined, { databaseUrl: file.services.env.DATABASE_URL })
  }, 120_000)
  afterAll(async () => {
    await file.scenario?.cleanup()
    await file.services?.down()
  })
  return file
}
