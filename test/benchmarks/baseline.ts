// The consumer sections' common yardstick: a pre-filled backlog drained by the pass-through child
// (passthrough.ts: the services' consumer runner and producer copying records untouched) into a
// scratch topic, timed the same way as a service draining the backlog into its output topic, so
// the ratio of the two in one run is the cost of the service's own per-record work.
import { setTimeout as sleep } from 'node:timers/promises'
import { startChild } from './child.js'
import type { SluiceChild } from './child.js'
import { cpuWindow, kafkaBrokerPid } from './cpu.js'
import { benchKafka, createTopic, topicRecordCount } from './kafka.js'
import type { BenchContext } from './section.js'

export type Drained = Awaited<ReturnType<typeof drainInto>>

// A drain lasts a few seconds: polling the end offsets every 50 ms keeps the error in the time of
// the last record (up to one interval) near 1 %.
const POLL_MS = 50

/** Rate = records that reached `topic` / time from now (the child is ready) to the last growth seen. */
export async function drainInto(ctx: BenchContext, child: SluiceChild, topic: string, records: number) {
  const kafka = benchKafka(ctx.infra)
  const t0 = performance.now()
  const endCpu = cpuWindow({ [child.name]: child.pid, 'kafka broker': kafkaBrokerPid() }, 'bench (idle)')
  let out = await topicRecordCount(kafka, topic).catch(() => 0)
  let at = t0
  let lastGrowth = t0
  while (out < records) {
    if (child.exit) throw new Error(`${child.name} exited (code ${child.exit.code})\n${child.tail()}`)
    if (performance.now() - lastGrowth > ctx.config.e2eSettleS * 1000) break
    await sleep(POLL_MS)
    const now = performance.now()
    const n = await topicRecordCount(kafka, topic).catch(() => out)
    if (n > out) {
      out = n
      at = now
      lastGrowth = now
    }
  }
  return { out, recordsPerS: out / ((at - t0) / 1000), cpu: endCpu() }
}

export interface PassThroughOptions {
  /** The section's isolated environment (brokers, log level). */
  env: Record<string, string | undefined>
  /** The pre-filled topic; the copies go to `<from>.passthrough`, deleted with the run's topics. */
  from: string
  group: string
  records: number
  /** Distinguishes repeated runs over the same backlog (each copies into its own topic). */
  round?: number
}

export async function passThroughBaseline(ctx: BenchContext, opts: PassThroughOptions) {
  const to = `${opts.from}.passthrough${opts.round ? `-${opts.round}` : ''}`
  ctx.topics.add(to).add(`${to}.dlq`)
  await createTopic(benchKafka(ctx.infra), to, ctx.config.partitions)
  const pass = await startChild({
    name: 'pass-through',
    targets: '',
    expect: ['passthrough'],
    script: ['test/benchmarks/passthrough.ts'],
    env: { ...opts.env, PASSTHROUGH_FROM: opts.from, PASSTHROUGH_TO: to, PASSTHROUGH_GROUP: opts.group },
    startTimeoutMs: ctx.config.childStartTimeoutMs,
    stopTimeoutMs: ctx.config.childStopTimeoutMs,
  })
  return drainInto(ctx, pass, to, opts.records).finally(() => pass.stop())
}
