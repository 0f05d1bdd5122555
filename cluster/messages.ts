// What one node asks of another about a partition it owns, and the answer: the messages of routing.

/** The header naming the node that forwarded a request; a request carrying it is answered where it arrives. */
export const FORWARDED_BY_HEADER = 'X-Baton-Forwarded-By'

/** A partition request as the HTTP layer hands it on to the partition's owner. */
export interface OwnerRequest {
  readonly method: 'GET' | 'POST'
  /** Path and query as received, e.g. `/v1/actors/orders/3/seek`. */
  readonly path: string
  /** The JSON body, as text. */
  readonly body?: string
  /** The caller's Authorization header, passed on as it came: the owner checks the token again. */
  readonly authorization?: string
  /** The node that forwarded this request here, when one did (header `X-Baton-Forwarded-By`). */
  readonly forwardedBy?: string
}

/** The owner's answer to a forwarded request: its status and JSON body, as it sent them. */
export interface OwnerAnswer {
  /** The node that answered. */
  readonly node: string
  readonly status: number
  readonly body: unknown
}
