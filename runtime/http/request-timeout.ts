import type { MiddlewareHandler } from 'hono'
import { BatonError } from '../../actors/core/errors.ts'
import { type Clock, realClock, withDeadline } from '../../actors/core/index.ts'

/**
 * Answers 503 REQUEST_TIMEOUT when a request (reading its body included) takes longer than `ms`, so a
 * client that trickles its body, or a request stuck behind a dead service, does not hold the connection
 * for ever. The work already started is not undone: an ingest or admin action may still take effect, as
 * the message says.
 */
export function requestTimeout(ms: number, clock: Clock = realClock): MiddlewareHandler {
  return async (_c, next) => {
    const work = next()
    if (!(await withDeadline(work, clock, ms)))
      throw new BatonError(
        'REQUEST_TIMEOUT',
        `the node did not finish this request within ${ms / 1000} s (BATON_REQUEST_TIMEOUT_MS); ` +
          'what it asked for may still take effect, so check before sending it again',
      )
    await work
  }
}
