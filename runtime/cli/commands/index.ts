import type { CommandEntry } from '../command.ts'

/**
 * Every `baton` sub-command, in the order `baton --help` lists them. Each is imported when it runs, not
 * before (a plugin load): `start` and `produce` are what the image runs, `services` and `bench` need a
 * checkout (deploy/local/, bench/), which `test/operate/dockerfile.test.ts` keeps out of their reach.
 */
export const commands: readonly CommandEntry[] = [
  {
    name: 'start',
    summary: 'Run a node (embedded on bun:sqlite, or cluster mode with Kafka, PostgreSQL and Redis)',
    load: async () => (await import('./start.ts')).start,
  },
  {
    name: 'produce',
    summary: 'Send synthetic events to a node (HTTP) or to Kafka, at a rate, with a progress bar',
    load: async () => (await import('./produce.ts')).produce,
  },
  {
    name: 'services',
    summary: 'Start, stop and show local Kafka, PostgreSQL and Redis (no Docker)',
    load: async () => (await import('../../../deploy/local/command.ts')).servicesCommand,
  },
  {
    name: 'bench',
    summary: "Run a benchmark ('baton bench' lists them) and write bench/results/<name>.json",
    load: async () => (await import('../../../bench/command.ts')).benchCommand,
  },
]
