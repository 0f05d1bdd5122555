/**
 * Restart intensity, as in OTP: the restart times a supervisor remembers are those within the last
 * `periodMs`. Returns the times newer than `now - periodMs`, plus `now`. The supervisor gives up (fails and
 * escalates to its own supervisor) when the result holds more than `intensity` entries.
 *
 * Pure, so it is tested without any actor; `now` comes from a monotonic clock.
 *
 * @example
 * let restarts: readonly number[] = []
 * restarts = addRestart(restarts, clock.now(), 5_000)
 * if (restarts.length > 3) giveUp()
 */
export function addRestart(restarts: readonly number[], now: number, periodMs: number): number[] {
  const kept = restarts.filter((at) => at > now - periodMs)
  kept.push(now)
  return kept
}
