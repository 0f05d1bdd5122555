import { describe, expect, test } from 'bun:test'
import { connectionError, connectionFailure } from './connection-failure.ts'

const err = (message: string, fields: Record<string, unknown> = {}) =>
  Object.assign(new Error(message), fields)

describe('connectionFailure', () => {
  test('what the three drivers raise, as seen against real services', () => {
    // @platformatic/kafka: wrong SCRAM password, wrong CA
    const kafkaAuth = new AggregateError(
      [
        err('Connection to 127.0.0.1:9092 failed.', {
          code: 'PLT_KFK_NETWORK',
          cause: err('SASL authentication failed.', { code: 'PLT_KFK_AUTHENTICATION' }),
        }),
      ],
      'Cannot connect to any broker.',
    )
    const kafkaTls = err('Connection to 127.0.0.1:9092 failed.', {
      cause: err('unable to verify the first certificate', { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }),
    })
    expect(connectionFailure(kafkaAuth)).toBe('authentication')
    expect(connectionFailure(kafkaTls)).toBe('certificate')
    // postgres.js
    expect(connectionFailure(err('password authentication failed for user "app"', { code: '28P01' }))).toBe(
      'authentication',
    )
    expect(
      connectionFailure(err('Hostname/IP does not match', { code: 'ERR_TLS_CERT_ALTNAME_INVALID' })),
    ).toBe('certificate')
    // ioredis
    expect(connectionFailure(err('WRONGPASS invalid username-password pair or user is disabled.'))).toBe(
      'authentication',
    )
    expect(
      connectionFailure(
        err('self signed certificate in certificate chain', { code: 'SELF_SIGNED_CERT_IN_CHAIN' }),
      ),
    ).toBe('certificate')
    expect(connectionFailure(err('connect ECONNREFUSED 127.0.0.1:6379', { code: 'ECONNREFUSED' }))).toBe(
      'unreachable',
    )
  })

  test('the error names the service, the kind and what to check', () => {
    const hints = {
      authentication: 'Check the password.',
      certificate: 'Check the CA.',
      unreachable: 'Check the host.',
    }
    const auth = connectionError('Redis', 'rediss://u:***@h:1', err('WRONGPASS x'), 'WRONGPASS x', hints)
    expect(auth).toMatchObject({ code: 'SERVICE_AUTH_FAILED' })
    expect(auth.message).toBe(
      "Redis at rediss://u:***@h:1 refused baton's credentials (WRONGPASS x). Check the password.",
    )
    const tls = connectionError('Kafka', 'h:1', err('x', { code: 'CERT_HAS_EXPIRED' }), 'x', hints)
    expect(tls).toMatchObject({ code: 'SERVICE_TLS_FAILED' })
    expect(connectionError('Kafka', 'h:1', err('x'), 'x', hints)).toMatchObject({
      code: 'SERVICE_UNREACHABLE',
    })
  })
})
