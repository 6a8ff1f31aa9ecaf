// What changed in a window, computed from the data: error-rate spikes, brand-new error patterns,
// fast-growing patterns and services gone quiet. Every number is read from an existing /v1 endpoint
// through ask() (never SQL of its own), so each insight cites the requests it rests on and anyone
// can re-run them. A model may add a narrative to each insight; it never supplies a number, and
// without it (no key, over budget, bad output) the insights are the same.
//
//   GET /v1/ai/insights?service=&from=&to=&tenant=&narrative=true|false
//     → { window, tenant, insights: [{ kind, severity, service, title, detail, evidence, queries,
//         narrative }], queries, narrative: { source, model, reason }, cached }
import { createHash } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { formatNs } from '@sluice/core'
import type { Registry, ZodTypeProvider } from '@sluice/observability'
import { scopeFields, timeWindow, windowStart } from '../selection.js'
import { QueryAccess } from '../tenancy.js'
import type { Ask, Asked, ExecutedQuery } from './ask.js'
import { aiRead } from './search.js'
import { answerMetrics } from './answer.js'
import { TtlCache } from './answer-cache.js'
import type { AiFailure, AiModel } from './model.js'
import type { PatternRow } from './run.js'
import { DATA_RULES, clip, ungrounded, userMessage } from './prompt.js'

// ---- thresholds -----------------------------------------------------------------------------------

/** A rate must at least double to be a spike: smaller moves are within the noise of minute counts. */
export const SPIKE_MIN_RATIO = 2
/** Below 1 % a doubled rate is a handful of records in most services, not news. */
export const SPIKE_MIN_RATE = 0.01
/** Fewer errors than this make a rate out of chance (3 of 100 is 3 %, and says nothing). */
export const SPIKE_MIN_ERRORS = 10
/** The rate the overview calls degraded by default (QUERY_SERVICE_DEGRADED_ERROR_RATE): critical from here. */
export const SPIKE_CRITICAL_RATE = 0.05
/** Growth worth reporting: twice the records of the window before (what /v1/patterns calls rising). */
export const GROWTH_MIN_RATIO = 2
/** A template with fewer records than this grows by chance (1 → 3 is "×3"). */
export const GROWTH_MIN_COUNT = 10
/**
 * Insights sent to the model for narratives; the rest keep none. A narrative of two sentences is
 * some 80 completion tokens: ten fit the default QUERY_AI_MAX_TOKENS (1024), which caps every call.
 */
export const MAX_NARRATED = 10
const TOKENS_PER_NARRATIVE = 90
/** Log text (templates, samples) handed to the model is cut to this. */
const MODEL_TEXT_CHARS = 200
const NARRATIVE_MAX_CHARS = 600
/** Answers kept in the cache at most; the oldest goes first. */
const CACHE_MAX_ENTRIES = 256
const DEFAULT_WINDOW_MS = 3_600_000
const MS = 1_000_000n
const MINUTE_NS = 60_000_000_000n

// ---- the answers read (the fields used, as overview.ts answers them) ------------------------------

export interface TrendsAnswer {
  services: Array<{ service: string; total: number; errors: number }>
}
export interface PatternsAnswer {
  patterns: PatternRow[]
}
export interface ServicesAnswer {
  now: string
  down_after_ms: number
  services: Array<{ service: string; status: string; reasons: string[]; last_seen: string | null; silent_ms: number | null }>
}

// ---- insights ---------------------------------------------------------------------------------------

export const SEVERITIES = ['critical', 'warning', 'info'] as const
export type Severity = (typeof SEVERITIES)[number]

