import pino, { type DestinationStream, type Logger } from 'pino'
import { maskKnown, maskSecrets, redactFields } from '../actors/core/log-redact.ts'
import type { Config } from './config.ts'

export type { Logger } from 'pino'

/** The fields a child logger carries, each where it applies: which actor, which partition, which epoch. */
export interface LogContext {
  /** The actor's path in the actor system, e.g. `/user/partitions/orders-3`. */
  readonly actor?: string
  readonly topic?: string
  readonly partition?: number
  readonly epoch?: number
}

export interface LoggerOptions {
  /** From BATON_LOG_LEVEL (config.logLevel). */
  readonly level: Config['logLevel']
  readonly nodeId: string
  /** Where the JSON lines go; stderr by default. Tests pass a stream that collects them. */
  readonly destination?: DestinationStream
  /**
   * Values to mask wherever they appear in a line (tokens, passwords from the config), for the places
   * no field name or URL shape gives them away, such as a driver's error message quoting a password.
   */
  readonly secrets?: readonly string[]
}

/**
 * Creates the node's logger: one JSON line per call with `level`, `time`, `node` and `msg`, plus the
 * fields of the call and of its child loggers (see `withContext`). Secrets are removed on the way out,
 * in two steps: fields whose name says secret (`password`, `token`, `secret`, `authorization`, …, at any
 * depth, errors included) are replaced before serialization, then every finished line has URL
 * passwords, query-string credentials, Bearer/Basic credentials and the given `secrets` masked, which
 * covers messages, stack traces and error causes too.
 *
 * The default destination writes stderr synchronously: a line is written before the call returns, so a
 * crash or a `process.exit` loses nothing, and no exit path has to remember to flush. baton logs
 * lifecycle events and failures, not events, so one write per line costs nothing that matters. stdout
 * stays free for command output (`baton services env`, `--print-config`).
 *
 * @example
 * const log = createLogger({ level: config.logLevel, nodeId: config.nodeId, secrets: [config.apiToken ?? ''] })
 * log.info({ url: config.databaseUrl }, 'connecting') // {"level":"info",...,"node":"baton-0","url":"postgres://app:***@db/baton","msg":"connecting"}
 */
export function createLogger(options: LoggerOptions): Logger {
  const known = maskKnown(options.secrets ?? [])
  return pino(
    {
      level: options.level,
      base: { node: options.nodeId },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        bindings: redactFields,
        log: redactFields,
      },
      // redactFields has already serialized every error, `err` included; pino's own serializer would
      // take the result for an error again and lose its type.
      serializers: { err: (err: unknown) => err },
      hooks: { streamWrite: (line) => known(maskSecrets(line)) },
    },
    options.destination ?? pino.destination({ dest: 2, sync: true }),
  )
}

/** A child logger whose lines carry `context` (actor path, topic, partition, epoch). */
export function withContext(logger: Logger, context: LogContext): Logger {
  return logger.child(context)
}

/**
 * Adapts a logger to the `(level, message, fields)` function the partition actor takes as `log`.
 *
 * @example
 * partitionActor({ ...deps, log: logFunction(withContext(log, { actor: path, topic, partition })) })
 */
export function logFunction(logger: Logger): LogFunction {
  return (level, message, fields) => logger[level](fields ?? {}, message)
}

export type LogFunction = (
  level: 'info' | 'warn' | 'error',
  message: string,
  fields?: Record<string, unknown>,
) => void

/**
 * `logFunction(withContext(logger, context))` without the child logger: the context goes into each
 * line's fields. A pino child serializes its bindings when it is made, about 1 KB held for the node's
 * life per partition, on a node that owns thousands of partitions and logs a line or two for most.
 *
 * @example
 * partitionActor({ ...deps, log: contextLogFunction(log, () => ({ actor: path, topic, partition })) })
 */
export function contextLogFunction(logger: Logger, context: () => LogContext): LogFunction {
  return (level, message, fields) => logger[level]({ ...context(), ...fields }, message)
}
