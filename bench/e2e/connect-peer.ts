import { join, resolve } from 'node:path'
import { errorMessage, isBatonError } from '../../actors/core/errors.ts'
import { ensureKafkaJars, kafkaJarsCached, kafkaVersion } from '../../deploy/local/kafka-jars.ts'
import {
  ensureMavenJars,
  type MavenJars,
  mavenJarsCached,
  pomProperty,
} from '../../deploy/local/maven-jars.ts'
import { cacheDir } from '../../deploy/local/paths.ts'
import { requireJava, requireMaven } from '../../deploy/local/prerequisites.ts'
import { connectTuning } from './connect-config.ts'

/** The pom of the `connect` peer's connector: bench/peers/connect/pom.xml. */
export const connectPeerPom = resolve(import.meta.dir, '../peers/connect/pom.xml')

/** What the `connect` peer runs: Kafka Connect (the broker's Kafka) and Debezium's JDBC sink. */
export function connectPeerVersions(): { kafkaConnect: string; debeziumJdbc: string } {
  return { kafkaConnect: kafkaVersion(), debeziumJdbc: pomProperty(connectPeerPom, 'debezium.version') }
}

function connectorJars(): MavenJars {
  const version = connectPeerVersions().debeziumJdbc
  return {
    pomFile: connectPeerPom,
    dir: join(cacheDir(), `debezium-connector-jdbc-${version}`),
    what: `Debezium's JDBC sink connector ${version} and its dependencies`,
  }
}

/** What connect-run.ts needs besides the run's config: the JVM and the two folders of jars. */
export interface ConnectSetup {
  readonly java: string
  /** The worker's classpath: the Kafka jars (connect-runtime among them). */
  readonly kafkaJars: string
  /** The connector's jars, loaded as a Connect plugin. */
  readonly connectorJars: string
}

/** The `connect` peer ready to run, with its JVM's version line, or why this machine cannot run it. */
export type ConnectPeerBuild =
  | { readonly setup: ConnectSetup; readonly jvm: string }
  | { readonly skipped: string }

/**
 * Finds Java and resolves the jars into the user's cache (with Maven, the first time only): the Kafka
 * jars the local broker runs from, and the connector's, from bench/peers/connect/pom.xml. Without Java
 * 17+, or without Maven while a jar folder is missing, it says why instead: the benchmark then runs
 * without this peer.
 */
export async function prepareConnectPeer(progress: (line: string) => void): Promise<ConnectPeerBuild> {
  try {
    const java = requireJava()
    const connector = connectorJars()
    if (!kafkaJarsCached() || !mavenJarsCached(connector)) requireMaven()
    const kafkaJars = await ensureKafkaJars((line) => progress(`peer connect: ${line}`))
    const connectorDir = await ensureMavenJars(connector, (line) => progress(`peer connect: ${line}`))
    // `openjdk version "17.0.15" 2025-04-15` -> `openjdk 17.0.15`
    const jvm = /^(\S+) version "([^"]+)"/m.exec(java.version)?.slice(1).join(' ') ?? java.version.trim()
    return { setup: { java: java.path, kafkaJars, connectorJars: connectorDir }, jvm }
  } catch (err) {
    if (isBatonError(err, 'PREREQUISITE_MISSING')) return { skipped: errorMessage(err) }
    return { skipped: `its jars could not be resolved: ${errorMessage(err)}` }
  }
}

/** The peer's versions and tuning, as bench/results/e2e.json shows them. */
export interface ConnectPeerSettingsShown {
  readonly kafkaConnect: string
  readonly debeziumJdbc: string
  /** `java -version`'s first words, when Java was found. */
  readonly jvm?: string
  readonly worker: 'standalone'
  readonly insertMode: 'upsert'
  readonly primaryKey: string
  readonly tasks: number
  readonly batchSize: number
}

export function connectPeerSettings(build: ConnectPeerBuild): ConnectPeerSettingsShown {
  return {
    ...connectPeerVersions(),
    ...('jvm' in build && { jvm: build.jvm }),
    worker: 'standalone',
    insertMode: 'upsert',
    primaryKey: 'topic, partition, offset',
    tasks: connectTuning.tasks,
    batchSize: connectTuning.batchSize,
  }
}

/** The command of the `connect` peer, to which the benchmark appends the run's config (peers.ts). */
export function connectPeerCommand(setup: ConnectSetup): string[] {
  return [process.execPath, join(import.meta.dir, 'connect-run.ts'), JSON.stringify(setup)]
}
