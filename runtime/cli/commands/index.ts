import type { Command } from '../command.ts'
import { benchCommand } from './bench.ts'
import { produce } from './produce.ts'
import { servicesCommand } from './services.ts'
import { start } from './start.ts'

/** Every `baton` sub-command, in the order `baton --help` lists them. */
export const commands: readonly Command[] = [start, produce, servicesCommand, benchCommand]
