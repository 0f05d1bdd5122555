import { errorMessage, isBatonError } from '../actors/core/errors.ts'
import { type Command, usageError, wantsHelp } from '../runtime/cli/command.ts'
import { benchmarks } from './index.ts'

function listing(): string {
  const width = Math.max(...benchmarks.map((b) => b.name.length))
  return [
    'Usage: baton bench <benchmark> [options]',
    '',
    'Runs a benchmark in this process: progress on stderr, a result table on stdout, and the figures as',
    'JSON under bench/results/<benchmark>.json, with the machine they were measured on.',
    '',
    'Benchmarks:',
    ...benchmarks.map((b) => `  ${b.name.padEnd(width)}  ${b.summary}`),
    '',
    "Run 'baton bench <benchmark> --help' for its options.",
  ].join('\n')
}

export const benchCommand: Command = {
  name: 'bench',
  get help() {
    return listing()
  },
  async run(args) {
    const [name, ...rest] = args
    if (name === undefined || name === '--help' || name === '-h') {
      process.stdout.write(`${listing()}\n`)
      return 0
    }
    const entry = benchmarks.find((b) => b.name === name)
    if (entry === undefined) {
      const known = benchmarks.map((b) => b.name).join(', ')
      return usageError(benchCommand, `unknown benchmark '${name}' (one of ${known})`)
    }
    const benchmark = await entry.load()
    if (wantsHelp(rest)) {
      process.stdout.write(`${benchmark.help}\n`)
      return 0
    }
    try {
      return await benchmark.run(rest)
    } catch (error) {
      if (!isBatonError(error, 'CONFIG_INVALID')) throw error
      process.stderr.write(
        `baton bench ${name}: ${errorMessage(error)}\nRun 'baton bench ${name} --help' for usage.\n`,
      )
      return 2
    }
  },
}
