// Peer: the faster thing a Node.js team writes. A KafkaJS consumer with `eachBatch` and one multi-row
// INSERT (node-postgres) per 1,000 events, resolving offsets after each; KafkaJS commits them. Run under
// Node.js.
import { Kafka, logLevel } from 'kafkajs'
import pg from 'pg'
import { headersJson, meter, peerConfig } from './meter.mjs'

/** Rows per INSERT: baton's batch size, and far below PostgreSQL's 65,535 parameters per statement. */
const ROWS_PER_INSERT = 1000

const config = peerConfig()
const m = meter(config)
const kafka = new Kafka({ clientId: 'peer-each-batch', brokers: config.brokers, logLevel: logLevel.ERROR })
const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 10 })
const consumer = kafka.consumer({ groupId: config.group })

await consumer.connect()
await consumer.subscribe({ topic: config.topic, fromBeginning: true })
await consumer.run({
  eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
    for (let i = 0; i < batch.messages.length; i += ROWS_PER_INSERT) {
      const messages = batch.messages.slice(i, i + ROWS_PER_INSERT)
      const rows = []
      const params = []
      for (const message of messages) {
        const n = params.length
        rows.push(`($${n + 1}, $${n + 2}, $${n + 3}, $${n + 4}, $${n + 5}, $${n + 6}, $${n + 7})`)
        params.push(
          batch.topic,
          batch.partition,
          message.offset,
          message.key?.toString() ?? null,
          message.value?.toString() ?? null,
          headersJson(message.headers),
          new Date(Number(message.timestamp)),
        )
      }
      await pool.query(
        `insert into ${config.table} (topic, partition, "offset", key, value, headers, event_time)
         values ${rows.join(', ')}`,
        params,
      )
      resolveOffset(messages[messages.length - 1].offset)
      await heartbeat()
      m.stored(messages.length)
    }
  },
})
await m.finished
await consumer.disconnect()
await pool.end()
m.report()
