import { describe, expect, test } from 'bun:test'
import { Mailbox, type Waiter } from './mailbox.ts'

function waiter<M>(msg: M, log: string[]): Waiter<M> {
  return { msg, admit: () => log.push(`admit ${msg}`), reject: () => log.push(`reject ${msg}`), done: false }
}

describe('Mailbox', () => {
  test('holds at most capacity messages', () => {
    const mailbox = new Mailbox<number>(2)
    expect(mailbox.offer(1)).toBe(true)
    expect(mailbox.offer(2)).toBe(true)
    expect(mailbox.offer(3)).toBe(false)
    expect(mailbox.size).toBe(2)
  })

  test('lets waiters in one per freed slot, in line order, and counts as full while anyone waits', () => {
    const log: string[] = []
    const mailbox = new Mailbox<string>(2)
    mailbox.offer('a')
    mailbox.offer('a2')
    expect(mailbox.wait(waiter('b', log))).toBe(true)
    expect(mailbox.wait(waiter('c', log))).toBe(true)
    expect(mailbox.shift()).toBe('a')
    expect(log).toEqual(['admit b'])
    expect(mailbox.offer('x')).toBe(false) // c is still waiting: x must not overtake it
    expect(mailbox.shift()).toBe('a2')
    expect(log).toEqual(['admit b', 'admit c'])
    expect(mailbox.shift()).toBe('b')
    expect(mailbox.shift()).toBe('c')
    expect(mailbox.offer('x')).toBe(true)
  })

  test('skips cancelled waiters and bounds the line at capacity', () => {
    const log: string[] = []
    const mailbox = new Mailbox<string>(2)
    mailbox.offer('a')
    mailbox.offer('b')
    const gone = waiter('w1', log)
    expect(mailbox.wait(gone)).toBe(true)
    expect(mailbox.wait(waiter('w2', log))).toBe(true)
    expect(mailbox.wait(waiter('w3', log))).toBe(false)
    mailbox.cancel(gone)
    expect(mailbox.waiting).toBe(1)
    expect(mailbox.wait(waiter('w3', log))).toBe(true) // the cancelled slot is reclaimed
    mailbox.shift()
    expect(log).toEqual(['admit w2'])
  })

  test('rejectWaiters rejects each live waiter once; clear reports what was dropped', () => {
    const log: string[] = []
    const mailbox = new Mailbox<string>(1)
    mailbox.offer('a')
    mailbox.wait(waiter('b', log))
    expect(mailbox.rejectWaiters(new Error('stopped'))).toBe(1)
    expect(mailbox.rejectWaiters(new Error('stopped'))).toBe(0)
    expect(log).toEqual(['reject b'])
    expect(mailbox.clear()).toBe(1)
    expect(mailbox.offer('c')).toBe(true)
  })
})
