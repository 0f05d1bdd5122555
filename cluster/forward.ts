import { BatonError, errorMessage } from '../actors/core/errors.ts'
import type { TopicPartition } from '../actors/ports.ts'
import type { Member } from './membership.ts'
import { FORWARDED_BY_HEADER, type OwnerAnswer, type OwnerRequest } from './messages.ts'

export interface ForwardOptions {
  /** This node's id, sent in `X-Baton-Forwarded-By`. */
  readonly self: string
  /** How long a GET may take at one claimant before the next is asked (default 2 s). */
  readonly readTimeoutMs?: number
  /** How long an admin action may take at the owner (default 30 s; a seek or restart drains a batch first). */
  readonly actionTimeoutMs?: number
  readonly fetch?: (url: string, init: RequestInit) => Promise<Response>
}

/**
 * Sends `request` to the claimants of `tp` in the order given (the likeliest owner first) and resolves with
 * the first real answer: any status except a NO_OWNER (that node no longer runs the partition) is passed
 * back as it came, 401/403/4xx included. A claimant that cannot be reached, does not answer a GET in time,
 * or answers without JSON counts as no owner and the next is asked; when none is left this throws
 * NO_OWNER naming what each said (also when there is no claimant at all). An admin action that reached its owner but timed out is not sent to
 * another node (it may still take effect): FORWARD_TIMEOUT.
 */
export async function forwardToClaimants(
  tp: TopicPartition,
  claimants: readonly Member[],
  request: OwnerRequest,
  options: ForwardOptions,
): Promise<OwnerAnswer> {
  const send = options.fetch ?? fetch
  const timeoutMs =
    request.method === 'GET' ? (options.readTimeoutMs ?? 2_000) : (options.actionTimeoutMs ?? 30_000)
  const headers: Record<string, string> = { [FORWARDED_BY_HEADER]: options.self }
  if (request.authorization !== undefined) headers.Authorization = request.authorization
  if (request.body !== undefined) headers['Content-Type'] = 'application/json'
  const failures: string[] = []
  for (const member of claimants) {
    let status: number
    let body: unknown
    try {
      const res = await send(`${member.httpUrl}${request.path}`, {
        method: request.method,
        headers,
        body: request.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      })
      status = res.status
      body = await res.json().catch(() => undefined)
    } catch (err) {
      if (isTimeout(err) && request.method !== 'GET') {
        throw new BatonError(
          'FORWARD_TIMEOUT',
          `${member.id}, the owner of ${tp.topic}/${tp.partition}, took the request but did not answer within ${timeoutMs} ms; it may still take effect: check GET /v1/actors/${tp.topic}/${tp.partition} before you repeat it.`,
          { cause: err },
        )
      }
      failures.push(
        `${member.id} ${isTimeout(err) ? `did not answer within ${timeoutMs} ms` : `is unreachable (${errorMessage(err)})`}`,
      )
      continue
    }
    if (body === undefined) {
      failures.push(`${member.id} answered ${status} without a JSON body`)
    } else if (status === 503 && (body as { error?: unknown }).error === 'NO_OWNER') {
      failures.push(`${member.id} no longer runs it`)
    } else {
      return { node: member.id, status, body }
    }
  }
  throw new BatonError(
    'NO_OWNER',
    `partition ${tp.partition} of topic "${tp.topic}" has no owner right now (${failures.join('; ') || 'no live node claims it'}); the group is moving it, or its node died and the group hands it on within its session timeout: retry in a few seconds`,
  )
}

function isTimeout(err: unknown): boolean {
  return err instanceof DOMException && (err.name === 'TimeoutError' || err.name === 'AbortError')
}
