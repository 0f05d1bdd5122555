import { describe, expect, test } from 'bun:test'
import { BatonError } from '../actors/core/errors.ts'
import { maskSecrets, redactFields } from '../actors/core/log-redact.ts'
import { contextLogFunction, createLogger, logFunction, withContext } from './log.ts'

function collect(level: 'debug' | 'info' | 'warn' | 'error' = 'debug', secrets: string[] = []) {
  const lines: string[] = []
  const log = createLogger({
    level,
    nodeId: 'baton-0',
    secrets,
    destination: { write: (s) => lines.push(s) },
  })
  return { log, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) }
}

describe('createLogger', () => {
  test('writes one JSON line per call with level, time, node and message', () => {
    const { log, lines, records } = collect()
    log.info({ batch: 3 }, 'committed')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toEndWith('\n')
    const [r] = records()
    expect(r).toMatchObject({ level: 'info', node: 'baton-0', batch: 3, msg: 'committed' })
    expect(Date.parse(r?.time as string)).not.toBeNaN()
  })

  test('child loggers carry actor, topic, partition and epoch', () => {
    const { log, records } = collect()
    const child = withContext(log, {
      actor: '/user/partitions/orders-3',
      topic: 'orders',
      partition: 3,
      epoch: 7,
    })
    child.warn('sink unavailable, retrying')
    logFunction(child)('error', 'stopped', { code: 'FENCED' })
    for (const r of records()) {
      expect(r).toMatchObject({
        node: 'baton-0',
        actor: '/user/partitions/orders-3',
        topic: 'orders',
        partition: 3,
        epoch: 7,
      })
    }
    expect(records()[1]).toMatchObject({ level: 'error', code: 'FENCED', msg: 'stopped' })
  })

  test('a context log function writes the lines a child logger would, without keeping one', () => {
    const viaChild = collect()
    const viaContext = collect()
    const context = { actor: '/node/coordinator/orders/3', topic: 'orders', partition: 3 }
    logFunction(withContext(viaChild.log, context))('warn', 'sink unavailable, retrying', { attempt: 1 })
    let built = 0
    const write = contextLogFunction(viaContext.log, () => {
      built++
      return context
    })
    expect(built).toBe(0)
    write('warn', 'sink unavailable, retrying', { attempt: 1 })
    const strip = (r: Record<string, unknown>) => ({ ...r, time: undefined })
    expect(viaContext.records().map(strip)).toEqual(viaChild.records().map(strip))
    expect(Object.keys(viaContext.records()[0] ?? {})).toEqual(Object.keys(viaChild.records()[0] ?? {}))
    expect(built).toBe(1)
  })

  test('the level comes from the config and filters lower levels', () => {
    const { log, records } = collect('warn')
    log.debug('no')
    log.info('no')
    log.warn('yes')
    log.error('yes')
    expect(records().map((r) => r.msg)).toEqual(['yes', 'yes'])
  })

  test('errors are logged with type, message, code, stack and cause', () => {
    const { log, records } = collect()
    log.error(new BatonError('SINK_UNAVAILABLE', 'sink down', { cause: new Error('ECONNREFUSED') }))
    const r = records()[0] as { msg: string; err: { stack: string } }
    expect(r.msg).toBe('sink down')
    expect(r.err).toMatchObject({
      type: 'BatonError',
      code: 'SINK_UNAVAILABLE',
      message: 'sink down',
      cause: { type: 'Error', message: 'ECONNREFUSED' },
    })
    expect(r.err.stack).toContain('sink down')
  })

  test('no secret reaches the output, however it is logged', () => {
    const secrets = [
      'pg-S3cret',
      'redis-Pa55',
      'tok-0123456789abcdef',
      'sasl-Hunter2',
      'bearer-xyz987',
      'q-Secret42',
    ]
    const { log, lines } = collect('debug', ['sasl-Hunter2'])
    const dbUrl = 'postgres://baton:pg-S3cret@db.internal:5432/baton'
    const redisUrl = 'rediss://:redis-Pa55@cache:6380/0'
    // Secret-named fields, at any depth and in any case.
    log.info(
      { password: 'pg-S3cret', apiToken: 'tok-0123456789abcdef', KAFKA_SASL_PASSWORD: 'sasl-Hunter2' },
      'a',
    )
    log.info(
      { kafka: { sasl: { username: 'baton', password: 'sasl-Hunter2' } }, list: [{ secret: 'q-Secret42' }] },
      'b',
    )
    log.info({ headers: { Authorization: 'Bearer bearer-xyz987' }, token: 'tok-0123456789abcdef' }, 'c')
    // URLs in fields and in messages, also with format arguments.
    log.info({ databaseUrl: dbUrl, redisUrl, dsn: 'postgres://db/baton?user=b&password=q-Secret42' }, 'd')
    log.warn(`cannot reach ${redisUrl}`)
    log.warn('connecting to %s', dbUrl)
    // Errors whose message, cause or own fields embed them.
    log.error(new BatonError('SERVICE_UNREACHABLE', `PostgreSQL at ${dbUrl} refused the connection`))
    const withCause = new Error('connect failed', { cause: new Error(`AUTH failed at ${redisUrl}`) })
    log.error({ err: withCause }, 'redis')
    log.error({
      err: Object.assign(new Error('SASL authentication failed for sasl-Hunter2'), { password: 'x' }),
    })
    log.error({ error: new Error(`sent Bearer bearer-xyz987 to ${dbUrl}`) }, 'other key')
    // Child bindings.
    withContext(log, { actor: '/user/x' }).child({ connection: dbUrl }).info('e')

    const out = lines.join('')
    expect(lines).toHaveLength(11)
    for (const secret of secrets) expect(out).not.toContain(secret)
    expect(out).toContain('postgres://baton:***@db.internal:5432/baton')
    expect(out).toContain('rediss://:***@cache:6380/0')
    expect(out).toContain('"password":"[Redacted]"')
  })

  test('a cyclic record is logged, not thrown', () => {
    const { log, records } = collect()
    const a: Record<string, unknown> = { name: 'a' }
    a.self = a
    log.info({ a }, 'cycle')
    expect(records()[0]).toMatchObject({ a: { name: 'a', self: '[Circular]' } })
  })

  test('the default destination has written the last line when the process exits at once', () => {
    const script = `
      import { createLogger } from ${JSON.stringify(`${import.meta.dir}/log.ts`)}
      createLogger({ level: 'info', nodeId: 'n1' }).error('last words')
      process.exit(3)
    `
    const run = Bun.spawnSync([process.execPath, '-e', script])
    expect(run.exitCode).toBe(3)
    expect(run.stdout.toString()).toBe('')
    expect(JSON.parse(run.stderr.toString())).toMatchObject({ node: 'n1', level: 'error', msg: 'last words' })
  })
})

