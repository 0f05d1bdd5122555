/**
 * A FIFO queue on a circular array. It starts small and doubles as needed, but never holds more than
 * `limit` items: an idle actor's mailbox costs a few slots, a busy one at most `limit`.
 */
export class RingBuffer<T> {
  private items: (T | undefined)[]
  private mask: number
  private head = 0
  private count = 0

  constructor(
    readonly limit: number,
    initialSlots = 8,
  ) {
    const slots = Math.min(powerOfTwoAtLeast(initialSlots), powerOfTwoAtLeast(limit))
    this.items = new Array(slots)
    this.mask = slots - 1
  }

  get size(): number {
    return this.count
  }

  get isFull(): boolean {
    return this.count >= this.limit
  }

  /** Appends `item`; false (and nothing changes) when `limit` items are queued already. */
  push(item: T): boolean {
    if (this.count >= this.limit) return false
    if (this.count === this.items.length) this.grow()
    this.items[(this.head + this.count) & this.mask] = item
    this.count++
    return true
  }

  /** Removes and returns the oldest item; undefined when empty. */
  shift(): T | undefined {
    if (this.count === 0) return undefined
    const item = this.items[this.head]
    this.items[this.head] = undefined // let the message be collected once handled
    this.head = (this.head + 1) & this.mask
    this.count--
    return item
  }

  /** Removes every item, oldest first, handing each to `each`; returns how many there were. */
  drain(each?: (item: T) => void): number {
    const n = this.count
    while (this.count > 0) {
      const item = this.shift() as T
      each?.(item)
    }
    return n
  }

  private grow(): void {
    const old = this.items
    const next: (T | undefined)[] = new Array(old.length * 2)
    for (let i = 0; i < this.count; i++) next[i] = old[(this.head + i) & this.mask]
    this.items = next
    this.mask = next.length - 1
    this.head = 0
  }
}

function powerOfTwoAtLeast(n: number): number {
  let p = 1
  while (p < n) p *= 2
  return p
}
