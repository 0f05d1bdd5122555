import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Redis from 'ioredis'
import { redisTls } from '../../actors/redis/connection.ts'
import { generatedPassword } from './passwords.ts'
import { freeLoopbackPort } from './ports.ts'
import { requireRedisServer } from './prerequisites.ts'
import { launchDetached } from './processes.ts'
import { withTimeout } from './readiness.ts'
import { secureRedisConfig, secureRedisUser } from './redis-secure.ts'
import type { ServiceDriver, ServiceRecord } from './types.ts'

/** redis.conf for a loopback-only server whose every write is in the append-only file. */
export function redisConfig(opts: { port: number; dataDir: string }): string {
  return `${[
    `port ${opts.port}`,
    'bind 127.0.0.1',
    `dir ${opts.dataDir}`,
    'appendonly yes',
    // The append-only file is the persistence; no RDB snapshots besides it.
    'save ""',
    'daemonize no',
  ].join('\n')}\n`
}

function configFile(record: ServiceRecord): string {
  return join(record.home, 'redis.conf')
}

/** Redis from the system's `redis-server`, with the append-only file on and no RDB snapshots. */
export const redisService: ServiceDriver = {
  name: 'redis',

  checkPrerequisites() {
    requireRedisServer()
  },

  async create(home, owner, _onProgress, tls) {
    const port = await freeLoopbackPort()
    const dataDir = join(home, 'data')
    mkdirSync(dataDir, { recursive: true })
    const password = tls ? generatedPassword() : ''
    const secure = tls ? secureRedisConfig({ port, tls, password }) : ''
    writeFileSync(join(home, 'redis.conf'), redisConfig({ port, dataDir }) + secure, { mode: 0o600 })
    return {
      name: 'redis',
      pid: null,
      pidIdentity: null,
      ports: [port],
      home,
      dataDir,
      logFile: join(home, 'redis.log'),
      url: tls ? `rediss://${secureRedisUser}:${password}@127.0.0.1:${port}` : `redis://127.0.0.1:${port}`,
      ...(tls ? { secureEnv: { REDIS_TLS_CA: tls.ca } } : {}),
      owner,
      startedAt: new Date().toISOString(),
    } satisfies ServiceRecord
  },

  launch(record) {
    return launchDetached({
      command: requireRedisServer(),
      args: [configFile(record)],
      logFile: record.logFile,
      cwd: record.dataDir,
    })
  },

  async probe(url, timeoutMs, secureEnv) {
    const ca = secureEnv?.REDIS_TLS_CA ? readFileSync(secureEnv.REDIS_TLS_CA, 'utf8') : undefined
    const client = new Redis(url, {
      ...redisTls(url, ca),
      lazyConnect: true,
      connectTimeout: timeoutMs,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      enableOfflineQueue: false,
      // INFO and CLIENT SETINFO: commands that the ACL of a secure set does not allow.
      enableReadyCheck: false,
      disableClientInfo: true,
    })
    // A failed connection also emits 'error'; the rejected connect() below already reports it.
    client.on('error', () => {})
    try {
      await withTimeout(client.connect(), timeoutMs, 'Redis connect')
      const answer = await withTimeout(client.ping(), timeoutMs, 'Redis PING')
      if (answer !== 'PONG') throw new Error(`PING answered ${answer}`)
    } finally {
      client.disconnect()
    }
  },

  signalFor(mode) {
    return mode === 'graceful' ? 'SIGTERM' : 'SIGKILL'
  },
}
