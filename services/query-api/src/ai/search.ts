// POST /v1/ai/search: a question in plain language → a plan (the model's, checked, or the
// fallback's) → the investigation (run.ts: patterns, trend, blast radius, records, through the
// /v1 endpoints) → the answer. Impact numbers are the investigation's; the text is the model's
// wording when it is grounded, the deterministic one otherwise; `queries` are the exact
// requests that produced every number, to re-run.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import type { Category } from '@sluice/core'
import type { Registry } from '@sluice/observability'
import type { ZodTypeProvider } from '@sluice/observability'
import { scopeFields, time, windowStart } from '../selection.js'
import { QueryAccess } from '../tenancy.js'
import { RUNBOOK, answerMetrics, pct, word } from './answer.js'
import type { Wording } from './answer.js'
import { askFor } from './ask.js'
import type { Ask } from './ask.js'
import type { AiModel } from './model.js'
import { PLAN_SYSTEM, checkModelPlan, fallbackPlan, planSchema } from './plan.js'
import type { Plan } from './plan.js'
import { userMessage } from './prompt.js'
import { investigate } from './run.js'
import type { Investigation } from './run.js'

export interface AiRouteDeps {
  /** The root app: the AI endpoints read through its /v1 routes. */
  app: FastifyInstance
  model: AiModel
  registry: Registry
  /** The tenant of requests that name none (and whose key does not decide). */
  defaultTenant: string
  /** The tenant rule and query limits (tenancy.ts); default: no limits. */
  access?: QueryAccess
  now?: () => number
}

/** The tenant of an AI request (tenancy.ts) and an `ask` reading as it, with the caller's credentials. */
export function aiRead(access: QueryAccess, deps: Pick<AiRouteDeps, 'app' | 'defaultTenant'>, req: FastifyRequest, reply: FastifyReply, param: string | undefined): { tenant: string; ask: Ask } {
  const { tenant } = access.open(req, reply, deps.defaultTenant, param)
  return { tenant, ask: askFor(deps.app, tenant, access.innerHeaders(req)) }
}

const MS = 1_000_000n
const DEFAULT_WINDOW_MIN = 60

export const searchBody = z.strictObject({
  question: z.string().trim().min(3).max(1000),
  from: time.optional(),
  to: time.optional(),
  service: z.string().min(1).max(256).optional(),
})

export function registerSearch(api: FastifyInstance, deps: AiRouteDeps): void {
  const metrics = answerMetrics(deps.registry)
  const access = deps.access ?? new QueryAccess({ registry: deps.registry })
  const now = deps.now ?? Date.now
  api.withTypeProvider<ZodTypeProvider>().post(
    '/v1/ai/search',
    {
      schema: {
        tags: ['ai'],
        summary: 'A question in plain language answered from the data: root cause, impact, fixes, relevant logs, and the queries that produced every number',
        body: searchBody,
        querystring: z.object({ tenant: scopeFields.tenant }),
      },
    },
    async (req, reply) => {
      const { tenant, ask } = aiRead(access, deps, req, reply, req.query.tenant)
      const body = req.body
      const nowMs = now()
      const known = await ask<{ services: Array<{ service: string }> }>('the services there are', '/v1/services', {})
      if (!known.ok) return reply.code(known.status).send(known.body)
      const services = known.body.services.map((s) => s.service)

      // The plan: the model's when it answers a valid one, the fallback's otherwise.
      let planSource: Plan['source'] = 'fallback'
      let planReason: string | null = null
      const notes: string[] = []
      let p = fallbackPlan(body.question, services, nowMs)
      if (deps.model.enabled) {
        const asked = await deps.model.json({
          tenant,
          purpose: 'plan',
          system: PLAN_SYSTEM,
          user: userMessage(body.question, { known_services: services, now: new Date(nowMs).toISOString() }),
          schema: planSchema,
          cacheKey: `${normalise(body.question)}|${services.join(',')}`,
        })
        if (asked.ok) {
          const checked = checkModelPlan(asked.value, services)
          notes.push(...checked.notes)
          p = checked.plan
          planSource = 'llm'
        } else planReason = `${asked.reason}: ${asked.detail}`
      }
      const toNs = body.to ?? ('window' in p && p.window ? BigInt(p.window.toMs) * MS : BigInt(nowMs) * MS)
      // "The last 99999999 hours" starts at the epoch (selection.ts, windowStart); a span past 2^53 ms would, too.
      const lastMs = Math.min((p.last_minutes ?? DEFAULT_WINDOW_MIN) * 60_000, Number.MAX_SAFE_INTEGER)
      const fromNs = body.from ?? ('window' in p && p.window ? BigInt(p.window.fromMs) * MS : windowStart(toNs, BigInt(lastMs) * MS))
      if (fromNs >= toNs) {
        const message = body.from === undefined ? `parameter to: must be after ${new Date(Number(fromNs / MS)).toISOString()}, where the question's time window starts` : 'parameter from: must be before to'
        return reply.code(400).send({ error: 'VALIDATION_FAILED', message })
      }
      const plan: Plan = { intent: p.intent, service: body.service ?? p.service, levels: p.levels, error_code: p.error_code, keywords: p.keywords, logql: p.logql, fromNs, toNs, source: planSource, notes }

      const found = await investigate(ask, plan)
      const failed = found.queries.find((q) => q.status === 400)
      if (failed && found.patterns.length === 0 && found.trend === null) {
        return reply.code(400).send({ error: 'VALIDATION_FAILED', message: `the question's search was refused: ${failed.url}`, queries: found.queries })
      }
      const impact = impactOf(found)
      const draft = draftAnswer(plan, found)
      const data = digest(plan, found, impact)
      const worded = await word(deps.model, metrics, {
        tenant,
        endpoint: 'search',
        purpose: 'answer',
        question: body.question,
        data,
        draft,
        cacheKey: `${normalise(body.question)}|${String(fromNs / 60_000_000_000n)}|${String(toNs / 60_000_000_000n)}|${found.top?.pattern_id ?? ''}|${impact.occurrences}`,
      })
      return {
        question: body.question,
        answer: worded.wording.answer,
        rootCause: worded.wording.rootCause,
        impact,
        suggestedFixes: worded.wording.suggestedFixes,
        relevantLogs: found.logs,
        topPatterns: found.patterns.slice(0, 5).map(({ pattern_id, service, template, count, previous, trend, first_seen, last_seen }) => ({ pattern_id, service, template, count, previous, trend, first_seen, last_seen })),
        trend: found.trend,
        plan: { ...plan, fromNs: undefined, toNs: undefined, from: new Date(Number(fromNs / MS)).toISOString(), to: new Date(Number(toNs / MS)).toISOString(), reason: planReason },
        queries: found.queries,
        source: worded.source,
        fallbackReason: worded.fallbackReason,
        model: worded.model,
      }
    },
  )
}

