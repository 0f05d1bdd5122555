import { findErrorBy, type GenericError, protocolErrorsCodesById } from '@platformatic/kafka'
import { errorMessage } from '../core/errors.ts'

/**
 * What baton does about a Kafka error, decided in one place for the fetcher, the group membership and the
 * offset committer (the pattern of franz-go's `IsRetryableBrokerErr`: one classifier, a reason per branch).
 */

/** The name Kafka gives a protocol error code (`6` → `NOT_LEADER_OR_FOLLOWER`). */
export function kafkaErrorName(code: number): string {
  return protocolErrorsCodesById[code] ?? `ERROR_${code}`
}

/** True when the broker could not be reached or did not answer in time (as opposed to answering with an error). */
export function isUnreachable(err: unknown): boolean {
  // TimeoutError carries the network code too: a request that timed out is as good as a dead connection.
  return findErrorBy(err as Error, 'code', 'PLT_KFK_NETWORK') !== null
}

/**
 * The partial response a ResponseError carries when only some partitions (or topics, or coordinators)
 * failed, also when the client wrapped that error in another one.
 */
export function errorResponse<T>(err: unknown, depth = 0): T | undefined {
  if (!err || typeof err !== 'object' || depth > 8) return undefined
  const response = (err as GenericError).response
  if (response) return response as T
  for (const inner of (err as { errors?: unknown[] }).errors ?? []) {
    const found = errorResponse<T>(inner, depth + 1)
    if (found) return found
  }
  return errorResponse<T>((err as { cause?: unknown }).cause, depth + 1)
}

/** The protocol error ids inside a client error (a ResponseError holds one per failed partition). */
export function kafkaErrorIds(err: unknown): Set<string> {
  const ids = new Set<string>()
  const walk = (e: unknown, depth: number): void => {
    if (!e || typeof e !== 'object' || depth > 8) return
    const apiId = (e as { apiId?: unknown }).apiId
    if (typeof apiId === 'string') ids.add(apiId)
    for (const inner of (e as { errors?: unknown[] }).errors ?? []) walk(inner, depth + 1)
    walk((e as { cause?: unknown }).cause, depth + 1)
  }
  walk(err, 0)
  return ids
}

/** A one-line description of a client error for logs and status, naming the protocol errors inside it. */
export function describeKafkaError(err: unknown): string {
  const ids = kafkaErrorIds(err)
  const message = errorMessage(err)
  return ids.size > 0 ? `${message} (${[...ids].join(', ')})` : message
}

/** What the fetcher does when a partition in a fetch response carries an error code. */
export type PartitionFetchAction = 'reset-to-earliest' | 'find-leader' | 'back-off'

export function partitionFetchAction(code: number): PartitionFetchAction {
  switch (kafkaErrorName(code)) {
    // The position is below the log start (retention deleted it) or past the end (the log was truncated
    // or the topic recreated): nothing can be fetched there, so start over from what the log still has.
    case 'OFFSET_OUT_OF_RANGE':
      return 'reset-to-earliest'
    // Leadership moved, or this broker's view of it is older or newer than ours: ask for fresh metadata
    // and send the partition to whoever leads it now.
    case 'NOT_LEADER_OR_FOLLOWER':
    case 'LEADER_NOT_AVAILABLE':
    case 'FENCED_LEADER_EPOCH':
    case 'UNKNOWN_LEADER_EPOCH':
    case 'REPLICA_NOT_AVAILABLE':
    case 'KAFKA_STORAGE_ERROR':
    case 'OFFSET_NOT_AVAILABLE':
    // The topic may have just been created or recreated and this broker does not know it yet.
    case 'UNKNOWN_TOPIC_OR_PARTITION':
    case 'UNKNOWN_TOPIC_ID':
    case 'INCONSISTENT_TOPIC_ID':
      return 'find-leader'
    // Anything else (authorization, corrupt data, a broker bug) is not ours to fix by skipping records:
    // keep the position, say so in the status, and try again later.
    default:
      return 'back-off'
  }
}

/** What the group membership does when a ConsumerGroupHeartbeat (or an offset commit) fails. */
export type GroupErrorAction = 'rejoin' | 'find-coordinator' | 'retry' | 'fatal'

export function groupErrorAction(err: unknown): GroupErrorAction {
  return groupAction(kafkaErrorIds(err), isUnreachable(err))
}

/** The same decision for one partition's error code in an OffsetCommit response. */
export function groupErrorActionForCode(code: number): GroupErrorAction {
  return groupAction(new Set([kafkaErrorName(code)]), false)
}

function groupAction(ids: Set<string>, unreachable: boolean): GroupErrorAction {
  // The coordinator no longer knows this member at this epoch (session expired, fenced by a newer member
  // with the same instance id, or removed for not revoking within the rebalance timeout): its partitions
  // are gone; it must give them up without committing and join again with epoch 0.
  if (ids.has('FENCED_MEMBER_EPOCH') || ids.has('UNKNOWN_MEMBER_ID') || ids.has('FENCED_INSTANCE_ID')) {
    return 'rejoin'
  }
  // The group moved to another broker, or its broker is loading it, or the connection died.
  if (
    unreachable ||
    ids.has('NOT_COORDINATOR') ||
    ids.has('COORDINATOR_NOT_AVAILABLE') ||
    ids.has('COORDINATOR_LOAD_IN_PROGRESS')
  ) {
    return 'find-coordinator'
  }
  // A previous process with the same node id is still a member (it was killed and its session has not
  // expired yet): the instance id frees itself within the group's session timeout. A commit raced an epoch
  // bump: the next heartbeat brings the new epoch. The group is full: a member may leave.
  if (
    ids.has('UNRELEASED_INSTANCE_ID') ||
    ids.has('STALE_MEMBER_EPOCH') ||
    ids.has('GROUP_MAX_SIZE_REACHED') ||
    ids.has('REBALANCE_IN_PROGRESS')
  ) {
    return 'retry'
  }
  // Unsupported protocol version or assignor, authorization, a malformed request: retrying cannot help.
  return 'fatal'
}
