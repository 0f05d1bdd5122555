/**
 * Ends an exhaustive switch over a protocol: a compile error when a message type is not handled, and a
 * clear failure at run time if a message outside the protocol arrives anyway.
 */
export function exhaustive(msg: never): never {
  throw new TypeError(`Unexpected message outside the actor's protocol: ${JSON.stringify(msg)}`)
}
