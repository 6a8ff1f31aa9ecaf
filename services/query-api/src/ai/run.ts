// The investigation a plan runs, through the /v1 endpoints (ask.ts), each query kept for the
// answer: the error patterns of the selection ranked by the plan's words, the error trend, the
// blast radius of the top pattern (or of the error code), and its newest records. Every number an
// answer states comes from one of these answers.
import { formatNs } from '@sluice/core'
import type { Ask, ExecutedQuery } from './ask.js'
import type { Plan } from './plan.js'

export interface PatternRow {
  pattern_id: string
  service: string
  template: string | null
  sample: string | null
  count: number
  errors: number
  previous: number
  growth: number | null
  trend: 'new' | 'rising' | 'falling' | 'steady'
  first_seen: string
  last_seen: string
}

interface TrendPoint {
  t: string
  total: number
  errors: number
  error_rate: number
}

export interface BlastBody {
  occurrences: number
  affected_users: number
  affected_sessions: number
  first_seen: string | null
  last_seen: string | null
  sample_users: string[]
  breakdown: Record<string, { distinct: number; top: Array<{ value: string; occurrences: number; users: number }> }>
}

export interface LogRow {
  id: string
  timestamp: string
  service: string
  severity_text: string
  message: string
  category: string
  pattern_id: string
  template: string
  user_id: string | null
  session_id: string | null
  error_code: string | null
  host: string | null
}

export interface TrendSummary {
  records: number
  errors: number
  error_rate: number
  step_seconds: number
  peak: TrendPoint | null
  /** The first bucket with errors. */
  first_errors_at: string | null
}

export interface Investigation {
  /** Error patterns of the selection, the plan's words first, then by count. */
  patterns: Array<PatternRow & { keyword_hits: number }>
  top: (PatternRow & { keyword_hits: number }) | null
  trend: TrendSummary | null
  blast: BlastBody | null
  logs: LogRow[]
  logql: Array<{ query: string; status: number; series: number; error: string | null }>
  queries: ExecutedQuery[]
}

const iso = (ns: bigint) => formatNs(ns)

export async function investigate(ask: Ask, plan: Plan): Promise<Investigation> {
  const queries: ExecutedQuery[] = []
  const window = { from: iso(plan.fromNs), to: iso(plan.toNs) }
  const level = plan.levels.join(',')
  const kept = <T>(a: { query: ExecutedQuery; ok: boolean; body: T }): T | null => {
    queries.push(a.query)
    return a.ok ? a.body : null
  }

  const patternsBody = kept(await ask<{ patterns: PatternRow[] }>('error patterns of the selection', '/v1/patterns', { service: plan.service ?? undefined, ...window, level, sort: 'errors', limit: 50 }))
  const patterns = rankPatterns(patternsBody?.patterns ?? [], plan.keywords)

  const trendBody = kept(await ask<{ step_seconds: number; services: Array<{ service: string; total: number; errors: number; points: TrendPoint[] }> }>('error trend', '/v1/trends', { service: plan.service ?? undefined, ...window }))
  const trend = trendBody === null ? null : summariseTrend(trendBody)

  let top = patterns[0] ?? null
  let blast: BlastBody | null = null
  let logs: LogRow[] = []
  if (plan.error_code !== null) {
    blast = kept(await ask<BlastBody>(`blast radius of error code ${plan.error_code}`, '/v1/blast-radius', { error_code: plan.error_code, ...window }))
    logs = kept(await ask<{ logs: LogRow[] }>(`newest records with error code ${plan.error_code}`, '/v1/logs', { error_code: plan.error_code, ...window, limit: 5 }))?.logs ?? []
    // The code's own template, when its records have one among the patterns.
    const pid = logs[0]?.pattern_id
    top = patterns.find((p) => p.pattern_id === pid) ?? top
  } else if (top !== null) {
    blast = kept(await ask<BlastBody>('blast radius of the top pattern', '/v1/blast-radius', { pattern_id: top.pattern_id, ...window }))
    logs = kept(await ask<{ logs: LogRow[] }>('newest records of the top pattern', '/v1/logs', { pattern_id: top.pattern_id, service: top.service, level, ...window, limit: 5 }))?.logs ?? []
  }

  const logql: Investigation['logql'] = []
  for (const query of plan.logql) {
    // Loki answers a refused query in plain text, which is kept as the error.
    const a = await ask<{ data?: { result?: unknown[] } } | string>('a LogQL query of the plan', '/loki/api/v1/query_range', { query, start: plan.fromNs, end: plan.toNs, limit: 20 })
    queries.push(a.query)
    const body = a.body
    logql.push({ query, status: a.status, series: a.ok && typeof body === 'object' ? (body.data?.result?.length ?? 0) : 0, error: a.ok ? null : typeof body === 'string' ? body.slice(0, 300) : JSON.stringify(body).slice(0, 300) })
  }
  return { patterns, top, trend, blast, logs, logql, queries }
}

/** Patterns whose template or sample holds more of the plan's words first; then by count. */
export function rankPatterns(patterns: PatternRow[], keywords: readonly string[]): Array<PatternRow & { keyword_hits: number }> {
  const words = keywords.map((k) => k.toLowerCase())
  return patterns
    .filter((p) => p.count > 0)
    .map((p) => {
      const text = `${p.template ?? ''} ${p.sample ?? ''} ${p.service}`.toLowerCase()
      return { ...p, keyword_hits: words.filter((w) => text.includes(w)).length }
    })
    .sort((a, b) => b.keyword_hits - a.keyword_hits || b.count - a.count || a.pattern_id.localeCompare(b.pattern_id))
}

export function summariseTrend(body: { step_seconds: number; services: Array<{ total: number; errors: number; points: TrendPoint[] }> }): TrendSummary {
  const points = new Map<string, TrendPoint>()
  let records = 0
  let errors = 0
  for (const s of body.services) {
    records += s.total
    errors += s.errors
    for (const p of s.points) {
      const q = points.get(p.t) ?? { t: p.t, total: 0, errors: 0, error_rate: 0 }
      q.total += p.total
      q.errors += p.errors
      points.set(p.t, q)
    }
  }
  const ordered = [...points.values()].sort((a, b) => (a.t < b.t ? -1 : 1))
  for (const p of ordered) p.error_rate = p.total > 0 ? p.errors / p.total : 0
  const peak = ordered.reduce<TrendPoint | null>((best, p) => (p.errors > 0 && (best === null || p.errors > best.errors) ? p : best), null)
  return { records, errors, error_rate: records > 0 ? errors / records : 0, step_seconds: body.step_seconds, peak, first_errors_at: ordered.find((p) => p.errors > 0)?.t ?? null }
}
