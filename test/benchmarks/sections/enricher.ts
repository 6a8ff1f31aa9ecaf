// Enricher throughput in one process (decode → enrich → encode → produce, acks=all) beside a
// pass-through consumer → producer on the same broker in the same run: both drain the same
// pre-filled backlog into a fresh topic; rate = records out / time from ready to the last one.
// Rounds alternate the two (BENCH_ENRICHER_ROUNDS), and each side's best round is its figure.
import { drainInto, passThroughBaseline } from '../baseline.js'
import type { Drained } from '../baseline.js'
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
    const base = isolatedEnv(ctx, 'enricher', `${config.outDir}/enricher-${config.runId}`)
    const records = config.enricherRecords
    await fillRawTopic(ctx, base.TOPIC_LOGS_RAW, records)

    const baselines: Drained[] = []
    const enricherRuns: Drained[] = []
    for (let round = 0; round < config.enricherRounds; round++) {
      // Each round has its own groups and output topics over the one backlog.
      const env = round === 0 ? base : { ...isolatedEnv(ctx, `enricher${round}`, `${config.outDir}/enricher-${config.runId}-${round}`), TOPIC_LOGS_RAW: base.TOPIC_LOGS_RAW }
      ctx.log(`enricher: round ${round + 1}/${config.enricherRounds}, pass-through baseline`)
      baselines.push(await passThroughBaseline(ctx, { env, from: base.TOPIC_LOGS_RAW, group: `${env.ENRICHER_GROUP_ID}.passthrough`, records, round }))
      ctx.log(`enricher: round ${round + 1}/${config.enricherRounds}, enricher alone`)
      const enr = await startChild({
        name: 'sluice (enricher)',
        targets: 'enricher',
        expect: ['enricher'],
        env,
        nodeArgs: config.childNodeArgs,
        startTimeoutMs: config.childStartTimeoutMs,
        stopTimeoutMs: config.childStopTimeoutMs,
      })
      enricherRuns.push(await drainInto(ctx, enr, env.TOPIC_LOGS_ENRICHED, records).finally(() => enr.stop()))
    }
    const best = (runs: Drained[]) => runs.reduce((a, b) => (b.recordsPerS > a.recordsPerS ? b : a))
    const baseline = best(baselines)
    const enriched = best(enricherRuns)
    const rounds = (runs: Drained[]) => runs.map((r) => Math.round(r.recordsPerS).toLocaleString('en-US')).join(' · ')

    const rows: Row[] = [
      { section: SECTION, metric: 'records/s (decode → enrich → encode → produce)', value: enriched.recordsPerS, unit: 'records/s', target: { op: '>=', value: 40_000 } },
      { section: SECTION, metric: 'pass-through consumer → producer records/s', value: baseline.recordsPerS, unit: 'records/s' },
      { section: SECTION, metric: 'enricher / pass-through', value: enriched.recordsPerS / baseline.recordsPerS, unit: '×', decimals: 2, target: { op: '>=', value: 0.6 } },
      { section: SECTION, metric: '  enricher, each round (best above)', value: rounds(enricherRuns), unit: 'records/s' },
      { section: SECTION, metric: '  pass-through, each round (best above)', value: rounds(baselines), unit: 'records/s' },
      { section: SECTION, metric: 'missing (in − enriched out), worst round', value: records - Math.min(...enricherRuns.map((r) => r.out)), unit: 'records', target: { op: '<=', value: 0 } },
      ...cpuRows(`${SECTION} (enricher)`, enriched.cpu),
      ...cpuRows(`${SECTION} (pass-through)`, baseline.cpu),
    ]
    return { rows, detail: { records, baselines, enricherRuns } }
  },
}
