// Wording an answer: the deterministic one is always made first, from the data; a model may
// reword it when one is configured, from the same data only. The model's wording is used when
// it is valid and grounded — every quantity it states is in the data — and the deterministic
// answer is used, saying why, otherwise. Numbers in structured fields never come from a model.
import { z } from 'zod'
import type { Category } from '@sluice/core'
import type { Registry } from '@sluice/observability'
import { counter } from '@sluice/observability'
import type { AiModel, AiPurpose } from './model.js'
import { DATA_RULES, ungrounded, userMessage } from './prompt.js'

/** What to try first for an error of each category: the deterministic suggested fixes. */
export const RUNBOOK: Record<Category, string[]> = {
  database: ['Check the database for slow queries, lock waits and deadlocks around the first error.', 'Check the connection pool: exhaustion shows as timeouts on acquiring a connection.'],
  network: ['Check DNS resolution and connectivity from the failing hosts to the peer they call.', 'Look for connection resets or TLS handshake failures at a load balancer or proxy.'],
  timeout: ['Find which call exceeds its deadline: compare the upstream latency with the configured timeout.', 'Add or tune retries with backoff and a circuit breaker so a slow dependency does not cascade.'],
  auth: ['Check credentials, token expiry and clock skew for the failing callers.', 'Look for a recent change to permissions, keys or the identity provider.'],
  payment: ["Check the payment provider's status page and the decline codes in the failing records.", 'Compare with the last deploy of the payment integration (keys, endpoints, API version).'],
  resource: ['Check memory, disk and CPU of the affected hosts; look for OOM kills or full volumes.', 'Raise limits or scale out; look for a leak if usage grows until failure.'],
  security: ['Treat as a possible attack: check the source addresses and block abusive clients.', 'Review the affected accounts and rotate any exposed credentials.'],
  dependency: ['Check the health of the downstream service or third-party API named in the errors.', 'Degrade gracefully (cache, fallback) while the dependency is down.'],
  application: ['Read the stack traces of the newest records of the pattern; compare with the last deploy.', 'Roll back the last deploy if the errors started with it.'],
  unknown: ['Read the newest records of the pattern and their attributes to find the failing component.', 'Compare the start of the errors with deploys and configuration changes.'],
}

export const wordingSchema = z.object({
  answer: z.string().min(1).max(3000),
  rootCause: z.string().max(1500).nullable().default(null),
  suggestedFixes: z.array(z.string().min(1).max(500)).max(8).default([]),
})
export type Wording = z.output<typeof wordingSchema>

const ANSWER_SYSTEM = `You are an SRE assistant. Answer the QUESTION from the DATA only, as one JSON object:
{"answer": "<2-5 sentences: what is failing, since when, how much, and the most likely cause>",
 "rootCause": "<one sentence naming the pattern or error code the data points to, or null>",
 "suggestedFixes": ["<up to 5 concrete next steps an on-call engineer can take>"]}
Quote numbers exactly as DATA has them. DATA.draft is a correct answer you may reword and improve.
${DATA_RULES}`

export interface WordedAnswer {
  wording: Wording
  source: 'llm' | 'fallback'
  /** Why the fallback answered: the model's failure, or that its answer was ungrounded. */
  fallbackReason: string | null
  model: string | null
}

export function answerMetrics(registry: Registry) {
  return {
    answers: counter(registry, 'sluice_ai_answers_total', 'AI endpoint answers, by endpoint and source (llm|fallback).', ['endpoint', 'source']),
    fallbacks: counter(registry, 'sluice_ai_fallbacks_total', 'AI answers made without the model, by endpoint and reason.', ['endpoint', 'reason']),
  }
}

/** The model's wording of `draft` from `data`, or the draft itself with the reason. */
export async function word(
  model: AiModel,
  metrics: ReturnType<typeof answerMetrics>,
  req: { tenant: string; endpoint: string; purpose: AiPurpose; question: string | null; data: Record<string, unknown>; draft: Wording; cacheKey: string },
): Promise<WordedAnswer> {
  const fallback = (reason: string): WordedAnswer => {
    metrics.answers.inc({ endpoint: req.endpoint, source: 'fallback' })
    metrics.fallbacks.inc({ endpoint: req.endpoint, reason: reason.split(':')[0]! })
    return { wording: req.draft, source: 'fallback', fallbackReason: reason, model: null }
  }
  const data = { ...req.data, draft: req.draft }
  const r = await model.json({ tenant: req.tenant, purpose: req.purpose, system: ANSWER_SYSTEM, user: userMessage(req.question, data), schema: wordingSchema, cacheKey: req.cacheKey })
  if (!r.ok) return fallback(r.reason === 'no_key' ? 'no_key: no GROQ_API_KEY; the deterministic answer' : `${r.reason}: ${r.detail}`)
  const invented = ungrounded([r.value.answer, r.value.rootCause ?? '', ...r.value.suggestedFixes], data)
  if (invented.length > 0) return fallback(`ungrounded: the model stated ${invented.slice(0, 3).join(', ')}, which the data does not hold`)
  metrics.answers.inc({ endpoint: req.endpoint, source: 'llm' })
  return { wording: r.value, source: 'llm', fallbackReason: null, model: model.model }
}

export const pct = (ratio: number) => `${(ratio * 100).toFixed(1)} %`
