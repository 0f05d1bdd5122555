import type { Command } from '../command.ts'
import { servicesCommand } from './services.ts'
import { start } from './start.ts'

/** Every `baton` sub-command, in the order `baton --help` lists them. */
export const commands: readonly Command[] = [start, servicesCommand]
