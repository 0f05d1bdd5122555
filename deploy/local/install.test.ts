import { describe, expect, test } from 'bun:test'
import { isBatonError } from '../../actors/core/errors.ts'
import { ensurePrerequisites } from './install.ts'
import { PrerequisiteMissing } from './prerequisites.ts'

/** A program that is missing until its package is "installed". */
function program(what: string, aptPackage: string, installed: Set<string>) {
  return () => {
    if (!installed.has(aptPackage)) throw new PrerequisiteMissing(what, aptPackage, 'was not found')
  }
}

describe('ensurePrerequisites', () => {
  test('installs every missing package in one go, says what and why, and checks again', () => {
    const installed = new Set<string>(['redis-server'])
    const lines: string[] = []
    const runs: string[][] = []
    ensurePrerequisites(
      [
        program('Java 17+ (java)', 'openjdk-17-jre-headless', installed),
        program('Redis', 'redis-server', installed),
        program('PostgreSQL', 'postgresql', installed),
      ],
      (line) => lines.push(line),
      (packages) => {
        runs.push([...packages])
        for (const p of packages) installed.add(p)
      },
    )
    expect(runs).toEqual([['openjdk-17-jre-headless', 'postgresql']])
    expect(lines).toEqual([
      'installing openjdk-17-jre-headless postgresql with apt-get: Java 17+ (java), PostgreSQL missing, and this process runs as root',
    ])
  })

  test('without an installer (not root, or no apt-get) it stops with the install line, as before', () => {
    const check = program('Redis (redis-server)', 'redis-server', new Set())
    let thrown: unknown
    try {
      ensurePrerequisites([check], () => {}, null)
    } catch (err) {
      thrown = err
    }
    expect(isBatonError(thrown, 'PREREQUISITE_MISSING')).toBe(true)
    expect((thrown as Error).message).toContain('apt-get install -y redis-server')
  })

  test('a program still missing after the install stops start-up; nothing is installed when nothing is missing', () => {
    const runs: string[][] = []
    const never = program('Apache Maven (mvn)', 'maven', new Set())
    expect(() =>
      ensurePrerequisites(
        [never],
        () => {},
        (p) => runs.push([...p]),
      ),
    ).toThrow('apt-get install -y maven')
    ensurePrerequisites(
      [() => {}],
      () => {},
      (p) => runs.push([...p]),
    )
    expect(runs).toEqual([['maven']])
  })
})
