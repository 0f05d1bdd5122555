import { randomBytes } from 'node:crypto'

/** A password for a secure service's user: hex only, so it needs no escaping in a URL or a config file. */
export function generatedPassword(): string {
  return randomBytes(18).toString('hex')
}
