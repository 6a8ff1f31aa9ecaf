// Enricher throughput in one process (decode → enrich → encode → produce, acks=all) beside a
// pass-through consumer → producer on the same broker in the same run: both drain the same
// pre-filled backlog into a fresh topic; rate = records out / time from ready to the last one.
import { drainInto, passThroughBaseline } from '../baseline.js'
import { startChild } from '../child.js'
import { fillRawTopic } from '../fill.js'
import { isolatedEnv } from '../isolation.js'
import { cpuRows } from '../section.js'
import type { Section, SectionResult } from '../section.js'
import type { Row } from '../table.js'

const SECTION = 'enricher'

export const enricherSection: Section = {
  name: 'enricher',
  async run(ctx): Promise<SectionResult> {
    const { config } = ctx
    const env = isolatedEnv(ctx, 'enricher', `${config.outDir}/enricher-${config.runId}`)
    const records = config.drainRecords
    await fillRawTopic(ctx, env.TOPIC_LOGS_RAW, records)

    ctx.log('enricher: pass-through baseline')
    const baseline = await passThroughBaseline(ctx, { env, from: env.TOPIC_LOGS_RAW, group: `${env.ENRICHER_GROUP_ID}.passthrough`, records })

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
