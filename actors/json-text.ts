/**
 * Whether bytes are one JSON text, checked on the bytes without making a string or a value: the event
 * store's check of every value. `JSON.parse` of the decoded text did the same job, and built and threw
 * away a string and an object tree per event for it.
 */

const SPACE = 0x20
const TAB = 0x09
const LF = 0x0a
const CR = 0x0d
const QUOTE = 0x22
const BACKSLASH = 0x5c
const COMMA = 0x2c
const COLON = 0x3a
const MINUS = 0x2d
const PLUS = 0x2b
const DOT = 0x2e
const ZERO = 0x30
const NINE = 0x39
const OPEN_ARRAY = 0x5b
const CLOSE_ARRAY = 0x5d
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d
const LOWER_E = 0x65
const UPPER_E = 0x45
const LOWER_U = 0x75

/** Bytes that may follow a backslash in a string, besides `u`: `"` `\` `/` `b` `f` `n` `r` `t`. */
const SIMPLE_ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74])
const TRUE = Buffer.from('true')
const FALSE = Buffer.from('false')
const NULL = Buffer.from('null')

/** Open containers, innermost last: reused between calls (the check never re-enters). */
const open: boolean[] = []

/**
 * True when `bytes` hold exactly one JSON value (RFC 8259), with only JSON whitespace around it: what
 * `JSON.parse` accepts of the same bytes decoded as UTF-8. Bytes of 0x80 and above are taken as they are
 * inside strings and refused outside them; whether they are UTF-8 is the caller's check. Nesting depth is
 * unbounded (no recursion).
 */
export function isJsonText(bytes: Uint8Array): boolean {
  open.length = 0
  const end = bytes.length
  let at = skipSpace(bytes, 0)
  for (;;) {
    // A value starts at `at`.
    const c = bytes[at]
    if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      at = skipSpace(bytes, at + 1)
      const object = c === OPEN_OBJECT
      if (bytes[at] === (object ? CLOSE_OBJECT : CLOSE_ARRAY)) at++
      else {
        open.push(object)
        if (object) {
          at = member(bytes, at)
          if (at < 0) return false
        }
        continue
      }
    } else if (c === QUOTE) at = string(bytes, at)
    else if (c === MINUS || (c !== undefined && c >= ZERO && c <= NINE)) at = number(bytes, at)
    else if (c === 0x74) at = word(bytes, at, TRUE)
    else if (c === 0x66) at = word(bytes, at, FALSE)
    else if (c === 0x6e) at = word(bytes, at, NULL)
    else return false
    // After a value: close containers, or a comma and the next value.
    for (;;) {
      if (at < 0) return false
      at = skipSpace(bytes, at)
      if (open.length === 0) return at === end
      const object = open[open.length - 1] as boolean
      const c = bytes[at]
      if (c === (object ? CLOSE_OBJECT : CLOSE_ARRAY)) {
        open.pop()
        at++
        continue
      }
      if (c !== COMMA) return false
      at = skipSpace(bytes, at + 1)
      if (object) at = member(bytes, at)
      break
    }
    if (at < 0) return false
  }
}

function skipSpace(bytes: Uint8Array, at: number): number {
  for (;;) {
    const c = bytes[at]
    if (c !== SPACE && c !== LF && c !== CR && c !== TAB) return at
    at++
  }
}

/** An object member's name and colon from `at`; where its value starts, or -1. */
function member(bytes: Uint8Array, at: number): number {
  if (bytes[at] !== QUOTE) return -1
  at = string(bytes, at)
  if (at < 0) return -1
  at = skipSpace(bytes, at)
  if (bytes[at] !== COLON) return -1
  return skipSpace(bytes, at + 1)
}

/** The string starting at `at` (its opening quote); where it ends, or -1. */
function string(bytes: Uint8Array, at: number): number {
  const end = bytes.length
  for (at++; at < end; at++) {
    const c = bytes[at] as number
    if (c === QUOTE) return at + 1
    if (c < SPACE) return -1
    if (c !== BACKSLASH) continue
    const escaped = bytes[++at]
    if (escaped === undefined) return -1
    if (escaped === LOWER_U) {
      for (let k = 0; k < 4; k++) if (!isHexDigit(bytes[++at])) return -1
    } else if (!SIMPLE_ESCAPES.has(escaped)) return -1
  }
  return -1
}

function isHexDigit(c: number | undefined): boolean {
  return c !== undefined && ((c >= ZERO && c <= NINE) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46))
}

/** The number starting at `at`; where it ends, or -1. */
function number(bytes: Uint8Array, at: number): number {
  if (bytes[at] === MINUS) at++
  if (bytes[at] === ZERO) at++
  else {
    const digits = at
    at = skipDigits(bytes, at)
    if (at === digits) return -1
  }
  if (bytes[at] === DOT) {
    const digits = at + 1
    at = skipDigits(bytes, digits)
    if (at === digits) return -1
  }
  if (bytes[at] === LOWER_E || bytes[at] === UPPER_E) {
    at++
    if (bytes[at] === PLUS || bytes[at] === MINUS) at++
    const digits = at
    at = skipDigits(bytes, at)
    if (at === digits) return -1
  }
  return at
}

function skipDigits(bytes: Uint8Array, at: number): number {
  for (;;) {
    const c = bytes[at]
    if (c === undefined || c < ZERO || c > NINE) return at
    at++
  }
}

/** The literal `literal` at `at`; where it ends, or -1. */
function word(bytes: Uint8Array, at: number, literal: Uint8Array): number {
  for (let k = 0; k < literal.length; k++) if (bytes[at + k] !== literal[k]) return -1
  return at + literal.length
}
