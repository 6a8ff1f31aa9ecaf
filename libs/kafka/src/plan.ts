// Which stages share a runner. Stages of one process that read the same topics (the ClickHouse
// sink and the alerter, both on logs.enriched) share one consumer: each record is fetched once
// (and decoded once per distinct decoder), and a partition's offset is committed when every one
// of them has it durable. The shared consumer joins the group of the first of them (services are
// listed sink first), and a stateful stage resumes from its own checkpoint whatever the group, so
// splitting them into processes of their own later loses nothing. Live stages (ws-fanout) never
// share: each instance must see every partition.
import type { RecordDecoder, Stage } from './stage.js'

/** A stage and where it reads from, as a service declares it. */
export interface StageConsumer {
  stage: Stage<unknown, unknown>
  groupId: string
  topics: readonly string[]
  /** A decoder per topic; none: the stage reads the value bytes. */
  decoders?: Readonly<Record<string, RecordDecoder<unknown>>>
  /** From the latest offsets, never committing, never sharing. */
  live?: boolean
  sessionTimeoutMs?: number
  /** Chunks in flight; more keep a transform on other threads busy while the next batch is fetched. */
  chunksInFlight?: number
}

export interface RunnerPlan {
  /** The stages' names joined: the runner's label. */
  name: string
  groupId: string
  topics: readonly string[]
  live: boolean
  sessionTimeoutMs?: number
  chunksInFlight?: number
  stages: Array<{ stage: Stage<unknown, unknown>; decoders?: Readonly<Record<string, RecordDecoder<unknown>>> }>
}

function sameSource(a: StageConsumer, b: StageConsumer): boolean {
  if (a.live || b.live) return false
  const ta = [...a.topics].sort()
  const tb = [...b.topics].sort()
  return ta.length === tb.length && ta.every((t, i) => t === tb[i])
}

export function planRunners(consumers: readonly StageConsumer[]): RunnerPlan[] {
  const groups: StageConsumer[][] = []
  for (const c of consumers) {
    const group = groups.find((g) => sameSource(g[0]!, c))
    if (group) group.push(c)
    else groups.push([c])
  }
  return groups.map((g) => {
    const first = g[0]!
    const timeouts = g.flatMap((c) => (c.sessionTimeoutMs === undefined ? [] : [c.sessionTimeoutMs]))
    const inFlight = g.flatMap((c) => (c.chunksInFlight === undefined ? [] : [c.chunksInFlight]))
    return {
      name: g.map((c) => c.stage.name).join('+'),
      groupId: first.groupId,
      topics: first.topics,
      live: first.live ?? false,
      ...(timeouts.length > 0 && { sessionTimeoutMs: Math.min(...timeouts) }),
      ...(inFlight.length > 0 && { chunksInFlight: Math.max(...inFlight) }),
      stages: g.map((c) => ({ stage: c.stage, ...(c.decoders && { decoders: c.decoders }) })),
    }
  })
}
