/** The SCRAM users of a secure broker: baton's, and the broker's own for its inter-broker connections. */
export const secureKafkaUsers = { baton: 'baton', broker: 'broker' } as const

/**
 * server.properties lines appended for a secure broker (a later key wins): its one client listener is
 * SASL_SSL with SCRAM-SHA-512, also between brokers; the certificate comes from a PEM keystore (private
 * key and certificate in one file). The controller listener stays PLAINTEXT on loopback: only the
 * broker itself talks to it.
 */
export function secureKafkaProperties(opts: {
  brokerPort: number
  controllerPort: number
  keystore: string
  ca: string
  brokerPassword: string
}): string {
  return `${[
    `listeners=SECURE://127.0.0.1:${opts.brokerPort},CONTROLLER://127.0.0.1:${opts.controllerPort}`,
    `advertised.listeners=SECURE://127.0.0.1:${opts.brokerPort}`,
    'listener.security.protocol.map=SECURE:SASL_SSL,CONTROLLER:PLAINTEXT',
    'inter.broker.listener.name=SECURE',
    'sasl.enabled.mechanisms=SCRAM-SHA-512',
    'sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512',
    `listener.name.secure.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${secureKafkaUsers.broker}" password="${opts.brokerPassword}";`,
    'ssl.keystore.type=PEM',
    `ssl.keystore.location=${opts.keystore}`,
    'ssl.truststore.type=PEM',
    `ssl.truststore.location=${opts.ca}`,
  ].join('\n')}\n`
}

/** Arguments of `kafka-storage format` that create SCRAM-SHA-512 users with the cluster (KRaft). */
export function scramUserArgs(users: readonly { name: string; password: string }[]): string[] {
  return users.flatMap((u) => ['--add-scram', `SCRAM-SHA-512=[name=${u.name},password=${u.password}]`])
}
