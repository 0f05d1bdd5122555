import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BatonError } from '../../actors/core/errors.ts'
import { requireOpenssl } from './prerequisites.ts'

/** PEM files of a test CA and of a server certificate it signed. */
export interface TlsFiles {
  /** The CA's certificate: what clients trust (KAFKA_TLS_CA, REDIS_TLS_CA, sslrootcert). */
  readonly ca: string
  /** The server's certificate, for 127.0.0.1 and localhost. */
  readonly cert: string
  /** The server's private key, PKCS#8 without a password (as Kafka's PEM keystore takes it). */
  readonly key: string
}

const DAYS = '30'

/**
 * A self-signed CA and a server certificate for `IP:127.0.0.1` and `DNS:localhost` in `dir`, made with
 * `openssl` for the secure local services (`baton services up --secure`). Files already there are kept,
 * so a restarted set keeps its CA; a test that wants a CA the services do not trust makes one in a
 * folder of its own.
 *
 * @example const tls = createTestCertificates(join(dir, 'tls')) // { ca, cert, key }
 */
export function createTestCertificates(dir: string): TlsFiles {
  const files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server.key') }
  if (Object.values(files).every((file) => existsSync(file))) return files
  const openssl = requireOpenssl()
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const caKey = join(dir, 'ca.key')
  const csr = join(dir, 'server.csr')
  const extensions = join(dir, 'server.ext')
  writeFileSync(
    extensions,
    [
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      '',
    ].join('\n'),
  )
  const run = (args: string[]) => {
    const result = Bun.spawnSync([openssl, ...args], { stdout: 'pipe', stderr: 'pipe' })
    if (result.exitCode !== 0) {
      throw new BatonError(
        'SERVICE_START_FAILED',
        `openssl ${args[0]} failed making the test certificates in ${dir}: ${result.stderr.toString().trim()}`,
      )
    }
  }
  run([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    caKey,
    '-out',
    files.ca,
    '-days',
    DAYS,
    '-subj',
    '/CN=baton test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ])
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', files.key, '-out', csr, '-subj', '/CN=localhost'])
  run([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    files.ca,
    '-CAkey',
    caKey,
    '-CAcreateserial',
    '-out',
    files.cert,
    '-days',
    DAYS,
    '-extfile',
    extensions,
  ])
  return files
}
