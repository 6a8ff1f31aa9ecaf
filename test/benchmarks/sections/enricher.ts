// Enricher throughput in one process (decode → enrich → encode → produce, acks=all) beside a
// pass-through consumer → producer on the same broker in the same run: both drain the same
// pre-filled backlog into a fresh topic; rate = records out / time from ready to the last one.
import { setTimeout as sleep } from 'node:timers/promises'
import { startChild } from '../child.js'
import type { SluiceChild } from '../child.js'
import { cpuWindow, kafkaBrokerPid } from '../cpu.js'
import { fillRawTopic } from '../fill.js'
import { isolatedEnv } from '../isolation.js'
import { benchKafka, createTopic, topicRecordCount } from '../kafka.js'
import { cpuRows } from '../section.js'
import type { BenchContext, Section, SectionResult } from '../section.js'
import type { Row } from '../table.js'

const SECTION = 'enricher'

async function drainInto(ctx: BenchContext, child: SluiceChild, topic: string, records: number) {
  const kafka = benchKafka(ctx.infra)
  const t0 = performance.now()
  const endCpu = cpuWindow({ [child.name]: child.pid, 'kafka broker': kafkaBrokerPid() }, 'bench (idle)')
  let out = await topicRecordCount(kafka, topic).catch(() => 0)
  let at = t0
  let lastGrowth = t0
  while (out < records) {
    if (child.exit) throw new Error(`${child.name} exited (code ${child.exit.code})\n${child.tail()}`)
    if (performance.now() - lastGrowth > ctx.config.e2eSettleS * 1000) break
    await sleep(250)
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

export const enricherSection: Section = {
  name: 'enricher',
  async run(ctx): Promise<SectionResult> {
    const { config } = ctx
    const env = isolatedEnv(ctx, 'enricher', `${config.outDir}/enricher-${config.runId}`)
    const records = config.drainRecords
    await fillRawTopic(ctx, env.TOPIC_LOGS_RAW, records)
    const kafka = benchKafka(ctx.infra)

    const passTopic = `${env.TOPIC_LOGS_RAW}.passthrough`
    ctx.topics.add(passTopic)
    await createTopic(kafka, passTopic, config.partitions)
    ctx.log('enricher: pass-through baseline')
    const pass = await startChild({
      name: 'pass-through',
      targets: '',
      expect: ['passthrough'],
      script: ['test/benchmarks/passthrough.ts'],
      env: { ...env, PASSTHROUGH_FROM: env.TOPIC_LOGS_RAW, PASSTHROUGH_TO: passTopic, PASSTHROUGH_GROUP: `${env.ENRICHER_GROUP_ID}.passthrough` },
      startTimeoutMs: config.childStartTimeoutMs,
      stopTimeoutMs: config.childStopTimeoutMs,
    })
    const baseline = await drainInto(ctx, pass, passTopic, records).finally(() => pass.stop())

    ctx.log('enricher: enricher alone')
    const enr = await startChild({
      name: 'sluice (enricher)',
      targets: 'enricher',
      expect: ['enricher'],
      env,
      nodeArgs: config.childNodeArgs,
      startTimeoutMs: config.childStartTimeoutMs,
      stopTimeoutMs: config.childStopTimeoutMs,
    })
    const enriched = await drainInto(ctx, enr, env.TOPIC_LOGS_ENRICHED, records).finally(() => enr.stop())

    const rows: Row[] = [
      { section: SECTION, metric: 'records/s (decode → enrich → encode → produce)', value: enriched.recordsPerS, unit: 'records/s', target: { op: '>=', value: 40_000 } },
      { section: SECTION, metric: 'pass-through consumer → producer records/s', value: baseline.recordsPerS, unit: 'records/s' },
      { section: SECTION, metric: 'enricher / pass-through', value: enriched.recordsPerS / baseline.recordsPerS, unit: '×', decimals: 2, target: { op: '>=', value: 0.6 } },
      { section: SECTION, metric: 'missing (in − enriched out)', value: records - enriched.out, unit: 'records', target: { op: '<=', value: 0 } },
      ...cpuRows(`${SECTION} (enricher)`, enriched.cpu),
      ...cpuRows(`${SECTION} (pass-through)`, baseline.cpu),
    ]
    return { rows, detail: { records, baseline, enriched } }
  },
}
