import type { Sql } from 'postgres'

/** The PostgreSQL settings that shape commit latency: what a benchmark ran with, as SHOW prints them. */
export const latencySettings = [
  'checkpoint_timeout',
  'max_wal_size',
  'checkpoint_completion_target',
  'backend_flush_after',
  'shared_buffers',
  'wal_buffers',
  'synchronous_commit',
  'fsync',
  'full_page_writes',
  'wal_compression',
  'wal_init_zero',
] as const

/** Setting name -> value with its unit, e.g. `{ checkpoint_timeout: '30s', max_wal_size: '1GB' }`. */
export type PgSettings = Record<string, string>

/**
 * What deploy/k8s/dependencies/postgres.yaml sets for production that shapes commit latency (see the
 * comments there); the latency benchmarks run with it, and a test keeps the two equal.
 */
export const productionPg: PgSettings = {
  max_wal_size: '16GB',
  checkpoint_completion_target: '0.9',
  backend_flush_after: '2MB',
}

/** The current values of `names` (SHOW), for the result JSON. */
export async function readPgSettings(
  sql: Sql,
  names: readonly string[] = latencySettings,
): Promise<PgSettings> {
  const settings: PgSettings = {}
  for (const name of names) {
    const [row] = await sql.unsafe<Record<string, string>[]>(`show ${name}`)
    settings[name] = row?.[name] ?? ''
  }
  return settings
}

/** How long a reload may take to reach the connections (pg_reload_conf only signals them). */
const RELOAD_POLLS = 50
const RELOAD_POLL_MS = 100

/**
 * Sets `settings` server-wide (ALTER SYSTEM, then a reload: every setting here applies without a restart),
 * waits until SHOW reports them, and returns a function that resets them. Needs a superuser, which the
 * local services' role is.
 */
export async function applyPgSettings(sql: Sql, settings: PgSettings): Promise<() => Promise<void>> {
  for (const [name, value] of Object.entries(settings))
    await sql.unsafe(`alter system set ${name} = '${value.replaceAll("'", "''")}'`)
  await sql`select pg_reload_conf()`
  // The reload is a signal each backend handles before its next command: without this wait, a SHOW on
  // another pooled connection still read the old value (a run reported checkpoint_timeout=5min while the
  // checkpointer already ran every 30 s).
  const names = Object.keys(settings)
  for (let poll = 0; poll < RELOAD_POLLS; poll++) {
    const now = await readPgSettings(sql, names)
    if (names.every((n) => now[n] === settings[n])) break
    await Bun.sleep(RELOAD_POLL_MS)
  }
  return async () => {
    for (const name of Object.keys(settings)) await sql.unsafe(`alter system reset ${name}`)
    await sql`select pg_reload_conf()`
  }
}

/** PostgreSQL's SQLSTATE for a command the role lacks the privilege for (ALTER SYSTEM without superuser). */
const INSUFFICIENT_PRIVILEGE = '42501'

/**
 * applyPgSettings where the role may change server settings; where it may not, nothing is changed and
 * `refused` says why, so that a benchmark on someone else's server runs on that server's own settings
 * (which it records) instead of failing. Any other error is thrown.
 */
export async function applyPgSettingsIfAllowed(
  sql: Sql,
  settings: PgSettings,
): Promise<{ reset: () => Promise<void>; refused: string | null }> {
  try {
    return { reset: await applyPgSettings(sql, settings), refused: null }
  } catch (err) {
    if ((err as { code?: unknown }).code !== INSUFFICIENT_PRIVILEGE) throw err
    return { reset: async () => {}, refused: (err as Error).message }
  }
}

/** Checkpoints (timed and requested) and WAL bytes written since the server's statistics were reset. */
export interface PgActivity {
  readonly checkpoints: number
  readonly walBytes: number
}

/** Reads PostgreSQL's cumulative checkpoint and WAL counters (pg_stat_bgwriter and pg_stat_wal, PG 14-16; pg_stat_checkpointer from 17). */
export async function readPgActivity(sql: Sql): Promise<PgActivity> {
  const [version] = await sql<{ v: number }[]>`select current_setting('server_version_num')::int as v`
  const checkpoints =
    (version?.v ?? 0) >= 170_000
      ? sql<{ n: string }[]>`select num_timed + num_requested as n from pg_stat_checkpointer`
      : sql<{ n: string }[]>`select checkpoints_timed + checkpoints_req as n from pg_stat_bgwriter`
  const [c] = await checkpoints
  const [w] = await sql<{ b: string }[]>`select wal_bytes as b from pg_stat_wal`
  return { checkpoints: Number(c?.n ?? 0), walBytes: Number(w?.b ?? 0) }
}
