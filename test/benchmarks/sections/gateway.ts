// Gateway ingest: the gateway alone in a child process (`sluice run --target gateway`) producing
// to a fresh topic, loaded over N keep-alive connections with NDJSON batches. Counted: records
// acknowledged (sum of `accepted` in 2xx answers) per second of the measured window, request body
// bytes, request latency and non-2xx answers. The headline is the ratio to the raw baseline.
import path from 'node:path'
import { startChild } from '../child.js'
import { cpuWindow, kafkaBrokerPid } from '../cpu.js'
import { benchKafka, topicRecordCount } from '../kafka.js'
import { runLoad } from '../loadgen.js'
import { histogramMean, pickSluice, scrape } from '../metrics.js'
import { MB, cpuRows } from '../section.js'
import type { Section, SectionResult } from '../section.js'
import type { Row } from '../table.js'
import { isolatedEnv } from '../isolation.js'

const SECTION = 'gateway ingest'
export const GATEWAY_TARGET_RECORDS_PER_S = 50_000
export const GATEWAY_TARGET_RATIO = 0.5

export const gatewayIngest: Section = {
  name: 'gateway',
  async run(ctx): Promise<SectionResult> {
    const { config } = ctx
    // The gateway ensures every topic of the runtime at start-up; fresh names keep it off the
    // stack's real topics. No ClickHouse is touched, so the data directory is never created.
    const env = isolatedEnv(ctx, 'gw', path.join(config.outDir, `gw-${config.runId}`))
    const topic = env.TOPIC_LOGS_RAW
    ctx.log('gateway: starting the gateway child')
    const child = await startChild({
      name: 'gateway',
      targets: 'gateway',
      expect: ['gateway'],
      env,
      nodeArgs: config.childNodeArgs,
      startTimeoutMs: config.childStartTimeoutMs,
      stopTimeoutMs: config.childStopTimeoutMs,
    })
    try {
      const url = child.urls.gateway!
      const load = { url, bodies: ctx.bodies, connections: config.connections }
      let warmAccepted = 0
      if (config.warmupS > 0) {
        ctx.log(`gateway: warming up ${config.warmupS} s`)
        warmAccepted = (await runLoad({ ...load, durationMs: config.warmupS * 1000 })).accepted
      }
      ctx.log(`gateway: posting for ${config.gatewayDurationS} s over ${config.connections} connections (${config.recordsPerRequest} records/request)`)
      const before = await scrape(url)
      const endCpu = cpuWindow({ gateway: child.pid, 'kafka broker': kafkaBrokerPid() })
      const r = await runLoad({ ...load, durationMs: config.gatewayDurationS * 1000 })
      const cpu = endCpu()
      const after = await scrape(url)
      if (child.exit) throw new Error(`gateway exited during the run (code ${child.exit.code})\n${child.tail()}`)
      if (r.ok === 0) throw new Error(`no request succeeded: ${r.firstError ?? 'unknown'}`)

      // Cross-check: every acknowledged record is in the topic (warm-up included), no more.
      const inTopic = await topicRecordCount(benchKafka(ctx.infra), topic)
      const recordsPerS = r.accepted / r.elapsedS
      const raw = ctx.figures.get('raw.recordsPerS')
      const produceMs = histogramMean(before, after, 'sluice_gateway_produce_seconds')
      const rows: Row[] = [
        { section: SECTION, metric: 'records/s', value: recordsPerS, unit: 'records/s', target: { op: '>=', value: GATEWAY_TARGET_RECORDS_PER_S } },
        raw
          ? { section: SECTION, metric: 'gateway / raw producer', value: recordsPerS / raw, unit: '×', decimals: 2, target: { op: '>=', value: GATEWAY_TARGET_RATIO } }
          : { section: SECTION, metric: 'gateway / raw producer', value: 'n/a (no raw baseline)' },
        { section: SECTION, metric: 'throughput (request bodies)', value: r.okBytes / MB / r.elapsedS, unit: 'MB/s', decimals: 1 },
        { section: SECTION, metric: 'request latency p50', value: r.latencyMs.p50, unit: 'ms', decimals: 1 },
        { section: SECTION, metric: 'request latency p99', value: r.latencyMs.p99, unit: 'ms', decimals: 1 },
        { section: SECTION, metric: 'requests (2xx)', value: r.ok, unit: 'requests' },
        { section: SECTION, metric: 'non-2xx + network errors', value: r.non2xx + r.networkErrors, unit: 'requests' },
        ...(produceMs !== undefined ? [{ section: SECTION, metric: 'produce wait per request (mean)', value: produceMs * 1000, unit: 'ms', decimals: 1 }] : []),
        { section: SECTION, metric: 'gateway CPU per record', value: ((cpu.processes.gateway ?? NaN) / 100 / recordsPerS) * 1e6, unit: 'µs/record', decimals: 1 },
        { section: SECTION, metric: 'records in topic − acknowledged', value: inTopic - (warmAccepted + r.accepted), unit: 'records' },
        ...cpuRows(SECTION, cpu),
      ]
      return { rows, detail: { topic, url, load: r, warmAccepted, inTopic, cpu, metrics: { before: pickSluice(before), after: pickSluice(after) } } }
    } finally {
      await child.stop()
    }
  },
}
