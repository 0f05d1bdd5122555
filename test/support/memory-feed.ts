import { NO_HEADERS, type PartitionFeed, type SourceRecord, type TopicPartition } from '../../actors/ports.ts'

/**
 * A partition's records held in memory, as a PartitionFeed: for tests of the partition actor that need
 * real sinks and checkpoints but full control over what arrives when. `append` adds records; every
 * started feed delivers them in order, awaiting each delivery as the real sources do.
 */
export class MemoryPartition {
  readonly records: SourceRecord[] = []
  /** Every offset its feeds' `commit` was called with, in order (Kafka's group offsets). */
  readonly committed: number[] = []
  /** Chunks delivered whose `taken` was not called yet (what a fetch budget would still hold). */
  heldChunks = 0
  readonly #listeners = new Set<() => void>()

  constructor(readonly tp: TopicPartition) {}

  append(values: readonly string[], key: string | null = null): void {
    for (const value of values) {
      this.records.push({
        ...this.tp,
        offset: this.records.length,
        key: key === null ? null : Buffer.from(key),
        value: Buffer.from(value),
        headers: NO_HEADERS,
        timestamp: Date.now(),
      })
    }
    for (const listener of this.#listeners) listener()
  }

  feed(): PartitionFeed {
    let position = 0
    let running = false
    let paused = false
    let busy = false
    let deliver: ((records: SourceRecord[], taken?: () => void) => void | Promise<void>) | null = null
    const pump = async () => {
      if (busy) return
      busy = true
      try {
        while (running && !paused && deliver && position < this.records.length) {
          const chunk = this.records.slice(position, position + 100)
          position += chunk.length
          let held = true
          this.heldChunks++
          await deliver(chunk, () => {
            if (!held) return
            held = false
            this.heldChunks--
          })
        }
      } catch {
        // The actor it delivers to stopped (as the Kafka source, the feed stops delivering then).
        running = false
      } finally {
        busy = false
      }
    }
    const partition = this
    return {
      start(offset, d) {
        position = offset
        deliver = d
        running = true
        partition.#listeners.add(pump)
        void pump()
      },
      pause() {
        paused = true
      },
      resume() {
        paused = false
        void pump()
      },
      seek(offset) {
        position = offset
      },
      stop() {
        running = false
        partition.#listeners.delete(pump)
      },
      endOffset: () => partition.records.length,
      initialOffset: async () => 0,
      commit: async (nextOffset) => {
        partition.committed.push(nextOffset)
      },
    }
  }
}
