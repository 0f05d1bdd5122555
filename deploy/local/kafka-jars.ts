import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BatonError } from '../../actors/core/errors.ts'
import { cacheDir, localDeployDir } from './paths.ts'
import { requireMaven } from './prerequisites.ts'
import { runToCompletion } from './processes.ts'

const pomFile = join(localDeployDir, 'pom.xml')

function pom(): string {
  return readFileSync(pomFile, 'utf8')
}

/** The Kafka version pinned by deploy/local/pom.xml. */
export function kafkaVersion(): string {
  const version = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom())?.[1]
  if (!version)
    throw new BatonError('CONFIG_INVALID', `${pomFile} has no <kafka.version> property; restore it.`)
  return version
}

function jarsDir(): string {
  return join(cacheDir(), `kafka-${kafkaVersion()}`)
}

// The marker holds the pom's digest, so editing the pom (another log4j, say) resolves the jars again.
function markerFile(dir: string): string {
  return join(dir, '.complete')
}

function pomDigest(): string {
  return createHash('sha256').update(pom()).digest('hex')
}

/** True when the jars for the pinned pom are already in the cache (then `mvn` is not needed). */
export function kafkaJarsCached(): boolean {
  const marker = markerFile(jarsDir())
  return existsSync(marker) && readFileSync(marker, 'utf8').trim() === pomDigest()
}

/**
 * The folder of the Kafka broker's and tools' jars, `${XDG_CACHE_HOME:-~/.cache}/baton/kafka-<version>/`.
 * The first call resolves them from Maven Central with the pinned pom; later calls download nothing.
 */
export async function ensureKafkaJars(onProgress: (line: string) => void): Promise<string> {
  const dir = jarsDir()
  if (kafkaJarsCached()) return dir
  const mvn = requireMaven()
  onProgress(`kafka: resolving the Kafka ${kafkaVersion()} jars from Maven Central into ${dir} (only once)`)
  // Resolve into a scratch folder and rename it, so an interrupted download is never taken for a cache.
  const scratch = `${dir}.${process.pid}.tmp`
  rmSync(scratch, { recursive: true, force: true })
  mkdirSync(scratch, { recursive: true })
  const logFile = `${dir}.mvn.log`
  await runToCompletion(
    {
      command: mvn,
      args: [
        '-B',
        '-q',
        '-f',
        pomFile,
        'dependency:copy-dependencies',
        '-DincludeScope=runtime',
        `-DoutputDirectory=${scratch}`,
      ],
      logFile,
    },
    'mvn dependency:copy-dependencies',
  )
  writeFileSync(markerFile(scratch), `${pomDigest()}\n`)
  rmSync(dir, { recursive: true, force: true })
  renameSync(scratch, dir)
  return dir
}
