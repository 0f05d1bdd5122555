import { redisAclRules } from '../../actors/redis/acl.ts'
import type { TlsFiles } from './certificates.ts'

/** The ACL user baton connects as in a secure set. */
export const secureRedisUser = 'baton'

/**
 * redis.conf lines that make a server secure, appended after the plain ones (a later directive wins):
 * TLS only (`port 0` closes the plaintext port), and no `default` user: the one user is baton's, with
 * exactly the ACL that README (Security) documents, so the tests prove baton runs under it.
 */
export function secureRedisConfig(opts: { port: number; tls: TlsFiles; password: string }): string {
  return `${[
    'port 0',
    `tls-port ${opts.port}`,
    `tls-cert-file ${opts.tls.cert}`,
    `tls-key-file ${opts.tls.key}`,
    `tls-ca-cert-file ${opts.tls.ca}`,
    // Clients prove who they are with the ACL password, not with certificates.
    'tls-auth-clients no',
    'user default off',
    `user ${secureRedisUser} on >${opts.password} ${redisAclRules()}`,
  ].join('\n')}\n`
}
