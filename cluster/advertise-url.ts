import { hostname, type NetworkInterfaceInfo, networkInterfaces } from 'node:os'

const WILDCARD = new Set(['0.0.0.0', '[::]', '::'])

/**
 * The URL other nodes reach this node's API at (BATON_ADVERTISE_URL when set), without a trailing slash.
 * Otherwise it follows from where the server listens (`listening`, e.g. `http://0.0.0.0:8080/`):
 * - a specific address (loopback included): that address and port, as other nodes on it dial it;
 * - every address (0.0.0.0 or ::): this host's first non-internal IPv4 address (in Kubernetes, the pod
 *   IP, which every pod can reach), else its first non-internal IPv6 address, else its hostname.
 *
 * @example advertiseUrl(undefined, 'http://127.0.0.1:8080/') // 'http://127.0.0.1:8080'
 */
export function advertiseUrl(
  configured: string | undefined,
  listening: string,
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): string {
  if (configured) return configured.replace(/\/+$/, '')
  const url = new URL(listening)
  if (WILDCARD.has(url.hostname)) url.hostname = reachableHost(interfaces)
  return url.origin
}

function reachableHost(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): string {
  const external = Object.values(interfaces)
    .flatMap((list) => list ?? [])
    .filter((i) => !i.internal)
  const v4 = external.find((i) => i.family === 'IPv4')
  if (v4) return v4.address
  const v6 = external.find((i) => i.family === 'IPv6' && !i.address.startsWith('fe80'))
  if (v6) return `[${v6.address}]`
  return hostname()
}
