#!/usr/bin/env bun
import { errorMessage, isBatonError } from '../../actors/core/errors.ts'
import type { CommandEntry } from './command.ts'
import { commands } from './commands/index.ts'

function mainHelp(list: readonly CommandEntry[]): string {
  const width = Math.max(...list.map((c) => c.name.length))
  return [
    'baton: moves partitioned event streams from Kafka (or its embedded log) into PostgreSQL (or SQLite),',
    'exactly once, with one supervised actor per partition.',
    '',
    'Usage: baton <command> [options]',
    '',
    'Commands:',
    ...list.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "Run 'baton <command> --help' for a command's options.",
  ].join('\n')
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${mainHelp(commands)}\n`)
    return name === undefined ? 2 : 0
  }
  const entry = commands.find((c) => c.name === name)
  if (!entry) {
    process.stderr.write(`baton: unknown command '${name}'.\n\n${mainHelp(commands)}\n`)
    return 2
  }
  try {
    return await (await entry.load()).run(rest)
  } catch (err) {
    const code = isBatonError(err) ? ` [${err.code}]` : ''
    process.stderr.write(`baton ${name}: ${errorMessage(err)}${code}\n`)
    return 1
  }
}

const code = await main(process.argv.slice(2))
// A failed command ends now: sockets and timers its clients (or a user's pipeline module) left open must not
// keep a process alive that has nothing left to do, e.g. a node whose start-up was refused.
if (code !== 0) process.exit(code)
process.exitCode = code
