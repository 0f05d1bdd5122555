import { readFileSync } from 'node:fs'
import type { BaseOptions } from '@platformatic/kafka'

/** How baton authenticates to the brokers and encrypts the connection; the same for every client. */
export interface KafkaSecurity {
  /** SASL (KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD); unset: none. */
  readonly sasl?: {
    readonly mechanism: 'SCRAM-SHA-512' | 'SCRAM-SHA-256' | 'PLAIN'
    readonly username: string
    readonly password: string
  }
  /** TLS (KAFKA_TLS, KAFKA_TLS_CA): `ca` is PEM text; unset: the system's CAs. Unset `tls`: plaintext. */
  readonly tls?: { readonly ca?: string }
}

/**
 * The security of KAFKA_* settings as the clients take it; the CA file is read here, once.
 *
 * @example kafkaSecurity(config.kafkaSasl, config.kafkaTls)
 */
export function kafkaSecurity(
  sasl: KafkaSecurity['sasl'] | undefined,
  tls: { readonly ca: string | undefined } | undefined,
): KafkaSecurity {
  return {
    ...(sasl ? { sasl } : {}),
    ...(tls ? { tls: tls.ca ? { ca: readFileSync(tls.ca, 'utf8') } : {} } : {}),
  }
}

/**
 * The `sasl` and `tls` options of @platformatic/kafka. The server's certificate is always verified (against
 * `ca` when given), including that it names the broker's host: a broker that cannot prove who it is must
 * not receive the SASL password.
 */
export function securityOptions(security: KafkaSecurity | undefined): Pick<BaseOptions, 'sasl' | 'tls'> {
  return {
    ...(security?.sasl ? { sasl: { ...security.sasl } } : {}),
    ...(security?.tls
      ? { tls: { rejectUnauthorized: true, ...(security.tls.ca ? { ca: security.tls.ca } : {}) } }
      : {}),
  }
}

type KafkaVariable =
  | 'KAFKA_SASL_MECHANISM'
  | 'KAFKA_SASL_USERNAME'
  | 'KAFKA_SASL_PASSWORD'
  | 'KAFKA_TLS'
  | 'KAFKA_TLS_CA'

/**
 * The security that KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD, KAFKA_TLS and
 * KAFKA_TLS_CA describe, for tools that read the environment as it is (`baton produce --kafka`, the local
 * services, tests). A node takes the same from its validated config instead.
 */
export function kafkaSecurityFromEnv(
  environment: Readonly<Record<string, string | undefined>> | Partial<Record<KafkaVariable, string>>,
): KafkaSecurity {
  const env = environment as Partial<Record<KafkaVariable, string>>
  const {
    KAFKA_SASL_MECHANISM: mechanism,
    KAFKA_SASL_USERNAME: username,
    KAFKA_SASL_PASSWORD: password,
  } = env
  const sasl =
    mechanism && username && password
      ? { mechanism: mechanism as NonNullable<KafkaSecurity['sasl']>['mechanism'], username, password }
      : undefined
  const tls = env.KAFKA_TLS === 'true' || env.KAFKA_TLS_CA ? { ca: env.KAFKA_TLS_CA || undefined } : undefined
  return kafkaSecurity(sasl, tls)
}
