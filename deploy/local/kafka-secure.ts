import type { Acl } from '@platformatic/kafka'
import { AclOperations, AclPermissionTypes, ResourcePatternTypes, ResourceTypes } from '@platformatic/kafka'
import { deadLetterTransactionalIdPrefix } from '../../actors/kafka/dead-letter-publisher.ts'

/**
 * The SCRAM users of a secure broker: baton's, and the broker's own for its inter-broker connections
 * (a super user, which also sets up baton's ACLs).
 */
export const secureKafkaUsers = { baton: 'baton', broker: 'broker' } as const

type Operation = keyof typeof AclOperations

/**
 * What baton's user may do on a secure broker, and nothing more: the rights the README's Security section
 * lists, on every topic and group (names differ from test to test) and on baton's transactional ids.
 */
export const batonKafkaRights: readonly {
  resource: 'TOPIC' | 'GROUP' | 'TRANSACTIONAL_ID'
  name: string
  pattern: 'LITERAL' | 'PREFIXED'
  operations: readonly Operation[]
}[] = [
  { resource: 'TOPIC', name: '*', pattern: 'LITERAL', operations: ['READ', 'WRITE', 'DESCRIBE', 'CREATE'] },
  { resource: 'GROUP', name: '*', pattern: 'LITERAL', operations: ['READ'] },
  {
    resource: 'TRANSACTIONAL_ID',
    name: deadLetterTransactionalIdPrefix,
    pattern: 'PREFIXED',
    operations: ['WRITE', 'DESCRIBE'],
  },
]

/** `batonKafkaRights` as the ACL entries of `user`. */
export function batonKafkaAcls(user: string): Acl[] {
  return batonKafkaRights.flatMap((right) =>
    right.operations.map((operation) => ({
      resourceType: ResourceTypes[right.resource],
      resourceName: right.name,
      resourcePatternType: ResourcePatternTypes[right.pattern],
      principal: `User:${user}`,
      host: '*',
      operation: AclOperations[operation],
      permissionType: AclPermissionTypes.ALLOW,
    })),
  )
}

/**
 * server.properties lines appended for a secure broker (a later key wins): its one client listener is
 * SASL_SSL with SCRAM-SHA-512, also between brokers; the certificate comes from a PEM keystore (private
 * key and certificate in one file). The controller listener stays PLAINTEXT on loopback: only the
 * broker itself talks to it, as ANONYMOUS, which is therefore a super user like the broker's SCRAM user.
 * ACLs are enforced: a user without one may do nothing (see `batonKafkaRights`).
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
    'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    `super.users=User:${secureKafkaUsers.broker};User:ANONYMOUS`,
  ].join('\n')}\n`
}

/** Arguments of `kafka-storage format` that create SCRAM-SHA-512 users with the cluster (KRaft). */
export function scramUserArgs(users: readonly { name: string; password: string }[]): string[] {
  return users.flatMap((u) => ['--add-scram', `SCRAM-SHA-512=[name=${u.name},password=${u.password}]`])
}
