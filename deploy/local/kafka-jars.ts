import { join } from 'node:path'
import { ensureMavenJars, type MavenJars, mavenJarsCached, pomProperty } from './maven-jars.ts'
import { cacheDir, localDeployDir } from './paths.ts'

const pomFile = join(localDeployDir, 'pom.xml')

/** The Kafka version pinned by deploy/local/pom.xml. */
export function kafkaVersion(): string {
  return pomProperty(pomFile, 'kafka.version')
}

function kafkaJars(): MavenJars {
  const version = kafkaVersion()
  return { pomFile, dir: join(cacheDir(), `kafka-${version}`), what: `the Kafka ${version} jars` }
}

/** True when the jars for the pinned pom are already in the cache (then `mvn` is not needed). */
export function kafkaJarsCached(): boolean {
  return mavenJarsCached(kafkaJars())
}

/**
 * The folder of the Kafka broker's and tools' jars, `${XDG_CACHE_HOME:-~/.cache}/baton/kafka-<version>/`
 * (Kafka Connect's runtime among them, as in the distribution's libs/). The first call resolves them
 * from Maven Central with the pinned pom; later calls download nothing.
 */
export function ensureKafkaJars(onProgress: (line: string) => void): Promise<string> {
  return ensureMavenJars(kafkaJars(), (line) => onProgress(`kafka: ${line}`))
}
