import type { BaseOptions, Broker } from '@platformatic/kafka'
import { connectionError } from '../connection-failure.ts'
import { type Backoff, backoff, type Retries, retries } from '../core/backoff.ts'
import { BatonError } from '../core/errors.ts'
import { describeKafkaError } from './kafka-errors.ts'
import { type KafkaSecurity, securityOptions } from './kafka-security.ts'

/** How the Kafka adapters report what the node's operator should know (same shape as the partition actor's). */
export type KafkaLog = (
  level: 'info' | 'warn' | 'error',
  message: string,
  fields?: Record<string, unknown>,
) => void

/** The default log: warnings and errors to stderr, info dropped (a node passes its own logger). */
export const stderrLog: KafkaLog = (level, message, fields) => {
  if (level === 'info') return
  console.error(`[baton kafka] ${level}: ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}`)
}

/**
 * Retries of a broker, growing from `minMs` to `maxMs`. Each delay is 50–100 % of the nominal one, which
 * keeps the nodes of a cluster from retrying a recovering broker in lockstep.
 */
export const brokerBackoff = (minMs: number, maxMs: number): Backoff => backoff({ minMs, maxMs, jitter: 0.5 })

/** One run of {@link brokerBackoff} retries. */
export const brokerRetries = (minMs: number, maxMs: number): Retries => retries(brokerBackoff(minMs, maxMs))

/** How long a client waits before it retries a request (`clientOptions().retryDelay`). */
export const CLIENT_RETRY_DELAY_MS = 250

/**
 * Options every baton Kafka client shares, the one place where SASL and TLS enter. Retries inside the
 * client are few and short: baton's own loops retry with backoff and report what is down, which a client
 * stuck in its retries cannot do.
 */
export function clientOptions(
  clientId: string,
  brokers: readonly string[],
  security?: KafkaSecurity,
): BaseOptions {
  return {
    ...securityOptions(security),
    clientId,
    bootstrapBrokers: [...brokers],
    connectTimeout: 3_000,
    requestTimeout: 15_000,
    timeout: 10_000,
    retries: 2,
    retryDelay: CLIENT_RETRY_DELAY_MS,
    metadataMaxAge: 30_000,
  }
}

/** `host:port` strings as the client's Broker records. */
export function parseBrokers(brokers: readonly string[]): Broker[] {
  return brokers.map((entry) => {
    const at = entry.lastIndexOf(':')
    const port = Number(entry.slice(at + 1))
    if (at <= 0 || !Number.isInteger(port) || port <= 0) {
      throw new BatonError(
        'CONFIG_INVALID',
        `KAFKA_BROKERS: '${entry}' is not host:port. Give a comma-separated list such as 127.0.0.1:9092.`,
      )
    }
    return { host: entry.slice(0, at), port }
  })
}

/**
 * The error to throw when no broker answers at all, naming the brokers and what the client saw:
 * SERVICE_AUTH_FAILED (SASL refused), SERVICE_TLS_FAILED (the brokers' certificate) or SERVICE_UNREACHABLE.
 */
export function unreachable(brokers: readonly string[], doing: string, cause: unknown): BatonError {
  return connectionError(`Kafka`, `${brokers.join(',')} (while ${doing})`, cause, describeKafkaError(cause), {
    authentication:
      'Check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD against the SCRAM user on the ' +
      'brokers; a broker that closes the connection during the handshake may also want TLS (KAFKA_TLS=true).',
    certificate:
      "Set KAFKA_TLS_CA to the PEM file of the CA that signed the brokers' certificates, and check that " +
      'the certificates name the hosts in KAFKA_BROKERS.',
    unreachable: 'Check KAFKA_BROKERS and that the brokers are up (locally: baton services up).',
  })
}
