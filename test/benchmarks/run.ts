// `npm run bench`: brings the infrastructure up through the test harness's provider chain, runs
// the sections in order, prints one aligned table on stdout (progress goes to stderr) and writes
// everything to .local/bench/results.json. Exit code: non-zero when a section failed to run;
// a missed target is a ✗ in the table, not a failure.
//
// Sections are a plain list: add a module exporting a Section and append it to SECTIONS.
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { provideInfra } from '../infra/providers.js'
import { killAllNow, stopAll } from './child.js'
import { loadBenchConfig } from './config.js'
import { deleteTopics } from '../infra/topics.js'
import { benchKafka } from './kafka.js'
import { ndjsonBodies } from './records.js'
import type { BenchContext, Section, SectionResult } from './section.js'
import { alerterSection } from './sections/alerter.js'
import { consumersDrain, sinkDrain } from './sections/drain.js'
import { endToEnd } from './sections/e2e.js'
import { enricherSection } from './sections/enricher.js'
import { gatewayIngest } from './sections/gateway.js'
import { hotPaths } from './sections/hotpaths.js'
import { ingestProtocols } from './sections/protocols.js'
import { querySection } from './sections/query.js'
import { rawProducer } from './sections/raw.js'
import { wsFanout } from './sections/ws.js'
import { met, renderTable } from './table.js'
import type { Row } from './table.js'

// Order matters: the gateway section reads the raw baseline's figure.
const SECTIONS: readonly Section[] = [hotPaths, rawProducer, gatewayIngest, ingestProtocols, enricherSection, alerterSection, consumersDrain, sinkDrain, endToEnd, wsFanout, querySection]

interface SectionReport extends Partial<SectionResult> {
  name: string
  seconds: number
  error?: string
}

const log = (message: string) => process.stderr.write(`[bench] ${message}\n`)

async function main(): Promise<number> {
  const config = loadBenchConfig()
  mkdirSync(config.outDir, { recursive: true })
  const startedAt = new Date()
  log(`run ${config.runId}: bringing up infrastructure`)
  const infraHandle = await provideInfra()
  const { infra } = infraHandle
  log(`infrastructure (${infra.provider}): kafka ${infra.kafkaBrokers}, registry ${infra.registryUrl}`)

  const bodies = ndjsonBodies(config.bodyPool, config.recordsPerRequest, config.recordBytes)
  const recordCount = bodies.reduce((s, b) => s + b.records, 0)
  const avgRecordBytes = bodies.reduce((s, b) => s + b.body.length, 0) / recordCount
  const ctx: BenchContext = { config, infra, bodies, figures: new Map(), topics: new Set(), log }

  const selected = config.only.length > 0 ? SECTIONS.filter((s) => config.only.includes(s.name)) : SECTIONS
  const reports: SectionReport[] = []
  try {
    for (const section of selected) {
      const t0 = performance.now()
      try {
        const result = await section.run(ctx)
        reports.push({ name: section.name, seconds: (performance.now() - t0) / 1000, ...result })
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err)
        log(`section ${section.name} failed: ${message}`)
        reports.push({ name: section.name, seconds: (performance.now() - t0) / 1000, error: message })
      } finally {
        // A section that threw may have left a child behind; the next one starts clean.
        await stopAll()
      }
    }
  } finally {
    await stopAll()
    try {
      await deleteTopics(benchKafka(infra), [...ctx.topics], `bench-${config.runId}.`)
    } catch (err) {
      log(`could not delete the bench topics: ${err instanceof Error ? err.message : String(err)}`)
    }
    await infraHandle.stop()
  }

  const rows: Row[] = reports.flatMap((r) =>
    r.error ? [{ section: r.name, metric: 'FAILED', value: r.error.split('\n', 1)[0]!.slice(0, 160) }] : (r.rows ?? []),
  )
  const cpu = os.cpus()
  const header = [
    `Sluice benchmark ${startedAt.toISOString()} · ${cpu.length} × ${cpu[0]?.model.trim() ?? 'cpu'} · node ${process.version} · ${infra.provider} kafka ${infra.kafkaBrokers}`,
    `load: NDJSON, ${config.recordsPerRequest} records/request, ${avgRecordBytes.toFixed(0)} B/record avg, ${config.connections} keep-alive connections · ` +
      `raw ${config.rawDurationS} s per sendBatch size · gateway ${config.warmupS} s warm-up + ${config.gatewayDurationS} s · end to end ${config.e2eDurationS} s`,
  ]
  process.stdout.write(`\n${header.join('\n')}\n\n${renderTable(rows)}\n\n`)

  const failed = reports.filter((r) => r.error)
  const missed = rows.filter((r) => met(r) === false)
  writeFileSync(
    config.resultsFile,
    `${JSON.stringify(
      {
        startedAt: startedAt.toISOString(),
        runId: config.runId,
        machine: { cpus: cpu.length, model: cpu[0]?.model.trim(), memoryBytes: os.totalmem(), node: process.version, platform: `${os.platform()} ${os.release()}` },
        infra,
        config: { ...config, avgRecordBytes },
        rows: rows.map((r) => ({ ...r, met: met(r) })),
        sections: reports,
        summary: { failedSections: failed.map((r) => r.name), missedTargets: missed.map((r) => `${r.section}: ${r.metric}`) },
      },
      (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value),
      2,
    )}\n`,
  )
  process.stdout.write(`results: ${path.relative(process.cwd(), config.resultsFile)}\n`)
  if (missed.length > 0) process.stdout.write(`targets missed: ${missed.map((r) => `${r.section} ${r.metric}`).join('; ')}\n`)
  if (failed.length > 0) process.stdout.write(`FAILED sections: ${failed.map((r) => r.name).join(', ')}\n`)
  return failed.length > 0 ? 1 : 0
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    log(`${signal}: stopping the children`)
    void stopAll().finally(() => process.exit(130))
  })
}
process.on('exit', killAllNow)

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
    void stopAll().finally(() => process.exit(1))
  },
)
