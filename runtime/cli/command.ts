/**
 * One `baton` sub-command. `run` gets the arguments after the command name and returns the exit code;
 * it prints its own `--help` (the text in `help`) when asked, through `wantsHelp`.
 */
export interface Command {
  name: string
  /** The whole `baton <name> --help` text. */
  help: string
  run(args: string[]): Promise<number>
}

/**
 * A sub-command as `baton --help` lists it, loaded only when it runs: `baton start` thus loads neither the
 * benchmarks nor the local-services harness, and the image need not hold them (deploy/Dockerfile).
 */
export interface CommandEntry {
  name: string
  /** One line for `baton --help`. */
  summary: string
  load(): Promise<Command>
}

/** True when the arguments ask for help; commands print their `help` and exit 0. */
export function wantsHelp(args: string[]): boolean {
  return args.includes('--help') || args.includes('-h')
}

/** Prints a usage error the same way for every command and returns the exit code for it. */
export function usageError(command: Command, message: string): number {
  process.stderr.write(`baton ${command.name}: ${message}\nRun 'baton ${command.name} --help' for usage.\n`)
  return 2
}
