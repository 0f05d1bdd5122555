import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { BatonError } from '../../actors/core/errors.ts'

/**
 * One benchmark `baton bench <name>` runs. `run` gets the arguments after the name, prints progress on
 * stderr and a result table on stdout, writes its JSON under bench/results/, and returns the exit code.
 * `--help` is handled by the command, which prints `help`.
 */
export interface Benchmark {
  readonly name: string
  readonly summary: string
  readonly help: string
  run(args: string[]): Promise<number>
}

export interface MachineInfo {
  cores: number
  cpuModel: string
  memoryBytes: number
  platform: string
  arch: string
  runtime: string
}

/** The machine the figures were measured on, for the result JSON. */
export function machineInfo(): MachineInfo {
  const list = cpus()
  return {
    cores: list.length,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    memoryBytes: totalmem(),
    platform: process.platform,
    arch: process.arch,
    runtime: typeof Bun === 'undefined' ? `node ${process.version}` : `bun ${Bun.version}`,
  }
}

/** Where a benchmark's JSON goes by default: bench/results/<name>.json. */
export function defaultResultPath(name: string): string {
  return join(import.meta.dir, '..', 'results', `${name}.json`)
}

/** Writes `result` as pretty JSON to `path` (creating its folder); returns the path. */
export async function writeResult(path: string, result: unknown): Promise<string> {
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, `${JSON.stringify(result, null, 2)}\n`)
  return path
}

/**
 * The end of a benchmark that ran: its result as JSON in `out`, its table on stdout, where the JSON went
 * on stderr. Returns the exit code, 0.
 */
export async function report(out: string, result: unknown, table: string): Promise<0> {
  await writeResult(out, result)
  process.stdout.write(`${table}\n`)
  progress(`wrote ${out}`)
  return 0
}

/** A progress line on stderr, so stdout keeps only the result table. */
export function progress(line: string): void {
  process.stderr.write(`${line}\n`)
}

/** Left-aligned first column, right-aligned others, two spaces apart. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = []
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length)
    })
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
        .join('  '),
    )
    .join('\n')
}

/** 4_213_000 -> "4.21 M"; for rates and counts in tables. */
export function humanNumber(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`
  return n.toFixed(n < 10 ? 2 : 0)
}

/**
 * The value of `--name <value>` or `--name=<value>` in `args`; undefined when absent. Throws
 * CONFIG_INVALID (which `baton bench` reports as a usage error) when the value is missing.
 */
export function option(args: readonly string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string
    if (arg.startsWith(`${name}=`)) return arg.slice(name.length + 1)
    if (arg !== name) continue
    const value = args[i + 1]
    if (value === undefined || value.startsWith('--'))
      throw new BatonError('CONFIG_INVALID', `${name} needs a value`)
    return value
  }
  return undefined
}

/** A positive whole number option (underscores allowed: 5_000_000), or `fallback` when absent. */
export function countOption(args: readonly string[], name: string, fallback: number): number {
  const raw = option(args, name)
  if (raw === undefined) return fallback
  const n = Number(raw.replaceAll('_', ''))
  if (!Number.isInteger(n) || n < 1)
    throw new BatonError('CONFIG_INVALID', `${name} must be a whole number >= 1, got '${raw}'`)
  return n
}
