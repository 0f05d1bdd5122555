import type { NodeProcess } from '../../deploy/local/node-process.ts'

/** When every partition of a topic ran on a node, or how many did by the deadline. */
export interface PartitionsRunning {
  /** Seconds from `since` until the node ran all `partitions`; null when it did not by the deadline. */
  readonly allRunningSeconds: number | null
  /** The most partition actors seen running at once. */
  readonly maxRunning: number
}

interface ActorTree {
  readonly path: string
  readonly status: string
  readonly children: readonly ActorTree[]
}

/** Often enough to time a start to a quarter of a second; each poll serialises the node's whole tree. */
const POLL_MS = 250

/**
 * Polls the node's actor tree (GET /v1/actors) until `partitions` actors of `topic` report `running`
 * (a partition actor runs once it claimed its partition and started its feed), the node exits, or
 * `deadline` (performance.now()) passes. Times from `since`, the node's spawn.
 */
export async function watchPartitionsRunning(
  node: NodeProcess,
  token: string,
  topic: string,
  partitions: number,
  since: number,
  deadline: number,
): Promise<PartitionsRunning> {
  let maxRunning = 0
  while (performance.now() < deadline && node.proc.exitCode === null) {
    const running = await runningPartitions(node, token, topic)
    maxRunning = Math.max(maxRunning, running)
    if (running >= partitions) return { allRunningSeconds: (performance.now() - since) / 1000, maxRunning }
    await Bun.sleep(POLL_MS)
  }
  return { allRunningSeconds: null, maxRunning }
}

/** Partition actors of `topic` in state running; 0 while the node does not answer yet. */
async function runningPartitions(node: NodeProcess, token: string, topic: string): Promise<number> {
  try {
    const res = await fetch(`${node.url}/v1/actors`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(5_000),
    })
    if (!res.ok) return 0
    const topicActor = find((await res.json()) as ActorTree, `/node/coordinator/${topic}`)
    return topicActor?.children.filter((c) => c.status === 'running').length ?? 0
  } catch {
    // not listening yet, or too busy to answer in time: try again
    return 0
  }
}

function find(tree: ActorTree, path: string): ActorTree | undefined {
  if (tree.path === path) return tree
  for (const child of tree.children) {
    if (path.startsWith(`${child.path}/`) || child.path === path) return find(child, path)
  }
  return undefined
}
