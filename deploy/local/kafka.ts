import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Admin } from '@platformatic/kafka'
import { kafkaSecurityFromEnv, securityOptions } from '../../actors/kafka/kafka-security.ts'
import type { TlsFiles } from './certificates.ts'
import { type CdsContext, cdsFlags, keepCdsArchive } from './kafka-cds.ts'
import { ensureKafkaJars, kafkaJarsCached } from './kafka-jars.ts'
import { batonKafkaAcls, scramUserArgs, secureKafkaProperties, secureKafkaUsers } from './kafka-secure.ts'
import { generatedPassword } from './passwords.ts'
import { localDeployDir } from './paths.ts'
import { freeLoopbackPort } from './ports.ts'
import { requireJava, requireMaven } from './prerequisites.ts'
import { launchDetached, runToCompletion } from './processes.ts'
import { withTimeout } from './readiness.ts'
import type { ServiceDriver, ServiceRecord } from './types.ts'

const log4jFlag = `-Dlog4j2.configurationFile=${join(localDeployDir, 'log4j2.properties')}`

// A small starting heap: the machine is shared with PostgreSQL, Redis and the tests. The ceiling is 1 GiB
// because a broker holding 4,096 partitions (bench scale, plus its dead-letter topic) ran out of 512 MiB.
// Serial GC starts fastest and suits one small heap; the JIT keeps its top tier so benchmarks do not
// measure an interpreter.
const jvmFlags = [
  '-Xms128m',
  '-Xmx1g',
  '-XX:+UseSerialGC',
  '-XX:+ExitOnOutOfMemoryError',
  '-Djava.awt.headless=true',
  log4jFlag,
]

// The storage tool runs for a moment: the quickest JIT start matters more than anything else.
const toolFlags = ['-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', log4jFlag]

/**
 * A new KRaft cluster id, the way Kafka's `Uuid.randomUuid` makes one: 16 random bytes in unpadded
 * base64url, never starting with '-' (the tools would read it as an option).
 */
export function kafkaClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url')
    if (!id.startsWith('-')) return id
  }
}

/** server.properties of a single combined broker+controller on loopback, tuned for tests. */
export function serverProperties(opts: {
  brokerPort: number
  controllerPort: number
  logDir: string
}): string {
  return `${[
    'process.roles=broker,controller',
    'node.id=1',
    `listeners=PLAINTEXT://127.0.0.1:${opts.brokerPort},CONTROLLER://127.0.0.1:${opts.controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${opts.brokerPort}`,
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'inter.broker.listener.name=PLAINTEXT',
    'controller.listener.names=CONTROLLER',
    `controller.quorum.bootstrap.servers=127.0.0.1:${opts.controllerPort}`,
    `log.dirs=${opts.logDir}`,
    // Production clusters usually forbid it, and a typo should fail a test rather than make a topic.
    'auto.create.topics.enable=false',
    // One node: every replicated internal topic has one replica.
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    // Fewer internal partitions load faster; no delay before the first rebalance of a new group.
    'offsets.topic.num.partitions=4',
    'transaction.state.log.num.partitions=4',
    'group.initial.rebalance.delay.ms=0',
    // Both group protocols (KIP-848 "consumer" and "classic"), with failure detection in seconds so
    // tests that kill a member do not wait the production 45 s.
    'group.coordinator.rebalance.protocols=classic,consumer,streams',
    'group.min.session.timeout.ms=2000',
    'group.consumer.min.session.timeout.ms=2000',
    'group.consumer.session.timeout.ms=10000',
    'group.consumer.min.heartbeat.interval.ms=500',
    'group.consumer.heartbeat.interval.ms=1000',
    // After a kill -9 the restarted node may register only once its old session expired (default 9 s).
    'broker.session.timeout.ms=2000',
    'broker.heartbeat.interval.ms=500',
    // A deleted partition keeps its files open until they go, 60 s later by default: back-to-back
    // `bench scale` runs of 4,096 partitions (8,192 with their dead-letter topics) ran the broker out of
    // its 20,000 open files ("Too many open files", then NOT_LEADER_OR_FOLLOWER for every produce), and
    // a minute later the broker deleted them in the middle of the next measurement. (The topic-level
    // name, file.delete.delay.ms, is no broker setting: the broker ignored it and kept the 60 s.)
    'log.segment.delete.delay.ms=1000',
  ].join('\n')}\n`
}

async function cdsContext(record: ServiceRecord): Promise<CdsContext> {
  return { java: requireJava(), jvmFlags, jars: await ensureKafkaJars(() => {}), home: record.home }
}

function classpath(jars: string): string {
  return `${jars}/*`
}

/** A secure broker's keystore, its properties, its SCRAM users (made at format) and baton's env lines. */
function secureSetup(home: string, tls: TlsFiles, brokerPort: number, controllerPort: number) {
  const keystore = join(home, 'keystore.pem')
  writeFileSync(keystore, readFileSync(tls.key, 'utf8') + readFileSync(tls.cert, 'utf8'), { mode: 0o600 })
  const brokerPassword = generatedPassword()
  const batonPassword = generatedPassword()
  return {
    superUser: { name: secureKafkaUsers.broker, password: brokerPassword },
    properties: secureKafkaProperties({ brokerPort, controllerPort, keystore, ca: tls.ca, brokerPassword }),
    formatArgs: scramUserArgs([
      { name: secureKafkaUsers.broker, password: brokerPassword },
      { name: secureKafkaUsers.baton, password: batonPassword },
    ]),
    env: {
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      KAFKA_SASL_USERNAME: secureKafkaUsers.baton,
      KAFKA_SASL_PASSWORD: batonPassword,
      KAFKA_TLS_CA: tls.ca,
    },
  }
}

