/**
 * A first-come-first-served async lock. bun:sqlite runs one transaction per connection and its
 * `db.transaction()` is synchronous only, so an async transaction (BEGIN, await the pipeline, COMMIT)
 * must keep every other user of the connection out until it ends, or their statements would land inside
 * it and commit or roll back with it.
 */
export class Mutex {
  #tail: Promise<void> = Promise.resolve()

  /** Runs `fn` once every earlier `run` has finished, and releases the lock however `fn` ends. */
  async run<T>(fn: () => T | Promise<T>): Promise<T> {
    const previous = this.#tail
    let release = () => {}
    this.#tail = new Promise<void>((resolve) => {
      release = resolve
    })
    await previous
    try {
      return await fn()
    } finally {
      release()
    }
  }
}
