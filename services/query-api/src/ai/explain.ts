// GET /v1/ai/explain?session_id=…: what happened in one user's session, why it failed, how to fix
// it and who else it hit — from the session's timeline (/v1/sessions/{id}) and the blast radius of
// its first error's pattern from a day before the session until now; the model's wording when it
// is grounded.
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { Category } from '@sluice/core'
import type { ZodTypeProvider } from '@sluice/observability'
import { scopeFields, time } from '../selection.js'
import { QueryAccess } from '../tenancy.js'
import { RUNBOOK, answerMetrics, word } from './answer.js'
import type { Wording } from './answer.js'
import type { ExecutedQuery } from './ask.js'
import type { BlastBody, LogRow } from './run.js'
import { aiRead } from './search.js'
import type { AiRouteDeps } from './search.js'

const explainQuery = z.strictObject({
  session_id: z.string().min(1).max(256),
  from: time.optional(),
  to: time.optional(),
  tenant: scopeFields.tenant,
})

interface SessionBody {
  session_id: string
  user_ids: string[]
  services: string[]
  first_seen: string
  last_seen: string
  duration_ms: number
  event_count: number
  error_count: number
  first_error: (LogRow & { id: string }) | { id: string } | null
  events: LogRow[]
}

const TIMELINE = 50

export function registerExplain(api: FastifyInstance, deps: AiRouteDeps): void {
  const metrics = answerMetrics(deps.registry)
  const access = deps.access ?? new QueryAccess({ registry: deps.registry })
  api.withTypeProvider<ZodTypeProvider>().get(
    '/v1/ai/explain',
    { schema: { tags: ['ai'], summary: "A session's story: what happened, why it failed, how to fix it, and who else it hit", querystring: explainQuery } },
    async (req, reply) => {
      const q = req.query
      const { tenant, ask } = aiRead(access, deps, req, reply, q.tenant)
      const queries: ExecutedQuery[] = []
      const session = await ask<SessionBody>('the session timeline', `/v1/sessions/${encodeURIComponent(q.session_id)}`, { from: q.from, to: q.to, limit: 500 })
      queries.push(session.query)
      if (!session.ok) return reply.code(session.status).send(session.body)
      const s = session.body
      const firstError = s.first_error !== null && 'message' in s.first_error ? s.first_error : null
      let blast: BlastBody | null = null
      if (firstError !== null) {
        // Who else the same error hit: its pattern from a day before the session until now.
        const from = new Date(Date.parse(s.first_seen) - 86_400_000).toISOString()
        const b = await ask<BlastBody>('who else the first error hit (its pattern, from a day before the session until now)', '/v1/blast-radius', { pattern_id: firstError.pattern_id, from })
        queries.push(b.query)
        blast = b.ok ? b.body : null
      }
      const draft = draftStory(s, firstError, blast)
      const timeline = s.events.slice(0, TIMELINE).map((e) => ({ timestamp: e.timestamp, service: e.service, level: e.severity_text, message: e.message, error_code: e.error_code }))
      const impact = {
        session: { events: s.event_count, errors: s.error_count, duration_ms: s.duration_ms, services: s.services, users: s.user_ids },
        error: blast === null ? null : { occurrences: blast.occurrences, affectedUsers: blast.affected_users, affectedSessions: blast.affected_sessions, firstSeen: blast.first_seen, lastSeen: blast.last_seen },
      }
      const worded = await word(deps.model, metrics, {
        tenant,
        endpoint: 'explain',
        purpose: 'explain',
        question: `Explain what happened in session ${s.session_id} and why it failed.`,
        data: { session: { ...impact.session, first_seen: s.first_seen, last_seen: s.last_seen }, first_error: firstError && pick(firstError), same_error_elsewhere: impact.error, timeline },
        draft,
        cacheKey: `${s.session_id}|${s.last_seen}|${s.event_count}`,
      })
      return {
        session_id: s.session_id,
        story: worded.wording.answer,
        why: worded.wording.rootCause,
        suggestedFixes: worded.wording.suggestedFixes,
        impact,
        firstError: firstError && pick(firstError),
        timeline,
        truncated: s.events.length > TIMELINE,
        queries,
        source: worded.source,
        fallbackReason: worded.fallbackReason,
        model: worded.model,
      }
    },
  )
}

const pick = (e: LogRow) => ({ timestamp: e.timestamp, service: e.service, level: e.severity_text, message: e.message, template: e.template, pattern_id: e.pattern_id, category: e.category, error_code: e.error_code })

/** The deterministic story of a session. */
export function draftStory(s: SessionBody, firstError: LogRow | null, blast: BlastBody | null): Wording {
  const who = s.user_ids.length > 0 ? ` of user ${s.user_ids.join(', ')}` : ''
  const parts = [`Session ${s.session_id}${who} had ${s.event_count} events over ${(s.duration_ms / 1000).toFixed(1)} s in ${s.services.join(', ')}, ${s.error_count} of them errors.`]
  if (firstError === null) return { answer: `${parts[0]} Nothing in it failed.`, rootCause: null, suggestedFixes: [] }
  const before = s.events.filter((e) => e.timestamp < firstError.timestamp).slice(-3)
  if (before.length > 0) parts.push(`Just before, it ${before.map((e) => `logged "${e.message}" in ${e.service}`).join(', then ')}.`)
  parts.push(`The first error was at ${firstError.timestamp} in ${firstError.service}: "${firstError.message}"${firstError.error_code ? ` (error code ${firstError.error_code})` : ''}.`)
  if (blast !== null && blast.occurrences > 0) parts.push(`From a day before this session until now, the same error occurred ${blast.occurrences} times, for ${blast.affected_users} users in ${blast.affected_sessions} sessions.`)
  const category = (firstError.category ?? 'unknown') as Category
  return {
    answer: parts.join(' '),
    rootCause: `"${firstError.template}" in ${firstError.service} (category ${category}).`,
    suggestedFixes: RUNBOOK[category] ?? RUNBOOK.unknown,
  }
}
