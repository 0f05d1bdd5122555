/**
 * Every command baton sends to Redis, from the checkpoints (actors/redis/checkpoints.ts, the scripts'
 * commands included: Redis checks those against the ACL too) and the membership registry
 * (cluster/membership.ts). AUTH is always allowed; add SELECT for a database other than 0. No KEYS, SCAN,
 * FLUSHALL, FLUSHDB or CONFIG.
 */
export const redisCommands = [
  // checkpoints: PING at start, the scripts by EVALSHA (EVAL once after a restart of the server), HMGET
  'ping',
  'evalsha',
  'eval',
  'hmget',
  // inside the scripts
  'exists',
  'time',
  'set',
  'incr',
  'get',
  'hget',
  'hset',
  // membership registry
  'sadd',
  'pexpire',
  'smembers',
  'mget',
  'srem',
  'del',
] as const

/**
 * The ACL rules of baton's Redis user: its keys (`<prefix>*`), no channels, and only `redisCommands`.
 *
 * @example `ACL SETUSER baton on >${password} ${redisAclRules()}`
 */
export function redisAclRules(prefix = 'baton:'): string {
  return `~${prefix}* resetchannels -@all ${redisCommands.map((c) => `+${c}`).join(' ')}`
}
