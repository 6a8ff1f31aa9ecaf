// Consumers alone, draining a pre-filled backlog into embedded ClickHouse in one process; rate =
// records stored / time, counted from the child being ready.
// - `drain`: a raw topic with N records as the gateway writes them (each its own UUIDv7, so
//   ClickHouse's deduplication keeps them all), drained by every target but the gateway (enricher,
//   clickhouse-sink, query-api, …): the consumers' capacity apart from the gateway's.
// - `sink`: an enriched topic with N records of the alerter bench's mix, drained by the ClickHouse
//   sink alone (query-api beside it only counts): one sink instance's capacity, the figure the
//   README's scaling guide divides by.
import { rmSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { TARGETS } from '@sluice/runner'
import { startChild } from '../child.js'
import { cpuWindow, kafkaBrokerPid } from '../cpu.js'
import { fillEnrichedTopic, fillRawTopic } from '../fill.js'
import { BENCH_TENANT } from '../enriched.js'
import { SINK_STAGE, histogramCount, histogramMean, pickSluice, scrape } from '../metrics.js'
import { cpuRows } from '../section.js'
import type { BenchContext, Section, SectionResult } from '../section.js'
import type { Row } from '../table.js'
import { isolatedEnv, storedTotal as storedCount } from '../isolation.js'

interface DrainSpec {
  name: string
  title: string
  targets: () => string[]
  /** Fills the topic the targets read and returns the tenant its records carry. */
  fill: (ctx: BenchContext, env: Record<string, string | undefined>, records: number) => Promise<string | undefined>
}

function drainSection(spec: DrainSpec): Section {
  const SECTION = spec.title
  return {
    name: spec.name,
    async run(ctx): Promise<SectionResult> {
      const { config } = ctx
      const dataDir = path.join(config.outDir, `${spec.name}-${config.runId}`)
      const env = isolatedEnv(ctx, spec.name, dataDir)
      const consumers = spec.targets()
      const tenant = await spec.fill(ctx, env, config.drainRecords)
      const topic = consumers.includes('enricher') ? env.TOPIC_LOGS_RAW : env.TOPIC_LOGS_ENRICHED
      const storedTotal = (url: string) => storedCount(url, tenant)

      ctx.log(`${spec.name}: starting ${consumers.join(', ')}`)
      const child = await startChild({
        name: 'sluice (consumers)',
        targets: consumers.join(','),
        expect: consumers,
        env,
        nodeArgs: config.childNodeArgs,
        startTimeoutMs: config.childStartTimeoutMs,
        stopTimeoutMs: config.childStopTimeoutMs,
      })
      try {
        const queryUrl = child.urls['query-api']!
        const sinkUrl = child.urls['clickhouse-sink']!
        // The consumer starts before the "listening" lines: whatever it stored by then is the
        // baseline, so start-up time never counts as drain time.
        const t0 = performance.now()
        const before = await scrape(sinkUrl)
        const stored0 = await storedTotal(queryUrl)
        const endCpu = cpuWindow({ [child.name]: child.pid, 'kafka broker': kafkaBrokerPid() }, 'bench (idle)')
        let stored = stored0
        let storedAt = t0
        let lastGrowthAt = performance.now()
        const deadline = performance.now() + config.e2eMaxWaitS * 1000
        while (stored < config.drainRecords) {
          if (child.exit) throw new Error(`consumers exited (code ${child.exit.code})\n${child.tail()}`)
          if (performance.now() - lastGrowthAt > config.e2eSettleS * 1000 || performance.now() > deadline) {
            ctx.log(`${spec.name}: stored count stuck at ${stored}; giving up`)
            break
          }
          await sleep(config.e2ePollMs)
          const sentAt = performance.now()
          const total = await storedTotal(queryUrl)
          if (total > stored) {
            stored = total
            storedAt = sentAt
            lastGrowthAt = performance.now()
          }
        }
        const cpu = endCpu()
        const after = await scrape(sinkUrl)
        const seconds = (storedAt - t0) / 1000
        const flushRecords = histogramMean(before, after, 'sluice_consumer_flush_records', SINK_STAGE)
        const insertMs = histogramMean(before, after, 'sluice_clickhouse_insert_seconds')
        const rows: Row[] = [
          { section: SECTION, metric: `records/s (${consumers.join(' + ')})`, value: (stored - stored0) / seconds, unit: 'records/s' },
          { section: SECTION, metric: 'missing (in topic − stored)', value: config.drainRecords - stored, unit: 'records', target: { op: '<=', value: 0 } },
          { section: SECTION, metric: 'stored before timing started', value: stored0, unit: 'records' },
          { section: SECTION, metric: 'sink flushes', value: histogramCount(before, after, 'sluice_consumer_flush_records', SINK_STAGE), unit: 'flushes' },
          ...(flushRecords !== undefined ? [{ section: SECTION, metric: 'sink flush size (mean)', value: flushRecords, unit: 'records' }] : []),
          ...(insertMs !== undefined ? [{ section: SECTION, metric: 'ClickHouse insert (mean)', value: insertMs * 1000, unit: 'ms', decimals: 0 }] : []),
          ...cpuRows(SECTION, cpu),
        ]
        return { rows, detail: { topic, stored0, stored, seconds, cpu, metrics: { before: pickSluice(before), after: pickSluice(after) } } }
      } finally {
        await child.stop()
        if (!config.keepData) rmSync(dataDir, { recursive: true, force: true })
      }
    },
  }
}

export const consumersDrain = drainSection({
  name: 'drain',
  title: 'consumers drain',
  targets: () => TARGETS.filter((t) => t !== 'gateway'),
  fill: async (ctx, env, records) => {
    await fillRawTopic(ctx, env.TOPIC_LOGS_RAW!, records)
    return undefined
  },
})

export const sinkDrain = drainSection({
  name: 'sink',
  title: 'sink drain',
  targets: () => ['clickhouse-sink', 'query-api'],
  fill: async (ctx, env, records) => {
    await fillEnrichedTopic(ctx, env.TOPIC_LOGS_ENRICHED!, records, { endMs: Date.now(), spanMs: 3_600_000 })
    return BENCH_TENANT
  },
})
