import postgres, { type Options, type Sql, type TransactionSql } from 'postgres'
import { type Cancellable, type Clock, realClock } from '../core/clock.ts'

/** What the sink runs its statements on. */
export interface PostgresClients {
  /**
   * Runs `fn` in one transaction (`sql.begin`) on a client of its own. With `deadlineMs`, it rejects with
   * DeadlineExceeded when the client has not answered by then (connecting included); its connection is then
   * destroyed without a COMMIT or ROLLBACK, so whether a COMMIT already sent took effect is unknown.
   */
  transaction<T>(fn: (tx: TransactionSql) => Promise<T>, deadlineMs?: number): Promise<T>
  /** Runs `fn`'s statements, outside any transaction, on a client of its own; `deadlineMs` as above. */
  run<T>(fn: (sql: Sql) => Promise<T>, deadlineMs?: number): Promise<T>
  /** Ends every client: waits up to `timeoutSeconds` for running statements, then closes the connections. */
  end(timeoutSeconds: number): Promise<void>
}

interface Client {
  readonly sql: Sql
  /** Set when the connection closed: the client is ended and replaced, never lent again. */
  lost: boolean
  readonly closed: Promise<void>
}

// A connection that reported a FATAL error closes right after; waiting this long tells the two cases apart.
const FATAL_CLOSE_WAIT_MS = 1_000

/**
 * `size` postgres.js clients with one connection each, each lent to one caller at a time.
 *
 * Why not one postgres.js pool: postgres.js 3.4.9 mishandles a connection that closes inside `sql.begin`
 * (porsager/postgres#1208, #1186, #1216). Its own ROLLBACK is written to the closed socket and throws an
 * uncaught TypeError from a timer; the connection then does not come back; and statements of the dead
 * transaction can later run on the reconnected session, outside any transaction or inside another caller's.
 * A sink that promises exactly-once effects cannot take the last one. So here a client serves one
 * transaction at a time, a client whose connection closed is ended (which rejects anything still queued on
 * it) and replaced, and a transaction whose connection closed is abandoned (its callback never settles) so
 * that postgres.js writes nothing more to the dead socket; `sql.begin` rejects with CONNECTION_CLOSED anyway.
 */
export function postgresClients(
  url: string,
  size: number,
  options: Options<Record<string, never>>,
  clock: Clock = realClock,
): PostgresClients {
  const all = new Set<Client>()
  const idle: Client[] = []
  const waiting: { resolve: (client: Client) => void; reject: (err: Error) => void }[] = []
  let ended = false

  function create(): Client {
    let onClose = () => {}
    const closed = new Promise<void>((resolve) => {
      onClose = resolve
    })
    const client: Client = {
      sql: postgres(url, {
        ...options,
        max: 1,
        onclose: () => {
          client.lost = true
          onClose()
        },
      }),
      lost: false,
      closed,
    }
    all.add(client)
    return client
  }

  function discard(client: Client): void {
    all.delete(client)
    void client.sql.end({ timeout: 0 })
  }

  async function acquire(): Promise<Client> {
    if (ended) throw endedError()
    for (let client = idle.pop(); client; client = idle.pop()) {
      if (!client.lost) return client
      discard(client)
    }
    if (all.size < size) return create()
    return new Promise((resolve, reject) => waiting.push({ resolve, reject }))
  }

  function release(client: Client): void {
    if (client.lost || ended) {
      discard(client)
      if (ended) return
      client = create()
    }
    const next = waiting.shift()
    if (next) next.resolve(client)
    else idle.push(client)
  }

  async function lend<T>(fn: (client: Client) => Promise<T>, deadlineMs: number | undefined): Promise<T> {
    const client = await acquire()
    try {
      return deadlineMs === undefined ? await fn(client) : await withDeadline(client, fn(client), deadlineMs)
    } finally {
      release(client)
    }
  }

  /**
   * `work`, or DeadlineExceeded once `ms` passed. postgres.js has no deadline of its own that covers
   * everything: a connection the server closes while it starts up is reconnected with no delay and no
   * timeout (porsager/postgres#1193), and a statement whose answer never comes waits for TCP to give up.
   * The client is marked lost, so `release` destroys its connection instead of lending it again, and a
   * transaction callback that returns later is abandoned instead of committed.
   */
  function withDeadline<T>(client: Client, work: Promise<T>, ms: number): Promise<T> {
    let timer: Cancellable | undefined
    const expired = new Promise<never>((_, reject) => {
      timer = clock.schedule(ms, () => {
        client.lost = true
        reject(new DeadlineExceeded(ms))
      })
    })
    // Settles after the deadline (or never): its outcome is decided by the caller, not thrown from here.
    work.catch(() => {})
    return Promise.race([work, expired]).finally(() => timer?.cancel())
  }

  /** True once the connection closed, waiting a moment for it when `err` says it is about to. */
  async function connectionLost(client: Client, err: unknown): Promise<boolean> {
    if (client.lost) return true
    const severity = (err as { severity?: unknown } | null)?.severity
    if (severity !== 'FATAL' && severity !== 'PANIC') return false
    let timer: Cancellable | undefined
    await Promise.race([
      client.closed,
      new Promise((r) => (timer = clock.schedule(FATAL_CLOSE_WAIT_MS, () => r(null)))),
    ])
    timer?.cancel()
    return client.lost
  }

  return {
    transaction: (fn, deadlineMs) =>
      lend(
        (client) =>
          client.sql.begin(async (tx) => {
            let result: Awaited<ReturnType<typeof fn>>
            try {
              result = await fn(tx as TransactionSql)
            } catch (err) {
              if (await connectionLost(client, err)) return abandon()
              throw err
            }
            // A COMMIT written now would go to a closed socket, or after the deadline was given up.
            return client.lost ? abandon() : result
          }),
        deadlineMs,
      ) as ReturnType<typeof fn>,
    run: (fn, deadlineMs) => lend((client) => fn(client.sql), deadlineMs),
    async end(timeoutSeconds) {
      ended = true
      for (const waiter of waiting.splice(0)) waiter.reject(endedError())
      await Promise.all([...all].map((client) => client.sql.end({ timeout: timeoutSeconds })))
      all.clear()
    },
  }
}

/**
 * A call that did not finish within its deadline. Its code classifies it as a lost connection
 * (classify-error.ts): the database, not the batch, is at fault.
 */
export class DeadlineExceeded extends Error {
  readonly code = 'DEADLINE_EXCEEDED'
  constructor(readonly deadlineMs: number) {
    super(`no answer within the deadline of ${deadlineMs} ms; the connection was closed`)
    this.name = 'DeadlineExceeded'
  }
}

/** Shaped like postgres.js's own error for a query after `sql.end()`, so it classifies the same way. */
function endedError(): Error {
  return Object.assign(new Error('write CONNECTION_ENDED: the sink was closed'), { code: 'CONNECTION_ENDED' })
}

/** Never settles: `sql.begin` has already rejected for the closed connection, and must not roll back on it. */
function abandon(): Promise<never> {
  return new Promise<never>(() => {})
}
