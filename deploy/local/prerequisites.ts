import { existsSync, readdirSync, realpathSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { BatonError } from '../../actors/core/errors.ts'

/** PREREQUISITE_MISSING, with the Debian/Ubuntu package that provides what is missing (install.ts). */
export class PrerequisiteMissing extends BatonError {
  constructor(
    readonly what: string,
    readonly aptPackage: string,
    detail: string,
  ) {
    super(
      'PREREQUISITE_MISSING',
      `${what} ${detail}; baton services needs it. Install it (Debian/Ubuntu, as root): apt-get install -y ${aptPackage}`,
    )
  }
}

function missing(what: string, aptPackage: string, detail = 'was not found'): PrerequisiteMissing {
  return new PrerequisiteMissing(what, aptPackage, detail)
}

// Bun.which alone reads the PATH the process started with; this honours later changes too.
function which(command: string): string | null {
  return Bun.which(command, { PATH: process.env.PATH ?? '' })
}

/** The major version in the first line of `java -version` ("1.8.0_392" is 8, "17.0.15" is 17). */
export function parseJavaMajor(versionOutput: string): number | null {
  const match = /version "(\d+)(?:\.(\d+))?/.exec(versionOutput)
  if (!match?.[1]) return null
  const first = Number(match[1])
  return first === 1 && match[2] ? Number(match[2]) : first
}

/** A Java runtime: its executable and what `java -version` says (which tells builds apart). */
export interface JavaRuntime {
  path: string
  version: string
}

const versions = new Map<string, string>()

/** The `java` executable, which must be Java 17 or newer (Kafka 4 refuses older ones). */
export function requireJava(): JavaRuntime {
  const java = which('java')
  if (!java) throw missing('Java 17+ (java)', 'openjdk-17-jre-headless')
  let version = versions.get(java)
  if (version === undefined) {
    const run = Bun.spawnSync([java, '-version'], { stdout: 'pipe', stderr: 'pipe' })
    version = `${run.stderr.toString()}${run.stdout.toString()}`
    versions.set(java, version)
  }
  const major = parseJavaMajor(version)
  if (major === null || major < 17) {
    throw missing('Java 17+ (java)', 'openjdk-17-jre-headless', `is version ${major ?? 'unknown'} at ${java}`)
  }
  return { path: java, version }
}

/** The `mvn` executable; needed only while the Kafka jars are not cached yet. */
export function requireMaven(): string {
  const mvn = which('mvn')
  if (!mvn) throw missing('Apache Maven (mvn)', 'maven')
  return mvn
}

/**
 * The folder holding PostgreSQL's `initdb` and `postgres`: from PATH when there, else the newest
 * /usr/lib/postgresql/<version>/bin, where Debian keeps them off PATH.
 */
export function requirePostgresBin(): string {
  const onPath = which('initdb')
  // Through symlinks: postgres finds its share/ and lib/ folders next to its real location.
  const binOnPath = onPath ? dirname(realpathSync(onPath)) : null
  if (binOnPath && existsSync(join(binOnPath, 'postgres'))) return binOnPath
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
    : []
  for (const version of versions) {
    const bin = join(root, version, 'bin')
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'postgres'))) return bin
  }
  throw missing('The PostgreSQL server (initdb, postgres)', 'postgresql')
}

/** The `redis-server` executable. */
export function requireRedisServer(): string {
  const redis = which('redis-server')
  if (!redis) throw missing('Redis (redis-server)', 'redis-server')
  return redis
}

/** The `prometheus` server (Debian package `prometheus`), for tests that run rules against real nodes. */
export function requirePrometheus(): string {
  const prometheus = which('prometheus')
  if (!prometheus) throw missing('Prometheus (prometheus)', 'prometheus')
  return prometheus
}

/** `promtool`, which the tests use to check the metrics, the dashboard's queries and the alert rules. */
export function requirePromtool(): string {
  const promtool = which('promtool')
  if (!promtool) throw missing('promtool', 'prometheus')
  return promtool
}

/** The `openssl` executable, which makes the certificates of the secure services (`up --secure`). */
export function requireOpenssl(): string {
  const openssl = which('openssl')
  if (!openssl) throw missing('OpenSSL (openssl)', 'openssl')
  return openssl
}
