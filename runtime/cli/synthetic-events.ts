/** How `baton produce` and the benchmarks make events: sequence numbers per key, padded JSON values. */
export interface SyntheticOptions {
  /** Distinct keys, `key-0` … `key-<keys-1>`; 0 means keyless events. */
  readonly keys: number
  /** Bytes of each JSON value (at least the bytes its fields need). */
  readonly valueBytes: number
  /** Fraction (0..1) of events whose value is not valid JSON, to exercise the dead-letter path. */
  readonly poison: number
}

export interface SyntheticEvent {
  readonly key: string | null
  /** The value's bytes as text: JSON, or for a poison event text that is not JSON. */
  readonly value: string
  readonly poison: boolean
}

/**
 * Event number `seq`: value `{"seq":…,"key":…,"n":…,"pad":"…"}` where `n` counts the events of its key
 * (so a consumer can check order and completeness per key), padded to `valueBytes`. Poison events are
 * picked by a hash of `seq`: spread over keys and partitions, and the same in every run.
 */
export function syntheticEvent(seq: number, options: SyntheticOptions): SyntheticEvent {
  const key = options.keys > 0 ? `key-${seq % options.keys}` : null
  const n = options.keys > 0 ? Math.floor(seq / options.keys) : seq
  // Spread over keys (a multiplicative hash of seq), yet reproducible from seq alone.
  const poison = options.poison > 0 && Math.imul(seq, 2654435761) >>> 0 < options.poison * 2 ** 32
  const head = `{"seq":${seq},"key":${JSON.stringify(key)},"n":${n},"pad":"`
  const pad = 'x'.repeat(Math.max(0, options.valueBytes - head.length - 2))
  const value = poison ? `${head}${pad}` : `${head}${pad}"}`
  return { key, value, poison }
}
