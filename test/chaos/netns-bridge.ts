/**
 * Runs inside a network namespace that netns.ts created (`ip netns exec <ns> bun netns-bridge.ts …`) and
 * joins its loopback to the host's through Unix sockets, which a network namespace does not separate:
 *
 *   --out <port>=<socket>   listen on 127.0.0.1:<port> in the namespace, pass to the Unix socket <socket>
 *                           (where the host's toxic proxy for that service listens)
 *   --in <socket>=<port>    listen on the Unix socket <socket>, pass to 127.0.0.1:<port> in the namespace
 *                           (the node's HTTP port, reached from the host)
 *
 * Prints `ready` once every listener is up. Stops on SIGTERM or when its parent closes stdin.
 */
import { ToxicProxy } from './toxic-proxy.ts'

const proxies: ToxicProxy[] = []
const args = process.argv.slice(2)
for (let i = 0; i < args.length; i += 2) {
  const [flag, spec] = [args[i], args[i + 1] ?? '']
  const [left, right] = spec.split('=') as [string, string]
  if (flag === '--out') {
    proxies.push(await ToxicProxy.start({ path: right }, { host: '127.0.0.1', port: Number(left) }))
  } else if (flag === '--in') {
    proxies.push(await ToxicProxy.start({ host: '127.0.0.1', port: Number(right) }, { path: left }))
  } else {
    process.stderr.write(`netns-bridge: unknown argument ${flag}\n`)
    process.exit(2)
  }
}
process.stdout.write('ready\n')

const stop = async () => {
  await Promise.allSettled(proxies.map((p) => p.close()))
  process.exit(0)
}
process.on('SIGTERM', stop)
process.stdin.on('end', stop)
process.stdin.resume()
