// Optional LLM classification (Groq chat completions through groq-sdk) for templates the rules
// leave as `unknown`. Cost and latency are bounded by design:
// - one call per new template: results are cached by pattern_id (bounded, oldest evicted), and
//   concurrent records of the same new template share one in-flight call;
// - a budget of calls per minute (sliding window); over budget → rules result, tried again later;
// - a timeout per call; failures fall back to the rules and are not retried for `retryAfterMs`.
import Groq from 'groq-sdk'
import { z } from 'zod'
import type { Registry } from '@sluice/observability'
import { counter, gauge } from '@sluice/observability'
import { CATEGORIES } from './model.js'
import type { Category } from './model.js'

export interface LlmOptions {
  apiKey: string
  model: string
  /** Groq API base URL (tests point it at a local server speaking the same protocol). */
  baseUrl?: string | undefined
  maxCallsPerMinute: number
  timeoutMs: number
  cacheSize: number
  /** After a failed call, the template is left to the rules for this long. */
  retryAfterMs?: number
  registry: Registry
}

export interface LlmVerdict {
  category: Category
  classifier: 'llm' | 'cache'
}

const answerSchema = z.object({ category: z.enum(CATEGORIES) })

const SYSTEM_PROMPT = `You classify application log message templates for an observability system.
Answer with a JSON object {"category": "<one of: ${CATEGORIES.join(', ')}>"} and nothing else.
database: SQL, ORM, connection pools, deadlocks. network: sockets, DNS, TLS, connection resets.
timeout: deadlines exceeded, timed out. auth: login, tokens, permissions. payment: charges, cards,
refunds. resource: memory, disk, CPU, quotas, OOM. security: attacks, injection, suspicious access.
dependency: upstream/downstream services, third-party APIs. application: the program's own logic.
unknown: none of these fits.`

interface CacheEntry {
  category: Category | null
  /** For failures: when the template may be tried again. */
  retryAt: number
}

export class LlmClassifier {
  readonly #client: Groq
  readonly #o: Required<Omit<LlmOptions, 'baseUrl' | 'registry' | 'apiKey'>>
  readonly #cache = new Map<string, CacheEntry>()
  readonly #inFlight = new Map<string, Promise<Category | null>>()
  readonly #callTimes: number[] = []
  readonly #metrics

  constructor(opts: LlmOptions) {
    this.#client = new Groq({ apiKey: opts.apiKey, baseURL: opts.baseUrl ?? null, timeout: opts.timeoutMs, maxRetries: 0 })
    this.#o = { model: opts.model, maxCallsPerMinute: opts.maxCallsPerMinute, timeoutMs: opts.timeoutMs, cacheSize: opts.cacheSize, retryAfterMs: opts.retryAfterMs ?? 600_000 }
    this.#metrics = {
      calls: counter(opts.registry, 'sluice_enricher_llm_calls_total', 'LLM classification calls, by result.', ['result']),
      cacheHits: counter(opts.registry, 'sluice_enricher_llm_cache_hits_total', 'Records classified from the LLM result cache.'),
      skipped: counter(opts.registry, 'sluice_enricher_llm_skipped_total', 'Unknown templates left to the rules, by reason.', ['reason']),
      cacheSize: gauge(opts.registry, 'sluice_enricher_llm_cache_entries', 'Templates in the LLM result cache.'),
    }
  }

  /** A category for an unknown template, or undefined to keep the rules' answer. */
  async classify(patternId: string, template: string, sample: string): Promise<LlmVerdict | undefined> {
    const cached = this.#cache.get(patternId)
    if (cached && (cached.category !== null || Date.now() < cached.retryAt)) {
      if (cached.category === null) return undefined
      this.#metrics.cacheHits.inc()
      return { category: cached.category, classifier: 'cache' }
    }
    const pending = this.#inFlight.get(patternId)
    if (pending) {
      const category = await pending
      if (category === null) return undefined
      this.#metrics.cacheHits.inc()
      return { category, classifier: 'cache' }
    }
    if (!this.#takeBudget()) {
      this.#metrics.skipped.inc({ reason: 'budget' })
      return undefined
    }
    const call = this.#call(template, sample)
    this.#inFlight.set(patternId, call)
    try {
      const category = await call
      this.#remember(patternId, category)
      return category === null ? undefined : { category, classifier: 'llm' }
    } finally {
      this.#inFlight.delete(patternId)
    }
  }

  #takeBudget(): boolean {
    const now = Date.now()
    while (this.#callTimes.length > 0 && this.#callTimes[0]! <= now - 60_000) this.#callTimes.shift()
    if (this.#callTimes.length >= this.#o.maxCallsPerMinute) return false
    this.#callTimes.push(now)
    return true
  }

  async #call(template: string, sample: string): Promise<Category | null> {
    try {
      const completion = await this.#client.chat.completions.create({
        model: this.#o.model,
        temperature: 0,
        max_tokens: 32,
        response_format: { type: 'json_object' },
        messages: [
          { role: 'system', content: SYSTEM_PROMPT },
          { role: 'user', content: `Template: ${template.slice(0, 1000)}\nExample: ${sample.slice(0, 1000)}` },
        ],
      })
      const parsed = answerSchema.safeParse(JSON.parse(completion.choices[0]?.message?.content ?? ''))
      if (!parsed.success) {
        this.#metrics.calls.inc({ result: 'invalid_answer' })
        return null
      }
      this.#metrics.calls.inc({ result: 'ok' })
      return parsed.data.category
    } catch (err) {
      this.#metrics.calls.inc({ result: err instanceof Groq.RateLimitError ? 'rate_limited' : err instanceof Groq.APIConnectionTimeoutError ? 'timeout' : 'error' })
      return null
    }
  }

  #remember(patternId: string, category: Category | null): void {
    this.#cache.delete(patternId)
    this.#cache.set(patternId, { category, retryAt: Date.now() + this.#o.retryAfterMs })
    if (this.#cache.size > this.#o.cacheSize) this.#cache.delete(this.#cache.keys().next().value!)
    this.#metrics.cacheSize.set(this.#cache.size)
  }
}