interface Base<K extends string, E> {
  kind: K
  severity: Severity
  service: string
  title: string
  detail: string
  /** Numbers (and names) straight from the answers of `queries`. */
  evidence: E
  queries: ExecutedQuery[]
  narrative: string | null
}
export type Insight =
  | Base<'error_rate_spike', { errors: number; total: number; error_rate: number; previous_errors: number; previous_total: number; previous_error_rate: number; ratio: number | null }>
  | Base<'new_error_pattern', { pattern_id: string; template: string | null; sample: string | null; errors: number; count: number; first_seen: string; last_seen: string }>
  | Base<'growing_pattern', { pattern_id: string; template: string | null; count: number; previous: number; growth: number | null; errors: number }>
  | Base<'service_quiet', { last_seen: string; silent_ms: number | null; down_after_ms: number; reasons: string[] }>

const pct = (rate: number) => `${(rate * 100).toFixed(1)} %`
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`

/** Services whose error rate at least doubled against the window before, to ≥ 1 % with ≥ 10 errors. */
export function errorRateSpikes(current: TrendsAnswer, previous: TrendsAnswer, queries: ExecutedQuery[]): Insight[] {
  const before = new Map(previous.services.map((s) => [s.service, s]))
  return current.services.flatMap((s): Insight[] => {
    const rate = s.total > 0 ? s.errors / s.total : 0
    const p = before.get(s.service) ?? { total: 0, errors: 0 }
    const prevRate = p.total > 0 ? p.errors / p.total : 0
    if (s.errors < SPIKE_MIN_ERRORS || rate < SPIKE_MIN_RATE || rate < SPIKE_MIN_RATIO * prevRate) return []
    const ratio = prevRate > 0 ? rate / prevRate : null
    return [
      {
        kind: 'error_rate_spike',
        severity: rate >= SPIKE_CRITICAL_RATE ? 'critical' : 'warning',
        service: s.service,
        title: `${s.service}: error rate ${pct(rate)}, was ${pct(prevRate)}`,
        detail: `${plural(s.errors, 'error')} of ${plural(s.total, 'record')} in the window; ${plural(p.errors, 'error')} of ${plural(p.total, 'record')} in the window before${ratio === null ? '' : ` (×${ratio.toFixed(1)})`}.`,
        evidence: { errors: s.errors, total: s.total, error_rate: rate, previous_errors: p.errors, previous_total: p.total, previous_error_rate: prevRate, ratio },
        queries,
        narrative: null,
      },
    ]
  })
}

/** Templates first seen inside the window that logged errors. */
export function newErrorPatterns(answer: PatternsAnswer, queries: ExecutedQuery[]): Insight[] {
  return answer.patterns
    .filter((p) => p.trend === 'new' && p.errors > 0)
    .map((p): Insight => ({
      kind: 'new_error_pattern',
      severity: 'warning',
      service: p.service,
      title: `${p.service}: new error pattern, ${plural(p.errors, 'error')}`,
      detail: `A template first seen at ${p.first_seen} logged ${plural(p.errors, 'error')} in ${plural(p.count, 'record')}, the last at ${p.last_seen}.`,
      evidence: { pattern_id: p.pattern_id, template: p.template, sample: p.sample, errors: p.errors, count: p.count, first_seen: p.first_seen, last_seen: p.last_seen },
      queries,
      narrative: null,
    }))
}

/**
 * Known templates with at least twice the records of the window before (≥ 10 records). One with
 * none before but seen earlier (growth null) came back, and counts as grown.
 */
export function growingPatterns(answer: PatternsAnswer, queries: ExecutedQuery[]): Insight[] {
  return answer.patterns
    .filter((p) => p.trend === 'rising' && p.count >= GROWTH_MIN_COUNT && (p.growth === null || p.growth >= GROWTH_MIN_RATIO))
    .map((p): Insight => ({
      kind: 'growing_pattern',
      severity: p.errors > 0 ? 'warning' : 'info',
      service: p.service,
      title: p.growth === null ? `${p.service}: pattern back, ${plural(p.count, 'record')} (none before)` : `${p.service}: pattern ×${p.growth.toFixed(1)}, ${plural(p.count, 'record')}`,
      detail: `${plural(p.count, 'record')} in the window (${plural(p.errors, 'error')}), ${p.previous} in the window before.`,
      evidence: { pattern_id: p.pattern_id, template: p.template, count: p.count, previous: p.previous, growth: p.growth, errors: p.errors },
      queries,
      narrative: null,
    }))
}

/**
 * Services the overview calls down that did log in its lookback (a registered one that never did
 * is not a change). Critical when the last record falls inside the window: it stopped there.
 */
export function quietServices(answer: ServicesAnswer, windowFromNs: bigint, queries: ExecutedQuery[]): Insight[] {
  return answer.services.flatMap((s): Insight[] => {
    if (s.status !== 'down' || s.last_seen === null) return []
    const lastNs = BigInt(Date.parse(s.last_seen)) * MS
    return [
      {
        kind: 'service_quiet',
        severity: lastNs >= windowFromNs ? 'critical' : 'warning',
        service: s.service,
        title: `${s.service}: no logs since ${s.last_seen}`,
        detail: `Down as of ${answer.now}: ${s.reasons.join('; ')}.`,
        evidence: { last_seen: s.last_seen, silent_ms: s.silent_ms, down_after_ms: answer.down_after_ms, reasons: s.reasons },
        queries,
        narrative: null,
      },
    ]
  })
}

/**
 * How much an insight stands for, in records: the errors above the earlier rate, a new pattern's
 * errors, a template's added records. A silent service has no count (its records are what is
 * missing), so it ranks above every counted insight of its severity.
 */
function magnitude(x: Insight): number {
  switch (x.kind) {
    case 'error_rate_spike':
      return x.evidence.errors - x.evidence.previous_error_rate * x.evidence.total
    case 'new_error_pattern':
      return x.evidence.errors
    case 'growing_pattern':
      return x.evidence.count - x.evidence.previous
    case 'service_quiet':
      return Number.POSITIVE_INFINITY
  }
}

/** Critical first, then by magnitude; ties by service and title, so the order is stable. */
export function rankInsights(insights: Insight[]): Insight[] {
  const m = new Map(insights.map((x) => [x, magnitude(x)]))
  const cmp = (a: number, b: number) => (a === b ? 0 : a > b ? -1 : 1)
  return [...insights].sort(
    (a, b) => SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity) || cmp(m.get(a)!, m.get(b)!) || a.service.localeCompare(b.service) || a.title.localeCompare(b.title),
  )
}

// ---- reading the data ---------------------------------------------------------------------------------

export interface Window {
  service: string | undefined
  fromNs: bigint
  toNs: bigint
}

/** An inner request that did not answer 200: its status and body, to pass on or to fail with. */
export interface Refused {
  refused: Asked<{ error?: string; message?: string } | string>
}

/** Asks the endpoints (concurrently) and selects the insights, ranked, with every query made. */
export async function computeInsights(ask: Ask, w: Window): Promise<{ insights: Insight[]; queries: ExecutedQuery[] } | Refused> {
  const scope = { service: w.service, from: formatNs(w.fromNs), to: formatNs(w.toNs) }
  // The window before, of the same length: what "changed" is measured against. It starts at the
  // epoch at the earliest; a window starting there has none before it, nothing to ask.
  const previousFromNs = windowStart(w.fromNs, w.toNs - w.fromNs)
  const previous = { service: w.service, from: formatNs(previousFromNs), to: formatNs(w.fromNs) }
  const [now, before, errors, growth, services] = await Promise.all([
    ask<TrendsAnswer>('error rate per service in the window', '/v1/trends', scope),
    previousFromNs < w.fromNs ? ask<TrendsAnswer>('error rate per service in the window before', '/v1/trends', previous) : undefined,
    ask<PatternsAnswer>('templates with the most errors (new ones among them)', '/v1/patterns', { ...scope, sort: 'errors' }),
    ask<PatternsAnswer>('fastest-growing templates', '/v1/patterns', { ...scope, sort: 'growth' }),
    ask<ServicesAnswer>('service health (silent ones are down)', '/v1/services', { service: w.service }),
  ])
  const all = [now, ...(before ? [before] : []), errors, growth, services]
  const failed = all.find((a) => !a.ok)
  if (failed) return { refused: failed as Refused['refused'] }
  const insights = rankInsights([
    ...errorRateSpikes(now.body, before?.body ?? { services: [] }, before ? [now.query, before.query] : [now.query]),
    ...newErrorPatterns(errors.body, [errors.query]),
    ...growingPatterns(growth.body, [growth.query]),
    ...quietServices(services.body, w.fromNs, [services.query]),
  ])
  return { insights, queries: all.map((a) => a.query) }
}

// ---- the narrative --------------------------------------------------------------------------------------

export const narrativeSchema = z.object({
  narratives: z.array(z.object({ index: z.number().int().min(0), text: z.string().min(1).max(NARRATIVE_MAX_CHARS) })),
})

export const INSIGHTS_SYSTEM = `You explain to an on-call engineer what changed in an application's services, from insights a
log store computed. DATA holds the time window and the insights, each with an index, its kind, severity,
service, title and evidence (the numbers). For each insight write a narrative of one to three plain
sentences (at most ${NARRATIVE_MAX_CHARS} characters, shorter is better): what changed and why it may matter. Do not
restate every number; any number you use must be one from that insight's evidence.
Answer with one JSON object: {"narratives": [{"index": <the insight's index>, "text": "<narrative>"}]},
one entry per insight.

${DATA_RULES}`

export type NarrativeReason = AiFailure | 'not_requested' | 'no_insights' | 'ungrounded'
export interface NarrativeMeta {
  source: 'llm' | 'none'
  model: string | null
  reason: NarrativeReason | null
}

/** What the model is shown: the insights' titles and numbers, log text cut short (and redacted). */
function modelData(w: Window, insights: Insight[]) {
  return {
    window: { from: formatNs(w.fromNs), to: formatNs(w.toNs) },
    insights: insights.slice(0, MAX_NARRATED).map((x, index) => ({
      index,
      kind: x.kind,
      severity: x.severity,
      service: x.service,
      title: x.title,
      evidence: Object.fromEntries(Object.entries(x.evidence).map(([k, v]) => [k, typeof v === 'string' && (k === 'template' || k === 'sample') ? clip(v, MODEL_TEXT_CHARS) : v])),
    })),
  }
}

/**
 * One model call for every insight's narrative; the texts come back attached to copies of the
 * insights. A text stating a number the data does not hold is dropped (reason `ungrounded`).
 */
export async function narrate(model: AiModel, tenant: string, w: Window, insights: Insight[]): Promise<{ insights: Insight[]; meta: NarrativeMeta }> {
  if (!model.enabled) return { insights, meta: { source: 'none', model: null, reason: 'no_key' } }
  if (insights.length === 0) return { insights, meta: { source: 'none', model: null, reason: 'no_insights' } }
  const data = modelData(w, insights)
  const user = userMessage(null, data)
  // The content is part of the key: the same window asked again after late records arrived is a new question.
  const digest = createHash('sha256').update(user).digest('hex').slice(0, 16)
  const res = await model.json({
    tenant,
    purpose: 'insight',
    system: INSIGHTS_SYSTEM,
    user,
    schema: narrativeSchema,
    cacheKey: `insights:${tenant}:${w.service ?? '*'}:${minute(w.fromNs)}-${minute(w.toNs)}:${digest}`,
    maxTokens: 100 + TOKENS_PER_NARRATIVE * data.insights.length,
  })
  if (!res.ok) return { insights, meta: { source: 'none', model: null, reason: res.reason } }
  const texts = new Map<number, string>()
  let dropped = 0
  for (const n of res.value.narratives) {
    if (n.index >= data.insights.length || texts.has(n.index)) continue
    if (ungrounded([n.text], data).length > 0) dropped++
    else texts.set(n.index, n.text)
  }
  const attached = insights.map((x, i) => ({ ...x, narrative: texts.get(i) ?? null }))
  const reason = dropped > 0 ? 'ungrounded' : null
  return texts.size > 0 ? { insights: attached, meta: { source: 'llm', model: model.model, reason } } : { insights, meta: { source: 'none', model: null, reason: reason ?? 'bad_output' } }
}

// ---- the route ----------------------------------------------------------------------------------------------

export const insightsQuerySchema = z.strictObject({
  ...scopeFields,
  narrative: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
})

export interface InsightsDeps {
  /** The root instance: the /v1 endpoints are asked through it (app.inject). */
  app: FastifyInstance
  model: AiModel
  /** Where answers and fallbacks are counted (sluice_ai_answers_total, sluice_ai_fallbacks_total). */
  registry: Registry
  cacheTtlMs: number
  /** The tenant read when the request names none and its key does not decide. */
  defaultTenant: string
  /** The tenant rule and query limits (tenancy.ts); default: no limits. */
  access?: QueryAccess
  now?: () => number
}

export interface InsightsAnswer {
  window: { from: string; to: string }
  tenant: string
  insights: Insight[]
  queries: ExecutedQuery[]
  narrative: NarrativeMeta
  cached: boolean
}

const minute = (ns: bigint) => (ns / MINUTE_NS).toString()

export function registerInsights(api: FastifyInstance, deps: InsightsDeps): void {
  const now = deps.now ?? Date.now
  const cache = new TtlCache<InsightsAnswer>(CACHE_MAX_ENTRIES, deps.cacheTtlMs)
  const metrics = answerMetrics(deps.registry)
  const access = deps.access ?? new QueryAccess({ registry: deps.registry })
  api.withTypeProvider<ZodTypeProvider>().get(
    '/v1/ai/insights',
    { schema: { tags: ['ai'], summary: 'What changed in a window: error-rate spikes, new and growing patterns, silent services; each with the queries it rests on', querystring: insightsQuerySchema } },
    async (req, reply) => {
      const p = req.query
      const { tenant, ask } = aiRead(access, deps, req, reply, p.tenant)
      const nowMs = now()
      const { fromNs, toNs } = timeWindow(p.from, p.to ?? BigInt(nowMs) * MS, BigInt(DEFAULT_WINDOW_MS) * MS)
      const w: Window = { service: p.service, fromNs, toNs }
      // Per minute: a dashboard refreshing "the last hour" reads one computation per minute.
      const key = [tenant, p.service ?? '', minute(fromNs), minute(toNs), p.narrative].join('\u0000')
      const hit = cache.get(key, nowMs)
      if (hit) return { ...hit, cached: true }

      const computed = await computeInsights(ask, w)
      if ('refused' in computed) {
        const { status, body, query } = computed.refused
        // A 4xx is the request's (a range over the limit, an unknown service name's shape): the client's to fix.
        if (status >= 400 && status < 500 && typeof body === 'object') return reply.code(status).send({ error: body.error ?? 'VALIDATION_FAILED', message: body.message ?? `${query.url} answered ${status}` })
        throw new Error(`insights: ${query.url} answered ${status}`)
      }
      const narrated = p.narrative ? await narrate(deps.model, tenant, w, computed.insights) : { insights: computed.insights, meta: { source: 'none', model: null, reason: 'not_requested' } as const }
      metrics.answers.inc({ endpoint: 'insights', source: narrated.meta.source === 'llm' ? 'llm' : 'fallback' })
      if (narrated.meta.source !== 'llm') metrics.fallbacks.inc({ endpoint: 'insights', reason: narrated.meta.reason ?? 'unknown' })
      const answer: InsightsAnswer = { window: { from: formatNs(fromNs), to: formatNs(toNs) }, tenant, insights: narrated.insights, queries: computed.queries, narrative: narrated.meta, cached: false }
      // A failed narrative is not kept: the next request tries the model again (it caches its own answers).
      const narrativeFailed = p.narrative && narrated.meta.source === 'none' && narrated.meta.reason !== 'no_insights' && narrated.meta.reason !== 'no_key'
      if (!narrativeFailed) cache.set(key, answer, nowMs)
      return answer
    },
  )
}
