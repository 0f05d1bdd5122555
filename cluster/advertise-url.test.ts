import { describe, expect, test } from 'bun:test'
import type { NetworkInterfaceInfo } from 'node:os'
import { advertiseUrl } from './advertise-url.ts'

const nic = (address: string, family: 'IPv4' | 'IPv6', internal = false) =>
  ({ address, family, internal, netmask: '', mac: '', cidr: null }) as NetworkInterfaceInfo

describe('advertiseUrl', () => {
  test('BATON_ADVERTISE_URL wins, without its trailing slash', () => {
    expect(advertiseUrl('http://baton-0.baton:8080/', 'http://0.0.0.0:8080/')).toBe(
      'http://baton-0.baton:8080',
    )
  })

  test('a specific address (loopback included) is advertised as it listens', () => {
    expect(advertiseUrl(undefined, 'http://127.0.0.1:41234/')).toBe('http://127.0.0.1:41234')
    expect(advertiseUrl(undefined, 'http://10.1.2.3:8080/')).toBe('http://10.1.2.3:8080')
  })

  test('every address: the first non-internal IPv4, else IPv6 (not link-local)', () => {
    const interfaces = {
      lo: [nic('127.0.0.1', 'IPv4', true)],
      eth0: [nic('fe80::1', 'IPv6'), nic('10.244.1.7', 'IPv4')],
    }
    expect(advertiseUrl(undefined, 'http://0.0.0.0:8080/', interfaces)).toBe('http://10.244.1.7:8080')
    expect(
      advertiseUrl(undefined, 'http://[::]:8080/', {
        eth0: [nic('fe80::1', 'IPv6'), nic('fd00::7', 'IPv6')],
      }),
    ).toBe('http://[fd00::7]:8080')
  })
})
