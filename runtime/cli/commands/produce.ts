import { parseArgs } from 'node:util'
import { realClock, sleep } from '../../../actors/core/clock.ts'
import { BatonError, errorMessage } from '../../../actors/core/errors.ts'
import { type Command, usageError, wantsHelp } from '../command.ts'
import { Progress } from '../progress.ts'
import { type SyntheticOptions, syntheticEvent } from '../synthetic-events.ts'

const help = `Usage: baton produce [options]

Sends synthetic events to a running baton node over HTTP (POST /v1/topics/:topic/events), or straight
to Kafka with --kafka (cluster mode). Values are JSON {"seq","key","n","pad"}: n counts the events of
each key, so what arrives can be checked for order and completeness.

Options:
  --url <url>         The node's address [http://127.0.0.1:8080]
  --kafka             Produce to KAFKA_BROKERS instead of a node (with KAFKA_SASL_* and KAFKA_TLS_CA
                      when set, as baton start reads them)
  --topic <name>      [events]
  --count <n>         Events to send [100000]
  --rate <n>          Events per second, 0 for as fast as possible [0]
  --keys <n>          Distinct keys, 0 for keyless events [1000]
  --size <bytes>      Bytes per value [100]
  --poison <0..1>     Fraction of events whose value is not valid JSON [0]
  --batch <n>         Events per request [1000]
  --token <token>     Bearer token, if the node wants one for ingest [BATON_INGEST_TOKEN]. Over the
                      node's ingest rate (429), it waits as the node says and sends again
  -h, --help          This help

Example:
  baton produce --count 50000 --rate 5000 --keys 100 --poison 0.01`

interface ProduceOptions {
  url: string
  kafka: boolean
  topic: string
  count: number
  rate: number
  batch: number
  token: string | undefined
  events: SyntheticOptions
}

function parse(args: string[]): ProduceOptions | string {
  const { values } = parseArgs({
    args,
    allowPositionals: false,
    strict: true,
    options: {
      url: { type: 'string', default: 'http://127.0.0.1:8080' },
      kafka: { type: 'boolean', default: false },
      topic: { type: 'string', default: 'events' },
      count: { type: 'string', default: '100000' },
      rate: { type: 'string', default: '0' },
      keys: { type: 'string', default: '1000' },
      size: { type: 'string', default: '100' },
      poison: { type: 'string', default: '0' },
      batch: { type: 'string', default: '1000' },
      token: { type: 'string' },
    },
  })
  const num = (name: string, raw: string, min: number, max: number) => {
    const n = Number(raw)
    return Number.isFinite(n) && n >= min && n <= max
      ? n
      : `--${name} must be a number from ${min} to ${max}, got '${raw}'`
  }
  const checks = {
    count: num('count', values.count, 1, 1e10),
    rate: num('rate', values.rate, 0, 1e8),
    keys: num('keys', values.keys, 0, 1e9),
    size: num('size', values.size, 1, 1_000_000),
    poison: num('poison', values.poison, 0, 1),
    batch: num('batch', values.batch, 1, 10_000),
  }
  for (const v of Object.values(checks)) if (typeof v === 'string') return v
  const n = checks as Record<keyof typeof checks, number>
  return {
    url: values.url.replace(/\/$/, ''),
    kafka: values.kafka,
    topic: values.topic,
    count: Math.floor(n.count),
    rate: n.rate,
    batch: Math.floor(n.batch),
    token: values.token ?? process.env.BATON_INGEST_TOKEN,
    events: { keys: Math.floor(n.keys), valueBytes: Math.floor(n.size), poison: n.poison },
  }
}

type Send = (from: number, to: number) => Promise<void>

function httpSender(o: ProduceOptions): Send {
  const headers: Record<string, string> = { 'content-type': 'application/x-ndjson' }
  if (o.token) headers.authorization = `Bearer ${o.token}`
  return async (from, to) => {
    const lines: string[] = []
    for (let seq = from; seq < to; seq++) {
      const e = syntheticEvent(seq, o.events)
      // A poison value is not JSON, so it travels as rawValue: the node stores it as it is.
      const body = e.poison ? { key: e.key, rawValue: e.value } : { key: e.key, value: JSON.parse(e.value) }
      lines.push(JSON.stringify(body))
    }
    let res: Response
    for (;;) {
      try {
        res = await fetch(`${o.url}/v1/topics/${encodeURIComponent(o.topic)}/events`, {
          method: 'POST',
          headers,
          body: lines.join('\n'),
        })
      } catch (err) {
        throw new BatonError(
          'SERVICE_UNREACHABLE',
          `Cannot reach the node at ${o.url} (${errorMessage(err)}). Is 'baton start' running there?`,
        )
      }
      // Over the node's ingest rate (BATON_INGEST_RATE) the request was refused whole: wait as told, send again.
      if (res.status !== 429) break
      await res.arrayBuffer()
      await sleep(realClock, Number(res.headers.get('retry-after') ?? 1) * 1000)
    }
    if (!res.ok) {
      const text = await res.text()
      throw new BatonError('BAD_REQUEST', `The node answered ${res.status}: ${text}`)
    }
  }
}

async function kafkaSender(o: ProduceOptions): Promise<{ send: Send; close(): Promise<void> }> {
  const brokers = process.env.KAFKA_BROKERS?.split(',').filter(Boolean)
  if (!brokers?.length) {
    throw new BatonError(
      'CONFIG_INVALID',
      '--kafka needs KAFKA_BROKERS (host:port[,host:port]) in the environment.',
    )
  }
  const { KafkaEventProducer } = await import('../../../actors/kafka/producer.ts')
  const { kafkaSecurityFromEnv } = await import('../../../actors/kafka/kafka-security.ts')
  const producer = new KafkaEventProducer({
    brokers,
    clientId: 'baton-produce',
    security: kafkaSecurityFromEnv(process.env),
  })
  return {
    async send(from, to) {
      const events = []
      for (let seq = from; seq < to; seq++) {
        const e = syntheticEvent(seq, o.events)
        events.push({ key: e.key, value: e.value })
      }
      await producer.produce(o.topic, events)
    },
    close: () => producer.close(),
  }
}

export const produce: Command = {
  name: 'produce',
  help,
  async run(args) {
    if (wantsHelp(args)) {
      process.stdout.write(`${help}\n`)
      return 0
    }
    let o: ProduceOptions | string
    try {
      o = parse(args)
    } catch (err) {
      return usageError(produce, errorMessage(err))
    }
    if (typeof o === 'string') return usageError(produce, o)
    const kafka = o.kafka ? await kafkaSender(o) : null
    const send = kafka?.send ?? httpSender(o)
    const progress = new Progress(`produce ${o.topic}`, o.count)
    const started = realClock.now()
    let sent = 0
    try {
      while (sent < o.count) {
        const to = Math.min(o.count, sent + o.batch)
        await send(sent, to)
        sent = to
        progress.update(sent)
        if (o.rate > 0) {
          // Pace by the schedule, not by the last request, so slow requests do not lower the rate.
          const due = started + (sent / o.rate) * 1000
          const wait = due - realClock.now()
          if (wait > 0) await sleep(realClock, wait)
        }
      }
    } finally {
      progress.done(sent)
      await kafka?.close()
    }
    const seconds = (realClock.now() - started) / 1000
    process.stdout.write(
      `${JSON.stringify({ topic: o.topic, sent, seconds: Math.round(seconds * 100) / 100, eventsPerSec: Math.round(sent / seconds) })}\n`,
    )
    return 0
  },
}
