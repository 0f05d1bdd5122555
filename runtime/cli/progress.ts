import { type Clock, realClock } from '../../actors/core/clock.ts'

/**
 * A one-line progress display on stderr: redrawn in place on a terminal, a plain line every few seconds
 * otherwise (CI logs), so long work always shows that it moves and how fast.
 */
export class Progress {
  readonly #label: string
  readonly #total: number
  readonly #clock: Clock
  readonly #started: number
  readonly #tty = process.stderr.isTTY === true
  #last = 0

  constructor(label: string, total: number, clock: Clock = realClock) {
    this.#label = label
    this.#total = total
    this.#clock = clock
    this.#started = clock.now()
  }

  /** Shows `done` of the total, at most 10 times a second (every 5 s without a terminal); `done()` draws the end. */
  update(done: number, extra = ''): void {
    const now = this.#clock.now()
    if (now - this.#last < (this.#tty ? 100 : 5_000) || done >= this.#total) return
    this.#last = now
    const line = this.#line(done, extra)
    process.stderr.write(this.#tty ? `\r\x1b[2K${line}` : `${line}\n`)
  }

  /** Draws the final state and ends the line. */
  done(done: number, extra = ''): void {
    const line = this.#line(done, extra)
    process.stderr.write(this.#tty ? `\r\x1b[2K${line}\n` : `${line}\n`)
  }

  #line(done: number, extra: string): string {
    const seconds = (this.#clock.now() - this.#started) / 1000
    const fraction = this.#total > 0 ? Math.min(1, done / this.#total) : 1
    const width = 24
    const filled = Math.round(fraction * width)
    const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`
    const rate = seconds > 0 ? Math.round(done / seconds) : 0
    return `${this.#label} [${bar}] ${done.toLocaleString('en-US')}/${this.#total.toLocaleString('en-US')} ${rate.toLocaleString('en-US')}/s ${seconds.toFixed(1)}s${extra ? ` ${extra}` : ''}`
  }
}
