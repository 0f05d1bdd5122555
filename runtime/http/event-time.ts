/** An ISO 8601 date-time with a zone; without one the instant would depend on the node's time zone. */
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/i

/** The range a JavaScript Date can hold; beyond it `new Date(ms)` is invalid and breaks whoever formats it. */
const MAX_MS = 8.64e15

/** What a valid time looks like, for error messages. */
export const TIME_HINT =
  'milliseconds since the epoch or an ISO 8601 date-time with a zone, e.g. "2024-05-01T12:00:00Z"'

/**
 * A point in time given as milliseconds since the epoch or as an ISO 8601 date-time with a zone,
 * in milliseconds; undefined when it is neither.
 *
 * @example toMillis('1970-01-01T00:00:01Z') // 1000
 */
export function toMillis(raw: unknown): number | undefined {
  let ms: number
  if (typeof raw === 'number') ms = raw
  else if (typeof raw === 'string' && ISO_DATE_TIME.test(raw)) ms = Date.parse(raw)
  else return undefined
  return Number.isFinite(ms) && Math.abs(ms) <= MAX_MS ? ms : undefined
}
