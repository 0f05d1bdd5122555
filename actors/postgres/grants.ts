import { BatonError } from '../core/errors.ts'
import type { PostgresClients } from './clients.ts'
import type { PostgresTarget } from './target.ts'

/** baton's own tables and what the runtime role does with them (the pipeline's tables are its own). */
const tables = ['baton_watermarks', 'baton_dead_letters', 'baton_quarantined_keys', 'baton_quarantine']
const privileges = ['SELECT', 'INSERT', 'UPDATE']

/**
 * Checks, at start, that the runtime role of DATABASE_URL may use baton's tables. When migrations ran
 * under another role (DATABASE_MIGRATION_URL), a missing grant would otherwise only show at the first
 * batch, as a sink that refuses every commit. Throws SERVICE_AUTH_FAILED naming the role, the tables and
 * the grants to run.
 */
export async function checkRuntimeGrants(clients: PostgresClients, target: PostgresTarget): Promise<void> {
  // One privilege per call: has_table_privilege with a list is true when *any* of them is held.
  const rows = await clients.run(
    (sql) => sql<{ missing: string | null; role: string }[]>`
      select current_user as role, coalesce((
        select string_agg(t || ' ' || p, ', ')
        from unnest(${tables}::text[]) as t, unnest(${privileges}::text[]) as p
        where not has_table_privilege(t, p)
      ), '') || case when has_sequence_privilege('baton_dead_letters_id_seq', 'USAGE') then ''
           else ', baton_dead_letters_id_seq USAGE' end as missing`,
  )
  const { missing, role } = rows[0] ?? { missing: '', role: '?' }
  const list = (missing ?? '').replace(/^, /, '')
  if (!list) return
  throw new BatonError(
    'SERVICE_AUTH_FAILED',
    `PostgreSQL at ${target.where}: the role '${role}' of DATABASE_URL lacks ${list}. Grant it SELECT, ` +
      'INSERT, UPDATE, DELETE on the tables and USAGE on their sequences, as README (Security) shows ' +
      '(ALTER DEFAULT PRIVILEGES for the migration role covers the tables it creates later).',
  )
}
