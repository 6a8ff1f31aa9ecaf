// End to end: gateway → Kafka → enricher → Kafka → clickhouse-sink → embedded ClickHouse, all in
// one child process (`--target all`, as `npm start` runs it; whatever targets the runner has),
// on fresh topics, consumer groups, database and data directory. Posts at full speed for a fixed
// time, then watches the sink's count of inserted rows (its /metrics every BENCH_E2E_POLL_MS:
// nothing for ClickHouse to do, ~8 ms of the process's CPU a scrape) until it reaches what the
// gateway acknowledged; the CPU window ends there. The stored count is then read from the query
// API (`GET /v1/stats`, which reads with FINAL, so re-delivered duplicates do not inflate it);
// while it is short of the acknowledged, it is polled until it reaches them or stops growing,
// and the last record's time is that poll's.
// Rate = stored / (first post → last record stored); loss = acknowledged − stored.
import { rmSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { TARGETS } from '@sluice/runner'
import { startChild } from '../child.js'
import type { SluiceChild } from '../child.js'
import { cpuMicrosPer, cpuWindow, kafkaBrokerPid, threadMicrosPer } from '../cpu.js'
import { runLoad } from '../loadgen.js'
import { SINK_STAGE, histogramCount, histogramMean, histogramSum, pickSluice, scrape } from '../metrics.js'
import { cpuRows } from '../section.js'
import type { Section, SectionResult } from '../section.js'
import type { Row } from '../table.js'
import { isolatedEnv, storedTotal } from '../isolation.js'

const SECTION = 'end to end'
/** prom-client's default metric of the main thread's GC pauses, by kind (minor: scavenges). */
const GC = 'nodejs_gc_duration_seconds'
export const E2E_TARGET_RECORDS_PER_S = 30_000
const insertedLogRows = (samples: Record<string, number>): number => samples['sluice_clickhouse_inserted_rows_total{table="logs"}'] ?? 0

export const endToEnd: Section = {
  name: 'e2e',
  async run(ctx): Promise<SectionResult> {
    const { config } = ctx
    const id = config.runId
    const dataDir = path.join(config.outDir, `e2e-${id}`)
    const env = isolatedEnv(ctx, 'e2e', dataDir)
    const topic = env.TOPIC_LOGS_RAW
    const common = { env, nodeArgs: config.childNodeArgs, startTimeoutMs: config.childStartTimeoutMs, stopTimeoutMs: config.childStopTimeoutMs }
    // Default: one process, as `npm start` runs it. Split (BENCH_E2E_SPLIT=1): the gateway in one
    // process, sink + query API in another, as production runs them — the comparison shows
    // what sharing one event loop costs.
    const consumers = TARGETS.filter((t) => t !== 'gateway')
    const layout = config.e2eSplit ? `gateway | ${consumers.join(',')}` : 'all'
    ctx.log(`e2e: starting ${layout} (embedded ClickHouse)`)
    const children: SluiceChild[] = []
    try {
      if (config.e2eSplit) {
        children.push(await startChild({ ...common, name: 'sluice (gateway)', targets: 'gateway', expect: ['gateway'] }))
        children.push(await startChild({ ...common, name: 'sluice (consumers)', targets: consumers.join(','), expect: consumers }))
      } else {
        children.push(await startChild({ ...common, name: 'sluice (all)', targets: 'all', expect: TARGETS }))
      }
      const urls: Record<string, string> = Object.assign({}, ...children.map((c) => c.urls))
      const gatewayUrl = urls.gateway!
      const queryUrl = urls['query-api']!
      const sinkUrl = urls['clickhouse-sink']!
      const exited = () => children.find((c) => c.exit)
      const before = await scrape(sinkUrl)
      ctx.log(`e2e: posting for ${config.e2eDurationS} s over ${config.connections} connections`)
      const endCpu = cpuWindow({ ...Object.fromEntries(children.map((c) => [c.name, c.pid])), 'kafka broker': kafkaBrokerPid() }, undefined, children.map((c) => c.name))
      const r = await runLoad({ url: gatewayUrl, bodies: ctx.bodies, connections: config.connections, durationMs: config.e2eDurationS * 1000 })
      if (r.ok === 0) throw new Error(`no request succeeded: ${r.firstError ?? 'unknown'}`)
      ctx.log(`e2e: ${r.accepted.toLocaleString('en-US')} records acknowledged; waiting for ClickHouse`)

      // The snapshot a query reads (or a scrape answers) is taken when it starts, so the send
      // time of the first poll that sees the final count bounds from above when the last record
      // became visible. The sink counts a row once its insert returned; a redelivered record
      // counts again, which only the FINAL count below sees through.
      const insertedBase = insertedLogRows(before)
      let stored = 0
      let storedAt = r.startedAt
      let lastGrowthAt = performance.now()
      let lastProgressLog = performance.now()
      let pollErrors = 0
      const pollMs: number[] = []
      const waitDeadline = performance.now() + config.e2eMaxWaitS * 1000
      let counting: 'inserted' | 'stored' = 'inserted'
      let cpu: ReturnType<typeof endCpu> | undefined
      for (;;) {
        const sentAt = performance.now()
        try {
          let total: number
          if (counting === 'inserted') {
            total = Math.min(r.accepted, insertedLogRows(await scrape(sinkUrl)) - insertedBase)
            if (total >= r.accepted) {
              cpu = endCpu()
              total = await storedTotal(queryUrl)
              if (total < r.accepted) {
                // Fewer stored than inserted: from here the FINAL count is what is watched.
                counting = 'stored'
                stored = 0
              }
            }
          } else total = await storedTotal(queryUrl)
          pollMs.push(performance.now() - sentAt)
          if (total > stored) {
            stored = total
            storedAt = sentAt
            lastGrowthAt = performance.now()
          }
        } catch (err) {
          if (++pollErrors > 20) throw new Error(`query API keeps failing: ${err instanceof Error ? err.message : String(err)}`)
        }
        const gone = exited()
        if (gone) throw new Error(`${gone.name} exited during the run (code ${gone.exit?.code})\n${gone.tail()}`)
        if (stored >= r.accepted) break
        if (performance.now() - lastGrowthAt > config.e2eSettleS * 1000) {
          ctx.log(`e2e: stored count stuck at ${stored} for ${config.e2eSettleS} s; giving up`)
          break
        }
        if (performance.now() > waitDeadline) {
          ctx.log(`e2e: still ${r.accepted - stored} records missing after ${config.e2eMaxWaitS} s; giving up`)
          break
        }
        if (performance.now() - lastProgressLog > 5000) {
          ctx.log(`e2e: ${stored.toLocaleString('en-US')} / ${r.accepted.toLocaleString('en-US')} ${counting}`)
          lastProgressLog = performance.now()
        }
        await sleep(config.e2ePollMs)
      }
      cpu ??= endCpu()
      // Gave up while still counting inserted rows: the stored count reported is FINAL's (a count
      // that reached the acknowledged one here already is).
      if (counting === 'inserted' && stored < r.accepted) stored = await storedTotal(queryUrl)
      const after = await scrape(sinkUrl)

      const toStoredS = (storedAt - r.startedAt) / 1000
      const lost = r.accepted - stored
      const flushRecords = histogramMean(before, after, 'sluice_consumer_flush_records', SINK_STAGE)
      const insertMs = histogramMean(before, after, 'sluice_clickhouse_insert_seconds')
      const rows: Row[] = [
        { section: SECTION, metric: 'records/s (first post → last stored)', value: stored / toStoredS, unit: 'records/s', target: { op: '>=', value: E2E_TARGET_RECORDS_PER_S } },
        { section: SECTION, metric: 'lost (acknowledged − stored)', value: lost, unit: 'records', target: { op: '<=', value: 0 } },
        // Every process of the pipeline: Sluice and the broker (the load generator excluded).
        { section: SECTION, metric: 'CPU µs per record, end to end (Sluice + broker)', value: cpuMicrosPer(cpu, [...children.map((c) => c.name), 'kafka broker'], stored), unit: 'µs/record', decimals: 1 },
        ...children.flatMap((c) => [
          { section: SECTION, metric: `  of which ${c.name}`, value: cpuMicrosPer(cpu, [c.name], stored), unit: 'µs/record', decimals: 1 },
          // Where a process's share goes: JavaScript (its main thread, the transform threads) or the embedded ClickHouse.
          ...threadMicrosPer(cpu, c.name, stored).map(([group, us]) => ({ section: SECTION, metric: `    ${group}`, value: us, unit: 'µs/record', decimals: 1 })),
        ]),
        { section: SECTION, metric: '  of which kafka broker', value: cpuMicrosPer(cpu, ['kafka broker'], stored), unit: 'µs/record', decimals: 1 },
        { section: SECTION, metric: 'process layout', value: layout },
        { section: SECTION, metric: 'acknowledged by the gateway', value: r.accepted, unit: 'records' },
        { section: SECTION, metric: 'stored in ClickHouse (FINAL)', value: stored, unit: 'records' },
        { section: SECTION, metric: 'gateway records/s while posting', value: r.accepted / r.elapsedS, unit: 'records/s' },
        { section: SECTION, metric: 'posting time', value: r.elapsedS, unit: 's', decimals: 1 },
        { section: SECTION, metric: 'drain after the last post', value: (storedAt - r.endedAt) / 1000, unit: 's', decimals: 1 },
        { section: SECTION, metric: 'request latency p50', value: r.latencyMs.p50, unit: 'ms', decimals: 1 },
        { section: SECTION, metric: 'request latency p99', value: r.latencyMs.p99, unit: 'ms', decimals: 1 },
        { section: SECTION, metric: 'non-2xx + network errors', value: r.non2xx + r.networkErrors, unit: 'requests' },
        { section: SECTION, metric: 'sink flushes', value: histogramCount(before, after, 'sluice_consumer_flush_records', SINK_STAGE), unit: 'flushes' },
        ...(flushRecords !== undefined ? [{ section: SECTION, metric: 'sink flush size (mean)', value: flushRecords, unit: 'records' }] : []),
        ...(insertMs !== undefined ? [{ section: SECTION, metric: 'ClickHouse insert (mean)', value: insertMs * 1000, unit: 'ms', decimals: 0 }] : []),
        // The main thread's garbage-collection pauses (prom-client's nodejs_gc_duration_seconds of
        // the sink's process: all of Sluice with --target all). V8 scavenges whenever 32 MB of new
        // Buffers have been allocated (its "external memory pressure"), however large the young
        // generation: Kafka I/O and row buffers set the pace of scavenges here, not JavaScript objects.
        { section: SECTION, metric: 'main-thread GC pauses, scavenges', value: (histogramSum(before, after, GC, '{kind="minor"}') * 1e6) / stored, unit: 'µs/record', decimals: 1 },
        { section: SECTION, metric: '  scavenges', value: histogramCount(before, after, GC, '{kind="minor"}'), unit: 'GCs' },
        { section: SECTION, metric: 'main-thread GC pauses, mark-compact', value: ((histogramSum(before, after, GC, '{kind="major"}') + histogramSum(before, after, GC, '{kind="incremental"}')) * 1e6) / stored, unit: 'µs/record', decimals: 1 },
        ...cpuRows(SECTION, cpu),
      ]
      return {
        rows,
        detail: { layout, topic, dataDir, load: r, stored, storedAtS: toStoredS, lost, pollMs, pollErrors, cpu, metrics: { before: pickSluice(before), after: pickSluice(after) } },
      }
    } finally {
      await Promise.all(children.map((c) => c.stop()))
      if (!config.keepData) rmSync(dataDir, { recursive: true, force: true })
    }
  },
}
