import { PrerequisiteMissing } from './prerequisites.ts'

/** Installs Debian/Ubuntu packages, or throws saying why it could not. */
export type Installer = (packages: readonly string[]) => void

/**
 * Runs the `checks` (the services' `checkPrerequisites`); when programs are missing and `installer` is
 * given, installs their packages in one go, saying what and why on `progress` (as `.ci/run` does), and
 * checks again. Without an installer, or when a program is still missing afterwards, the first check's
 * PREREQUISITE_MISSING error stands: it names the program and the apt-get line that installs it.
 */
export function ensurePrerequisites(
  checks: readonly (() => void)[],
  progress: (line: string) => void,
  installer: Installer | null = aptInstaller(),
): void {
  const missing = failing(checks)
  if (missing.length === 0) return
  if (!installer) throw missing[0]
  const packages = [...new Set(missing.map((m) => m.aptPackage))]
  progress(
    `installing ${packages.join(' ')} with apt-get: ${missing.map((m) => m.what).join(', ')} missing, and this process runs as root`,
  )
  installer(packages)
  const still = failing(checks)
  if (still.length > 0) throw still[0]
}

function failing(checks: readonly (() => void)[]): PrerequisiteMissing[] {
  const missing: PrerequisiteMissing[] = []
  for (const check of checks) {
    try {
      check()
    } catch (err) {
      if (!(err instanceof PrerequisiteMissing)) throw err
      missing.push(err)
    }
  }
  return missing
}

/**
 * apt-get, when this process may use it: as root, with apt-get on PATH. Otherwise null, and a missing
 * program stops `services up` with its install line instead. apt-get's own output goes to stderr (stdout
 * carries only the env lines of `baton services up`).
 */
export function aptInstaller(): Installer | null {
  const aptGet = Bun.which('apt-get', { PATH: process.env.PATH ?? '' })
  if (process.getuid?.() !== 0 || !aptGet) return null
  return (packages) => {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
    for (const args of [['update'], ['install', '-y', '--no-install-recommends', ...packages]]) {
      const run = Bun.spawnSync([aptGet, ...args], { env, stdout: 'pipe', stderr: 'pipe' })
      process.stderr.write(run.stdout)
      process.stderr.write(run.stderr)
      if (run.exitCode !== 0) {
        throw new PrerequisiteMissing(
          packages.join(', '),
          packages.join(' '),
          `could not be installed (apt-get ${args[0]} exited ${run.exitCode}: ${run.stderr.toString().trim().split('\n').at(-1) ?? ''})`,
        )
      }
    }
  }
}
