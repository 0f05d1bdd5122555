/**
 * Polls `read` every `intervalMs` until it returns a value, for at most `ms`; throws naming `what` when it
 * never does. Tests wait with it instead of sleeping a guessed time.
 */
export async function until<T>(
  what: string,
  ms: number,
  read: () => Promise<T | undefined>,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    const value = await read()
    if (value !== undefined) return value
    await Bun.sleep(intervalMs)
  }
  throw new Error(`${what}: not within ${ms / 1000} s`)
}