/** Apache Kafka in KRaft mode, from the jars the pinned pom resolves. */
export const kafkaService: ServiceDriver = {
  name: 'kafka',

  checkPrerequisites() {
    requireJava()
    if (!kafkaJarsCached()) requireMaven()
  },

  async create(home, owner, onProgress, tls) {
    const jars = await ensureKafkaJars(onProgress)
    const brokerPort = await freeLoopbackPort()
    const controllerPort = await freeLoopbackPort()
    const dataDir = join(home, 'data')
    mkdirSync(dataDir, { recursive: true })
    const config = join(home, 'server.properties')
    const secure = tls ? secureSetup(home, tls, brokerPort, controllerPort) : null
    writeFileSync(
      config,
      serverProperties({ brokerPort, controllerPort, logDir: dataDir }) + (secure?.properties ?? ''),
      { mode: 0o600 },
    )
    const logFile = join(home, 'kafka.log')
    await runToCompletion(
      {
        command: requireJava().path,
        args: [
          ...toolFlags,
          '-cp',
          classpath(jars),
          'kafka.tools.StorageTool',
          'format',
          '--standalone',
          '--cluster-id',
          kafkaClusterId(),
          '--config',
          config,
          ...(secure?.formatArgs ?? []),
        ],
        logFile,
      },
      'formatting the Kafka storage',
    )
    return {
      name: 'kafka',
      pid: null,
      pidIdentity: null,
      ports: [brokerPort, controllerPort],
      home,
      dataDir,
      logFile,
      url: `127.0.0.1:${brokerPort}`,
      ...(secure ? { secureEnv: secure.env, superUser: secure.superUser } : {}),
      owner,
      startedAt: new Date().toISOString(),
    } satisfies ServiceRecord
  },

  async launch(record) {
    const cds = await cdsContext(record)
    return launchDetached({
      command: cds.java.path,
      args: [
        ...jvmFlags,
        ...cdsFlags(cds),
        '-cp',
        classpath(cds.jars),
        'kafka.Kafka',
        join(record.home, 'server.properties'),
      ],
      logFile: record.logFile,
      cwd: record.home,
    })
  },

  async afterFirstStart(record) {
    const { superUser, secureEnv } = record
    if (!superUser || !secureEnv) return
    const env = { ...secureEnv, KAFKA_SASL_USERNAME: superUser.name, KAFKA_SASL_PASSWORD: superUser.password }
    const admin = new Admin({
      ...securityOptions(kafkaSecurityFromEnv(env)),
      clientId: 'baton-services',
      bootstrapBrokers: [record.url],
    })
    try {
      await admin.createAcls({ creations: batonKafkaAcls(secureKafkaUsers.baton) })
    } finally {
      await admin.close().catch(() => {})
    }
  },

  async afterStop(record, exitedCleanly) {
    keepCdsArchive(await cdsContext(record), exitedCleanly)
  },

  async probe(url, timeoutMs, secureEnv) {
    const admin = new Admin({
      ...securityOptions(kafkaSecurityFromEnv(secureEnv ?? {})),
      clientId: 'baton-services',
      bootstrapBrokers: url.split(','),
      timeout: timeoutMs,
      retries: false,
    })
    try {
      // Metadata lists a broker only once it is registered and unfenced, so it is ready for clients.
      const metadata = await withTimeout(admin.metadata({ topics: [] }), timeoutMs, 'Kafka metadata request')
      if (metadata.brokers.size === 0) throw new Error('the cluster lists no broker yet')
    } finally {
      await admin.close().catch(() => {})
    }
  },

  signalFor(mode) {
    return mode === 'graceful' ? 'SIGTERM' : 'SIGKILL'
  },
}
