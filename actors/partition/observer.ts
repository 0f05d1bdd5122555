import type { PartitionKey } from '../ports.ts'

/**
 * How a partition actor reports to metrics. Called synchronously on the actor's turn: implementations
 * must be cheap and must not throw. prom-client metrics implement it in the node; tests pass nothing.
 */
export interface PartitionObserver {
  consumed(key: PartitionKey, events: number): void
  committed(
    key: PartitionKey,
    c: { events: number; deadLetters: number; commitSeconds: number; oldestEventSeconds: number },
  ): void
  checkpointed(key: PartitionKey, seconds: number): void
  fenced(key: PartitionKey): void
  /** The source found a fetched record batch that fails its CRC-32C check (one call per damaged copy). */
  corruptBatch(key: PartitionKey): void
  /** The partition's quarantined keys and the events they hold, whenever either changed. */
  quarantined?(key: PartitionKey, keys: number, events: number): void
}

export const noObserver: PartitionObserver = {
  consumed() {},
  committed() {},
  checkpointed() {},
  fenced() {},
  corruptBatch() {},
}
