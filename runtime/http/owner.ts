import { BatonError, isBatonError } from '../errors.ts'

/**
 * Runs a request that the partition's owner must answer. While nobody owns the partition (a rebalance is
 * moving it, or its node just died) the answer is an immediate NO_OWNER (503) telling the client to retry,
 * whatever message the node gave, rather than a hang or a confusing error.
 */
export async function askOwner<T>(topic: string, partition: number, ask: () => Promise<T>): Promise<T> {
  try {
    return await ask()
  } catch (err) {
    if (!isBatonError(err, 'NO_OWNER')) throw err
    throw new BatonError(
      'NO_OWNER',
      `partition ${partition} of topic "${topic}" has no owner right now (it is being reassigned between nodes); retry in a few seconds`,
      { cause: err },
    )
  }
}
