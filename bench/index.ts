import type { Benchmark } from './kit/benchmark.ts'

/** A registry entry: loaded only when run, so listing benchmarks never imports their dependencies. */
export interface BenchmarkEntry {
  readonly name: string
  readonly summary: string
  load(): Promise<Benchmark>
}

/** Every benchmark, in the order `baton bench` lists them. Add one entry per benchmark. */
export const benchmarks: readonly BenchmarkEntry[] = [
  {
    name: 'actors',
    summary: 'actor core: tell and ask throughput, memory per idle actor',
    load: async () => (await import('./actors.ts')).actorsBenchmark,
  },
  {
    name: 'embedded',
    summary: 'embedded node: HTTP ingest + processing into bun:sqlite, ack-to-commit latency, RSS',
    load: async () => (await import('./embedded.ts')).embeddedBenchmark,
  },
  {
    name: 'e2e',
    summary: 'Kafka -> baton -> PostgreSQL against the raw limits and KafkaJS peers, same run, same data',
    load: async () => (await import('./e2e.ts')).e2eBenchmark,
  },
  {
    name: 'scale',
    summary: 'one node over 8 to 4,096 partitions: events/s, CPU, RSS, PG and Redis work, start and stop',
    load: async () => (await import('./scale.ts')).scaleBenchmark,
  },
  {
    name: 'latency',
    summary: 'latency curve: p50/p99/p999/max at 10%, 50%, 80% of the max rate, every second, PG checkpoints',
    load: async () => (await import('./latency.ts')).latencyBenchmark,
  },
]
