// Peer: what a Node.js team typically writes today. A KafkaJS consumer with `eachMessage` and one
// awaited INSERT (node-postgres) per event; KafkaJS commits offsets on its own. Run under Node.js.
import { Kafka, logLevel } from 'kafkajs'
import pg from 'pg'
import { headersJson, meter, peerConfig } from './meter.mjs'

const config = peerConfig()
const m = meter(config)
const kafka = new Kafka({ clientId: 'peer-each-message', brokers: config.brokers, logLevel: logLevel.ERROR })
const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 10 })
const consumer = kafka.consumer({ groupId: config.group })

await consumer.connect()
await consumer.subscribe({ topic: config.topic, fromBeginning: true })
await consumer.run({
  eachMessage: async ({ topic, partition, message }) => {
    await pool.query(
      `insert into ${config.table} (topic, partition, "offset", key, value, headers, event_time)
       values ($1, $2, $3, $4, $5, $6, $7)`,
      [
        topic,
        partition,
        message.offset,
        message.key?.toString() ?? null,
        message.value?.toString() ?? null,
        headersJson(message.headers),
        new Date(Number(message.timestamp)),
      ],
    )
    m.stored(1)
  },
})
await m.finished
await consumer.disconnect()
await pool.end()
m.report()
