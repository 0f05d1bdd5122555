import { createServer } from 'node:net'

// Ports this process already handed out: the kernel may offer a just-closed port again, and services
// started side by side (or Kafka's two listeners) must each get their own.
const handedOut = new Set<number>()

/**
 * A TCP port on 127.0.0.1 that nothing listens on right now, chosen by the kernel. Another process could
 * take it before the service binds it; services bind within a second or two, so that window is accepted.
 */
export async function freeLoopbackPort(): Promise<number> {
  for (;;) {
    const port = await kernelPort()
    if (!handedOut.has(port)) {
      handedOut.add(port)
      return port
    }
  }
}

function kernelPort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => (port > 0 ? resolvePort(port) : reject(new Error('no port was assigned'))))
    })
  })
}
