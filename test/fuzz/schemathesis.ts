// Schema-driven fuzzing of one HTTP service with Schemathesis (PyPI, in a virtualenv under .cache/
// made by test/infra/python-venv.sh): it reads the service's /openapi.json, generates requests from
// every operation's schemas — valid ones, and invalid ones (wrong types, missing fields, other
// methods and content types) — and records every exchange in an NDJSON report. This module runs it
// and counts, per operation, the requests sent, the 5xx answers, the answers that leak internals
// (a stack frame, a source path), and the failures of any other check asked for.
//
// The report: one JSON event per line; a `ScenarioFinished` event holds a `recorder` with the
// operation's `label` ("POST /v1/logs"), `interactions` {caseId: {request{method,uri,headers,body},
// response{status_code,content{$base64}}|null}} and `checks` {caseId: [{name,status}]}.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { pythonVenv } from '../infra/python.js'

export const FUZZ_REQUIREMENTS = 'test/fuzz/requirements.txt'

export interface FuzzOptions {
  /** The service's base URL; its document is at /openapi.json. */
  baseUrl: string
  /** Where the report goes (a directory, created). */
  reportDir: string
  /** Test cases per operation and phase (Schemathesis' --max-examples). */
  maxExamples: number
  seed: number
  /** Headers sent with every request (credentials). */
  headers?: Record<string, string>
  /** Checks besides not_a_server_error, counted but not failing the run. */
  extraChecks?: string[]
  phases?: string[]
  timeoutMs?: number
}

export interface Sample {
  method: string
  uri: string
  status: number | null
  contentType: string | undefined
  requestBody: string
  responseBody: string
}

export interface OperationFigures {
  operation: string
  requests: number
  serverErrors: number
  /** Answers that show a stack frame or a source path. */
  leaks: number
  /** Failures of the extra checks, by check name. */
  checkFailures: Record<string, number>
  /** A few of the requests answered 5xx (or leaking), to reproduce them. */
  samples: Sample[]
}

export interface FuzzFigures {
  operations: OperationFigures[]
  requests: number
  serverErrors: number
  leaks: number
  /** Exit code and last lines of Schemathesis' output, for a run that could not report. */
  exitCode: number | null
  output: string
}

/** What an answer must never show: a stack frame, a source file, an internal module path. */
export const LEAK = /\n\s+at \S|node_modules\/|\.(?:ts|js|mjs):\d+:\d+/

const decode = (v: unknown): string => {
  const b64 = (v as { $base64?: string } | undefined)?.$base64
  return b64 === undefined ? (typeof v === 'string' ? v : '') : Buffer.from(b64, 'base64').toString('utf8')
}

interface Interaction {
  request: { method: string; uri: string; headers?: Record<string, string[]>; body?: unknown }
  response: { status_code: number; headers?: Record<string, string[]>; content?: unknown } | null
}
interface Recorder {
  label: string
  interactions?: Record<string, Interaction>
  checks?: Record<string, Array<{ name: string; status: string }>>
}

/** The figures of an NDJSON report. */
export function readReport(file: string, checks: readonly string[] = []): Pick<FuzzFigures, 'operations' | 'requests' | 'serverErrors' | 'leaks'> {
  const ops = new Map<string, OperationFigures>()
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('{"ScenarioFinished"')) continue
    const recorder = (JSON.parse(line) as { ScenarioFinished: { recorder: Recorder } }).ScenarioFinished.recorder
    let op = ops.get(recorder.label)
    if (!op) ops.set(recorder.label, (op = { operation: recorder.label, requests: 0, serverErrors: 0, leaks: 0, checkFailures: {}, samples: [] }))
    for (const [id, i] of Object.entries(recorder.interactions ?? {})) {
      op.requests++
      const status = i.response?.status_code ?? null
      const body = decode(i.response?.content)
      const failed = status !== null && status >= 500
      const leaked = LEAK.test(body)
      if (failed) op.serverErrors++
      if (leaked) op.leaks++
      for (const c of recorder.checks?.[id] ?? []) {
        if (checks.includes(c.name) && c.status === 'failure') op.checkFailures[c.name] = (op.checkFailures[c.name] ?? 0) + 1
      }
      if ((failed || leaked) && op.samples.length < 3) {
        op.samples.push({
          method: i.request.method,
          uri: i.request.uri,
          status,
          contentType: i.request.headers?.['Content-Type']?.[0] ?? i.request.headers?.['content-type']?.[0],
          requestBody: decode(i.request.body).slice(0, 500),
          responseBody: body.slice(0, 500),
        })
      }
    }
  }
  const operations = [...ops.values()].sort((a, b) => a.operation.localeCompare(b.operation))
  const sum = (k: 'requests' | 'serverErrors' | 'leaks') => operations.reduce((n, o) => n + o[k], 0)
  return { operations, requests: sum('requests'), serverErrors: sum('serverErrors'), leaks: sum('leaks') }
}

