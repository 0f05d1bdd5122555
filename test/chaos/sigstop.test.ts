/**
 * Chaos scenario 5: a zombie. One node is frozen with SIGSTOP past the consumer group's session timeout,
 * while its batches are in flight; the group moves its partitions to the others, which take new epochs.
 * Then SIGCONT: the frozen node still believes it owns them and tries to commit what it held. Every such
 * commit must be fenced (none applied: the watermarks keep the new owners' epochs, and exactly-once
 * holds), and the node's `baton_fenced_commits_total` must count them. Shared services.
 */
import { afterEach, expect, test } from 'bun:test'
import postgres from 'postgres'
import type { ClusterView } from '../../cluster/cluster-view.ts'
import { until } from '../support/until.ts'
import { ChaosScenario, SESSION_TIMEOUT_MS } from './runner.ts'

const ids = ['baton-0', 'baton-1', 'baton-2']
let scenario: ChaosScenario | undefined

afterEach(async () => {
  await scenario?.cleanup()
  scenario = undefined
})

test('5: a node frozen (SIGSTOP) past the session timeout, then continued: its partitions moved, its late commits fenced and counted', async () => {
  scenario = await ChaosScenario.begin({
    id: '5-sigstop-zombie',
    title: `a node SIGSTOPped for the session timeout + 5 s, then SIGCONT`,
    // Batches of the frozen node stay open for up to 1 s, so it holds one when it is frozen.
    nodeEnv: { BATON_BATCH_MAX_WAIT_MS: '1000' },
  })
  const s = scenario
  const sql = postgres(s.env.DATABASE_URL, { max: 1, onnotice: () => {} })
  try {
    await s.startNodes(ids)
    s.startTraffic()
    await s.waitCommitted(3_000)
    const frozen = 'baton-1'
    const view = await s.get<ClusterView>(s.node('baton-0').url, '/v1/cluster')
    const held = view.body.partitions.filter((p) => p.owner === frozen)
    expect(held.length).toBeGreaterThan(0)
    const fencedBefore = await s.fencedCommits(frozen)

    s.signal(frozen, 'SIGSTOP')
    const stoppedAt = performance.now()
    // The others take its partitions once its session timed out, each with a higher epoch.
    const moved = await until(
      "the frozen node's partitions owned by the others",
      SESSION_TIMEOUT_MS * 4,
      async () => {
        const { status, body } = await s.get<ClusterView>(s.node('baton-0').url, '/v1/cluster')
        if (status !== 200) return undefined
        const now = held.map((h) => body.partitions.find((p) => p.partition === h.partition))
        return now.every((p, i) => p?.owner && p.owner !== frozen && (p.epoch ?? 0) > (held[i]?.epoch ?? 0))
          ? now
          : undefined
      },
    )
    const movedAfter = performance.now() - stoppedAt
    // Frozen past the session timeout, with the others committing meanwhile.
    const rest = SESSION_TIMEOUT_MS + 5_000 - movedAfter
    if (rest > 0) await Bun.sleep(rest)
    const epochsWhileFrozen = await watermarkEpochs(
      sql,
      s,
      held.map((h) => h.partition),
    )

    s.signal(frozen, 'SIGCONT')
    const heldMs = performance.now() - stoppedAt
    const recovery = s.healed(`${frozen} frozen`, heldMs)
    // The zombie's late commits: refused, and counted on that node.
    const fenced = await until('the frozen node counting fenced commits', 30_000, async () => {
      const n = await s.fencedCommits(frozen).catch(() => 0)
      return n > fencedBefore ? n : undefined
    }).catch(() => 0)
    const epochsAfter = await watermarkEpochs(
      sql,
      s,
      held.map((h) => h.partition),
    )
    // What the zombie's log says: each of its actors that tried to commit failed FENCED.
    const fencedInLog = s
      .node(frozen)
      .output()
      .split('\n')
      .filter((l) => l.includes('"actor-failed"') && l.includes('"code":"FENCED"')).length
    s.notes.push(
      `${frozen} held partitions ${held.map((h) => `${h.partition}@${h.epoch}`).join(', ')}; moved to ` +
        `${moved.map((p) => `${p?.partition}:${p?.owner}@${p?.epoch}`).join(', ')} ${(movedAfter / 1000).toFixed(1)} s after SIGSTOP; ` +
        `frozen ${(heldMs / 1000).toFixed(1)} s; baton_fenced_commits_total on ${frozen}: ${fencedBefore} -> ${fenced}; ` +
        `${fencedInLog} partition actors failed FENCED in its log`,
    )
    console.info(`[5] ${s.notes.at(-1)}`)
    // None applied: no watermark went back to the zombie's epoch.
    for (const [p, epoch] of epochsAfter) {
      expect(epoch).toBeGreaterThanOrEqual(epochsWhileFrozen.get(p) ?? 0)
      expect(epoch).toBeGreaterThan(held.find((h) => h.partition === p)?.epoch ?? 0)
    }
    await recovery
    // The zombie did try to commit after SIGCONT, and was refused; the metric must say so.
    if (fencedInLog === 0)
      s.fail(`${frozen} logged no FENCED commit after SIGCONT: the test did not make a zombie commit`)
    if (fenced <= fencedBefore) {
      s.fail(
        `baton_fenced_commits_total on ${frozen} stayed at ${fenced} after SIGCONT, although ${fencedInLog} of its ` +
          'partition actors failed FENCED (see its log): fenced commits went uncounted (actors/partition/observer.ts, ' +
          'runtime/metrics.ts).',
      )
    }
    await s.flow(10_000)
    const result = await s.finish({ ids })
    expect(result.duplicates).toBe(0)
    expect(result.lost).toBe(0)
  } finally {
    await sql.end({ timeout: 5 })
  }
}, 300_000)

async function watermarkEpochs(
  sql: postgres.Sql,
  s: ChaosScenario,
  partitions: number[],
): Promise<Map<number, number>> {
  const rows = await sql<{ partition: number; epoch: string }[]>`
    select partition, epoch::text from baton_watermarks
    where group_id = ${s.group} and topic = ${s.topic} and partition = any(${partitions})`
  return new Map(rows.map((r) => [r.partition, Number(r.epoch)]))
}
