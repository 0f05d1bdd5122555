import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { BatonError } from '../../actors/core/errors.ts'
import { requireMaven } from './prerequisites.ts'
import { runToCompletion } from './processes.ts'

/** A pom whose runtime dependencies are copied, once, into a folder of the user's cache. */
export interface MavenJars {
  /** The pom.xml that pins the jars; nothing in it is built or packaged. */
  readonly pomFile: string
  /** The folder the jars go to, e.g. `${XDG_CACHE_HOME:-~/.cache}/baton/kafka-4.1.1`. */
  readonly dir: string
  /** What the jars are, for the progress line ("the Kafka 4.1.1 jars"). */
  readonly what: string
}

/** A `<name>` property of the pom (e.g. `kafka.version`), which a caller names its cache folder by. */
export function pomProperty(pomFile: string, name: string): string {
  const escaped = name.replaceAll('.', '\\.')
  const value = new RegExp(`<${escaped}>([^<]+)</${escaped}>`).exec(readFileSync(pomFile, 'utf8'))?.[1]
  if (!value) throw new BatonError('CONFIG_INVALID', `${pomFile} has no <${name}> property; restore it.`)
  return value
}

// The marker holds the pom's digest, so editing the pom (another log4j, say) resolves the jars again.
const markerFile = (dir: string) => `${dir}/.complete`

const pomDigest = (pomFile: string) => createHash('sha256').update(readFileSync(pomFile)).digest('hex')

/** True when the jars of the pom as it is now are in the cache (then `mvn` is not needed). */
export function mavenJarsCached(jars: MavenJars): boolean {
  const marker = markerFile(jars.dir)
  return existsSync(marker) && readFileSync(marker, 'utf8').trim() === pomDigest(jars.pomFile)
}

/**
 * The folder of the pom's runtime jars: the first call resolves them from Maven Central with
 * `mvn dependency:copy-dependencies` (its output goes to `<dir>.mvn.log`); later calls download nothing.
 */
export async function ensureMavenJars(jars: MavenJars, onProgress: (line: string) => void): Promise<string> {
  const { dir, pomFile } = jars
  if (mavenJarsCached(jars)) return dir
  const mvn = requireMaven()
  onProgress(`resolving ${jars.what} from Maven Central into ${dir} (only once)`)
  // Resolve into a scratch folder and rename it, so an interrupted download is never taken for a cache.
  const scratch = `${dir}.${process.pid}.tmp`
  rmSync(scratch, { recursive: true, force: true })
  mkdirSync(scratch, { recursive: true })
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
      logFile: `${dir}.mvn.log`,
    },
    'mvn dependency:copy-dependencies',
  )
  writeFileSync(markerFile(scratch), `${pomDigest(pomFile)}\n`)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dirname(dir), { recursive: true })
  renameSync(scratch, dir)
  return dir
}