describe('maskSecrets', () => {
  test.each([
    ['postgres://u:pw@h', 'postgres://u:***@h'],
    [
      'postgresql://app:p%40ss@db:5432/baton?sslmode=verify-full',
      'postgresql://app:***@db:5432/baton?sslmode=verify-full',
    ],
    ['rediss://:pw@h:6380', 'rediss://:***@h:6380'],
    ['redis://user:p@ss@h', 'redis://user:***@h'],
    ['a postgres://u:one@h and redis://:two@r', 'a postgres://u:***@h and redis://:***@r'],
    ['postgres://h/db?user=u&password=pw&x=1', 'postgres://h/db?user=u&password=***&x=1'],
    ['authorization: Bearer abc.DEF-123', 'authorization: Bearer ***'],
  ])('masks %s', (input, masked) => {
    expect(maskSecrets(input)).toBe(masked)
  })

  test.each([
    'http://127.0.0.1:8080/v1/actors',
    'postgres://u@h/db',
    'at file:///work/main/runtime/log.ts:12:3',
    'mail ops@example.com about kafka:9092',
  ])('leaves %s alone', (text) => {
    expect(maskSecrets(text)).toBe(text)
  })
})

describe('redactFields', () => {
  test('keeps fields that are not secrets and values that are absent', () => {
    expect(
      redactFields({ topic: 'orders', token: undefined, password: null, tokens: 3, n: [1, { ok: true }] }),
    ).toEqual({
      topic: 'orders',
      token: undefined,
      password: null,
      tokens: '[Redacted]',
      n: [1, { ok: true }],
    })
  })
})