/** Runs Schemathesis against one service and reads its report. */
export async function fuzzService(o: FuzzOptions): Promise<FuzzFigures> {
  const python = await pythonVenv('fuzz', FUZZ_REQUIREMENTS)
  mkdirSync(o.reportDir, { recursive: true })
  const report = path.join(o.reportDir, 'events.ndjson')
  const checks = ['not_a_server_error', ...(o.extraChecks ?? [])]
  const args = [
    '-m', 'schemathesis.cli', 'run', `${o.baseUrl}/openapi.json`,
    '--checks', checks.join(','),
    '--max-examples', String(o.maxExamples),
    '--seed', String(o.seed),
    '--phases', (o.phases ?? ['examples', 'coverage', 'fuzzing', 'stateful']).join(','),
    // One worker: the runtime shares the machine's cores with the fuzzer.
    '--workers', '1',
    '--suppress-health-check', 'all',
    '--no-shrink',
    '--continue-on-failure',
    '--request-timeout', '30',
    '--report', 'ndjson', '--report-ndjson-path', report,
    '--warnings', 'off',
    ...Object.entries(o.headers ?? {}).flatMap(([k, v]) => ['--header', `${k}: ${v}`]),
  ]
  const child = spawn(python, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: o.timeoutMs ?? 30 * 60_000, env: { ...process.env, NO_COLOR: '1' } })
  let output = ''
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-8000))
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  const [exitCode] = (await once(child, 'close')) as [number | null]
  let figures: ReturnType<typeof readReport>
  try {
    figures = readReport(report, o.extraChecks)
  } catch (err) {
    throw new Error(`schemathesis wrote no report (exit ${exitCode}): ${String(err)}\n${output}`, { cause: err })
  }
  return { ...figures, exitCode, output }
}

/** A plain table: service, operation, requests, 5xx, leaks, the extra checks' failures. */
export function figuresTable(rows: Array<{ run: string; service: string; figures: FuzzFigures }>, extraChecks: readonly string[] = []): string {
  const header = ['run', 'service', 'operation', 'requests', '5xx', 'leaks', ...extraChecks]
  const lines: string[][] = [header]
  for (const r of rows) {
    for (const op of r.figures.operations) lines.push([r.run, r.service, op.operation, String(op.requests), String(op.serverErrors), String(op.leaks), ...extraChecks.map((c) => String(op.checkFailures[c] ?? 0))])
  }
  const total = (k: 'requests' | 'serverErrors' | 'leaks') => String(rows.reduce((n, r) => n + r.figures[k], 0))
  const operations = rows.reduce((n, r) => n + r.figures.operations.length, 0)
  lines.push(['total', `${rows.length} runs`, `${operations} operations`, total('requests'), total('serverErrors'), total('leaks'), ...extraChecks.map((c) => String(rows.reduce((n, r) => n + r.figures.operations.reduce((m, o) => m + (o.checkFailures[c] ?? 0), 0), 0)))])
  const widths = header.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)))
  return lines.map((l) => l.map((c, i) => (i >= 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ')).join('\n')
}
