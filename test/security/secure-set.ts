import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTestCertificates } from '../../deploy/local/certificates.ts'
import {
  type SecureServiceEnv,
  type ServiceEnv,
  servicesDown,
  servicesUp,
} from '../../deploy/local/services.ts'

/** The API tokens of the secure tests' nodes, one per role. */
export const tokens = {
  BATON_API_TOKEN: 'admin-7c1e4f0a9b2d8e3f6a5c',
  BATON_INGEST_TOKEN: 'ingest-2b9d7f1e4a6c3e8d0f5b',
  BATON_READ_TOKEN: 'read-5e3a8c1f7d2b9e4a6c0f',
} as const

export interface SecureSet {
  /** Every env line of the set: URLs with passwords, SASL user, CA files, the migration role. */
  readonly env: ServiceEnv & SecureServiceEnv
  /**
   * The env of a node over the set, with tokens and BATON_INSECURE unset (a node as in production), and
   * debug logs (the most a node prints, for the search for secrets).
   */
  readonly nodeEnv: Record<string, string>
  /** The PEM file of a CA that signed nothing the set serves. */
  readonly wrongCa: string
  /** Every secret of the set and of the node: passwords (raw and URL-decoded) and tokens. */
  readonly secrets: string[]
  down(): Promise<void>
}

/**
 * A private secure set of Kafka, PostgreSQL and Redis (`servicesUp({ secure: true })`) in a temporary
 * folder, with the node env that uses it. `down` stops it and deletes the folder.
 */
export async function upSecureSet(): Promise<SecureSet> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-secure-'))
  const down = async () => {
    await servicesDown({ dir })
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    const { env } = await servicesUp({ dir, secure: true })
    const full = env as ServiceEnv & SecureServiceEnv
    const passwords = [full.DATABASE_URL, full.DATABASE_MIGRATION_URL, full.REDIS_URL].map(
      (url) => new URL(url).password,
    )
    return {
      env: full,
      nodeEnv: { ...full, ...tokens, BATON_INSECURE: '', BATON_LOG_LEVEL: 'debug' },
      wrongCa: createTestCertificates(join(dir, 'wrong-ca')).ca,
      secrets: [
        ...passwords,
        ...passwords.map(decodeURIComponent),
        full.KAFKA_SASL_PASSWORD,
        ...Object.values(tokens),
      ],
      down,
    }
  } catch (err) {
    await down()
    throw err
  }
}

/** `text` with the URL's password replaced, as a wrong-password test gives it. */
export function withPassword(url: string, password: string): string {
  const u = new URL(url)
  u.password = password
  return u.toString()
}

/** The secrets that occur in `text` (none, one hopes). */
export function leaked(text: string, secrets: readonly string[]): string[] {
  return secrets.filter((secret) => text.includes(secret))
}