export interface Impact {
  occurrences: number
  affectedUsers: number
  affectedSessions: number
  services: string[]
  firstSeen: string | null
  lastSeen: string | null
}

/** Straight from the blast radius (of the top pattern or the error code). */
export function impactOf(found: Pick<Investigation, 'blast' | 'top'>): Impact {
  const b = found.blast
  if (b === null) return { occurrences: 0, affectedUsers: 0, affectedSessions: 0, services: [], firstSeen: null, lastSeen: null }
  const services = b.breakdown.service?.top.map((t) => t.value) ?? (found.top ? [found.top.service] : [])
  return { occurrences: b.occurrences, affectedUsers: b.affected_users, affectedSessions: b.affected_sessions, services, firstSeen: b.first_seen, lastSeen: b.last_seen }
}

/** The deterministic answer: what the investigation found, in sentences. */
export function draftAnswer(plan: Plan, found: Investigation): Wording {
  const where = plan.service ?? 'all services'
  const span = `between ${new Date(Number(plan.fromNs / MS)).toISOString()} and ${new Date(Number(plan.toNs / MS)).toISOString()}`
  const t = found.trend
  const top = found.top
  const impact = impactOf(found)
  if (top === null && impact.occurrences === 0) {
    const code = plan.error_code === null ? '' : ` with error code ${plan.error_code}`
    return { answer: `No ${plan.levels.join('/')} records${code} for ${where} ${span}${t ? ` (${t.records} records in all)` : ''}.`, rootCause: null, suggestedFixes: [] }
  }
  const parts: string[] = []
  if (t) parts.push(`${where} logged ${t.errors} error records ${span}, ${pct(t.error_rate)} of ${t.records}${t.peak ? `; the most in one ${t.step_seconds / 60}-minute bucket was ${t.peak.errors} at ${t.peak.t}` : ''}.`)
  const category = (found.logs[0]?.category ?? 'unknown') as Category
  let rootCause: string | null = null
  if (top) {
    const how = top.trend === 'new' ? 'new in this window' : top.trend === 'rising' ? `rising (${top.previous} in the window before)` : `${top.previous} in the window before`
    const matched = top.keyword_hits > 0 ? ` matching "${plan.keywords.filter((k) => `${top.template ?? ''} ${top.sample ?? ''} ${top.service}`.toLowerCase().includes(k)).join('", "')}"` : ''
    parts.push(`The top error pattern${matched} is "${top.template ?? top.pattern_id}" in ${top.service}: ${top.count} records, ${how}, first seen ${top.first_seen}.`)
    const share = t && t.errors > 0 ? `, ${pct(top.count / t.errors)} of the errors` : ''
    rootCause = `${top.service}: "${top.template ?? top.pattern_id}" (pattern ${top.pattern_id}, category ${category}${share}).`
  } else if (plan.error_code !== null) rootCause = `error code ${plan.error_code}${found.logs[0] ? ` in ${found.logs[0].service}` : ''}.`
  if (impact.occurrences > 0) {
    parts.push(`It occurred ${impact.occurrences} times, affecting ${impact.affectedUsers} users in ${impact.affectedSessions} sessions, in ${impact.services.join(', ') || 'one service'}, from ${impact.firstSeen} to ${impact.lastSeen}.`)
  }
  return { answer: parts.join(' '), rootCause, suggestedFixes: RUNBOOK[category] ?? RUNBOOK.unknown }
}

/** What the model sees: the plan, the numbers and the texts of the investigation (prompt.ts scrubs them). */
function digest(plan: Plan, found: Investigation, impact: Impact): Record<string, unknown> {
  return {
    selection: { service: plan.service, levels: plan.levels, error_code: plan.error_code, keywords: plan.keywords, from: new Date(Number(plan.fromNs / MS)).toISOString(), to: new Date(Number(plan.toNs / MS)).toISOString() },
    trend: found.trend,
    top_patterns: found.patterns.slice(0, 5).map((p) => ({ service: p.service, template: p.template, count: p.count, previous: p.previous, trend: p.trend, first_seen: p.first_seen })),
    impact,
    breakdown: found.blast?.breakdown ?? {},
    newest_records: found.logs.map((l) => ({ timestamp: l.timestamp, service: l.service, level: l.severity_text, category: l.category, error_code: l.error_code, message: l.message })),
    logql: found.logql,
  }
}

/** A question as a cache key: lower case, single spaces, no trailing punctuation. */
export function normalise(question: string): string {
  return question.toLowerCase().replace(/\s+/g, ' ').replace(/[?.!\s]+$/, '').trim()
}
