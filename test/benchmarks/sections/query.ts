// Query API at scale: six Loki API questions and seven analyst questions (/v1) over a day of logs
// (10 M rows by default) in embedded ClickHouse, each beside the hand-written SQL answering it on
// the same client. Targets: every p99 under 500 ms; for the Loki questions, the API's median
// within 1.3× of the SQL's. Rows read are ClickHouse's
// SelectedRows/SelectedBytes for one execution. The dataset is generated once and cached under
// .cache/bench-query/ (query-dataset.ts); the work runs in a child process (query-child.ts),
// because chdb binds one data directory per process.
import { spawn } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { REPO_ROOT } from '../../infra/providers.js'
import type { CaseResult, ExportResult, QueryBenchResult, Reads } from '../query-child.js'
import { loadQueryBenchConfig } from '../query-config.js'
import { MB } from '../section.js'
import type { Section, SectionResult } from '../section.js'
import { formatNumber, percentile } from '../table.js'
import type { Row } from '../table.js'

const API_P99_TARGET_MS = 500
const RATIO_TARGET = 1.3

/** Runs the child to its end; killed after maxS, or with the bench process. */
function runChild(resultFile: string, maxS: number): Promise<void> {
  const proc = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'test/benchmarks/query-child.ts'], {
    cwd: REPO_ROOT,
    env: { ...process.env, BENCH_QUERY_RESULT: resultFile },
    // Its output is progress: to our stderr, since stdout carries the table.
    stdio: ['ignore', 2, 2],
  })
  const killNow = () => proc.kill('SIGKILL')
  process.once('exit', killNow)
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL')
      reject(new Error(`query child: not done within ${maxS} s (BENCH_QUERY_MAX_S)`))
    }, maxS * 1000)
    proc.on('error', (err) => reject(new Error(`query child: could not start: ${err.message}`)))
    proc.on('exit', (code, signal) => {
      clearTimeout(timer)
      process.removeListener('exit', killNow)
      if (code === 0) resolve()
      else reject(new Error(`query child exited (code ${code}, signal ${signal}); its output is above`))
    })
  })
}

const count = (n: number) => (n >= 1e6 && n % 1e5 === 0 ? `${n / 1e6}M` : n >= 1e3 && n % 100 === 0 ? `${n / 1e3}k` : String(n))
const megabytes = (bytes: number) => formatNumber(bytes / MB, bytes < 10 * MB ? 1 : 0)
const readText = (r: Reads) => `${formatNumber(r.rows)} rows · ${megabytes(r.bytes)} MB`

// Every metric names its question (`a.`), so a missed target reads on its own in the summary.
function caseRows(section: string, c: CaseResult): Row[] {
  const api = [...c.apiMs].sort((a, b) => a - b)
  const sql = [...c.sqlMs].sort((a, b) => a - b)
  const ms = (metric: string, values: number[], p: number, target?: number): Row => ({
    section,
    metric: `  ${c.id}. ${metric}`,
    value: values.length > 0 ? percentile(values, p) : 'n/a',
    unit: 'ms',
    decimals: 1,
    ...(target !== undefined ? { target: { op: '<=' as const, value: target } } : {}),
  })
  const figure = (n: number) => `${formatNumber(n)} ${c.unit}`
  const answer =
    c.apiFigure === undefined
      ? `SQL ${figure(c.sqlFigure)}`
      : Math.abs(c.apiFigure - c.sqlFigure) <= c.tolerance * c.sqlFigure
        ? `${figure(c.apiFigure)} = SQL`
        : `${figure(c.apiFigure)} ≠ SQL ${formatNumber(c.sqlFigure)}`
  const rows: Row[] = [{ section, metric: `${c.id}. ${c.title}`, value: answer }]
  if (c.apiError !== undefined) rows.push({ section, metric: `  ${c.id}. API error`, value: c.apiError.slice(0, 60) })
  rows.push(
    ms(`API p50 (${api.length} runs)`, api, 50),
    ms('API p99', api, 99, API_P99_TARGET_MS),
    ms(`SQL p50 (${sql.length} runs)`, sql, 50),
    ms('SQL p99', sql, 99),
    {
      section,
      metric: `  ${c.id}. API / SQL p50`,
      value: api.length > 0 ? percentile(api, 50) / percentile(sql, 50) : 'n/a',
      unit: '×',
      decimals: 2,
      ...(c.overheadTarget ? { target: { op: '<=' as const, value: RATIO_TARGET } } : {}),
    },
  )
  if (c.linesOnlyMs?.length) {
    const lines = [...c.linesOnlyMs].sort((a, b) => a - b)
    rows.push(
      ms('SQL p50, time/service/level/body only', lines, 50),
      { section, metric: `  ${c.id}. API / that SQL p50`, value: api.length > 0 ? percentile(api, 50) / percentile(lines, 50) : 'n/a', unit: '×', decimals: 2 },
    )
  }
  rows.push({ section, metric: `  ${c.id}. SQL read`, value: readText(c.sqlRead) })
  if (c.apiRead) {
    const n = c.apiQueries?.length ?? 0
    rows.push({ section, metric: `  ${c.id}. API read (${n} ${n === 1 ? 'query' : 'queries'})`, value: readText(c.apiRead) })
  }
  return rows
}

/** The export's rate, beside the same rows as one statement (a reference, not a target). */
function exportRows(section: string, e: ExportResult): Row[] {
  return [
    { section, metric: `export: ${e.title}`, value: e.rows / (e.ms / 1000), unit: 'records/s' },
    { section, metric: '  export: streamed', value: `${formatNumber(e.rows)} lines · ${megabytes(e.bytes)} MB in ${formatNumber(e.ms / 1000, 1)} s` },
    { section, metric: '  the same rows, one SQL statement (JSONEachRow, read whole)', value: e.sqlRows / (e.sqlMs / 1000), unit: 'records/s' },
  ]
}

export const querySection: Section = {
  name: 'query',
  async run(ctx): Promise<SectionResult> {
    const cfg = loadQueryBenchConfig()
    const resultFile = path.join(ctx.config.outDir, `query-${ctx.config.runId}.json`)
    ctx.log(`query: ${cfg.rows.toLocaleString('en-US')} rows, ${cfg.runs} timed runs per question (child process)`)
    try {
      await runChild(resultFile, cfg.maxS)
      const result = JSON.parse(readFileSync(resultFile, 'utf8')) as QueryBenchResult
      const { facts } = result
      const section = `query API (${count(facts.rows)} rows)`
      const logs = result.storage.logs
      const rows: Row[] = [
        result.generated
          ? { section, metric: 'dataset generated in', value: facts.generationS, unit: 's', decimals: 1 }
          : { section, metric: 'dataset', value: `cached since ${facts.generatedAt.slice(0, 16).replace('T', ' ')}Z` },
        ...(logs
          ? [
              { section, metric: 'logs table parts', value: logs.parts, unit: 'parts' },
              { section, metric: 'logs table on disk', value: logs.bytesOnDisk / MB, unit: 'MB', decimals: 0 },
            ]
          : []),
        ...result.cases.flatMap((c) => caseRows(section, c)),
        ...(result.export ? exportRows(section, result.export) : []),
      ]
      return { rows, detail: { ...result } }
    } finally {
      if (!ctx.config.keepData) rmSync(resultFile, { force: true })
    }
  },
}
