// The AiModel of the AI endpoints on Groq's chat completions (through groq-sdk): one JSON answer
// per call, validated with the caller's schema, and every way it can go wrong turned into an
// AiFailure, never a throw. Cost is bounded before the provider is asked (per-tenant budgets) and
// repeated questions are answered from a cache, which also lets concurrent identical questions
// share one call.
//
// Retries are ours, not groq-sdk's (maxRetries: 0). groq-sdk 1.6 decides how many retries to make
// before it sees the response, then sleeps whatever `retry-after-ms` / `retry-after` says — no
// cap, and the sleep ignores the abort signal (client.js, retryRequest) — and its `timeout` covers
// one attempt's headers, not the call. So on a 429 we read Retry-After ourselves and retry once
// only if the wait fits in what is left of QUERY_AI_TIMEOUT_MS; otherwise `rate_limited` at once.
import { setTimeout as sleep } from 'node:timers/promises'
import Groq from 'groq-sdk'
import type { ChatCompletion } from 'groq-sdk/resources/chat/completions'
import { counter, histogram, LATENCY_BUCKETS_SECONDS } from '@sluice/observability'
import type { Counter, Histogram, Logger, Registry } from '@sluice/observability'
import { TtlCache } from './answer-cache.js'
import { TenantBudgets } from './budget.js'
import type { AiFailure, AiModel, AiRequest, AiResult } from './model.js'

export interface GroqModelOptions {
  /** undefined (or empty) → a disabled model: every call answers `no_key` without a request. */
  apiKey: string | undefined
  /** GROQ_BASE_URL; tests point it at test/infra/groq.ts. Default https://api.groq.com. */
  baseUrl?: string | undefined
  model: string
  /** The whole call, a retry after a 429 included. */
  timeoutMs: number
  /** Cap on completion tokens per call; AiRequest.maxTokens may ask for fewer. */
  maxTokens: number
  /** Per tenant. */
  requestsPerMinute: number
  requestsPerDay: number
  tokensPerDay: number
  cacheTtlMs: number
  /** Entries; the least recently used is evicted. */
  cacheSize: number
  registry: Registry
  /** Used as given (the caller binds service and component). */
  logger: Logger
  /** Clock of the budgets and the cache (tests); timeouts use real time. */
  now?: () => number
}

/** Wait after a 429 that carries no Retry-After (groq-sdk's first back-off is 0.5 s too). */
const DEFAULT_RETRY_AFTER_MS = 500
const DETAIL_MAX_CHARS = 200

type Usage = { promptTokens: number; completionTokens: number }

type Failure = { ok: false; reason: AiFailure; detail: string }
/** What the model said, before the caller's schema looks at it. Shared by concurrent identical calls. */
type Answered = { ok: true; content: string | null; finishReason: string | null; refused: boolean; maxTokens: number; usage: Usage }
type Upstream = Answered | Failure

export function createGroqModel(opts: GroqModelOptions): AiModel {
  const apiKey = opts.apiKey === '' ? undefined : opts.apiKey
  const metrics = {
    calls: counter(opts.registry, 'sluice_ai_calls_total', 'Language-model answers not served from the cache, by purpose and result (ok or the failure reason).', ['purpose', 'result']),
    tokens: counter(opts.registry, 'sluice_ai_tokens_total', 'Tokens the provider counted, by purpose and kind (prompt, completion).', ['purpose', 'kind']),
    cacheHits: counter(opts.registry, 'sluice_ai_cache_hits_total', 'Language-model answers served from the cache or shared with an identical call in flight, by purpose.', ['purpose']),
    seconds: histogram(opts.registry, 'sluice_ai_call_seconds', 'Duration of calls to the provider (retry included), by purpose.', LATENCY_BUCKETS_SECONDS, ['purpose']),
  }

  if (apiKey === undefined) {
    opts.logger.info({ model: opts.model }, 'GROQ_API_KEY is not set: the AI endpoints give their deterministic answers only')
    return {
      enabled: false,
      model: opts.model,
      json: <T>(req: AiRequest<T>): Promise<AiResult<T>> => {
        // Expected in a keyless deployment, so counted but not logged on every call.
        metrics.calls.inc({ purpose: req.purpose, result: 'no_key' })
        return Promise.resolve({ ok: false, reason: 'no_key', detail: 'GROQ_API_KEY is not set' })
      },
    }
  }
  return new GroqModel(opts, apiKey, metrics)
}

interface Metrics {
  calls: Counter<'purpose' | 'result'>
  tokens: Counter<'purpose' | 'kind'>
  cacheHits: Counter<'purpose'>
  seconds: Histogram<'purpose'>
}

class GroqModel implements AiModel {
  readonly enabled = true
  readonly model: string
  readonly #o: GroqModelOptions
  readonly #apiKey: string
  readonly #client: Groq
  readonly #now: () => number
  readonly #budgets: TenantBudgets
  readonly #cache: TtlCache<string>
  readonly #inFlight = new Map<string, Promise<Upstream>>()
  readonly #metrics: Metrics
  readonly #logger: Logger

  constructor(opts: GroqModelOptions, apiKey: string, metrics: Metrics) {
    this.model = opts.model
    this.#o = opts
    this.#apiKey = apiKey
    // baseURL null, not undefined: groq-sdk would read GROQ_BASE_URL itself, and config is read once, at boot.
    this.#client = new Groq({ apiKey, baseURL: opts.baseUrl ?? null, timeout: opts.timeoutMs, maxRetries: 0 })
    this.#now = opts.now ?? Date.now
    this.#budgets = new TenantBudgets({ requestsPerMinute: opts.requestsPerMinute, requestsPerDay: opts.requestsPerDay, tokensPerDay: opts.tokensPerDay })
    this.#cache = new TtlCache<string>(opts.cacheSize, opts.cacheTtlMs)
    this.#metrics = metrics
    this.#logger = opts.logger
  }

  async json<T>(req: AiRequest<T>): Promise<AiResult<T>> {
    const key = req.cacheKey === undefined ? undefined : JSON.stringify([req.tenant, req.purpose, req.cacheKey])
    if (key !== undefined) {
      const content = this.#cache.get(key, this.#now())
      const hit = content === undefined ? undefined : validate(req.schema, content)
      if (hit?.ok === true) return this.#shared(req, hit.value)
      const pending = this.#inFlight.get(key)
      if (pending !== undefined) {
        const upstream = await pending
        const result = upstream.ok ? interpret(req, upstream) : upstream
        return result.ok ? this.#shared(req, result.value) : this.#failed(req, result)
      }
    }
    const spent = this.#budgets.take(req.tenant, this.#now())
    if (spent !== undefined) return this.#failed(req, { ok: false, reason: 'budget', detail: spent })

    const call = this.#call(req)
    if (key !== undefined) {
      this.#inFlight.set(key, call)
      void call.finally(() => this.#inFlight.delete(key))
    }
    const upstream = await call
    if (!upstream.ok) return this.#failed(req, upstream)
    const result = interpret(req, upstream)
    if (!result.ok) return this.#failed(req, result)
    if (key !== undefined) this.#cache.set(key, result.content, this.#now())
    this.#metrics.calls.inc({ purpose: req.purpose, result: 'ok' })
    return { ok: true, value: result.value, cached: false, usage: upstream.usage }
  }

  #shared<T>(req: AiRequest<T>, value: T): AiResult<T> {
    this.#metrics.cacheHits.inc({ purpose: req.purpose })
    return { ok: true, value, cached: true, usage: { promptTokens: 0, completionTokens: 0 } }
  }

  #failed<T>(req: AiRequest<T>, f: Failure): AiResult<T> {
    // Details are built here from status codes and counts, never from the prompt or the answer;
    // the key is scrubbed anyway, in case a provider ever echoes it.
    const detail = f.detail.replaceAll(this.#apiKey, '[redacted]').slice(0, DETAIL_MAX_CHARS)
    this.#metrics.calls.inc({ purpose: req.purpose, result: f.reason })
    this.#logger.warn({ reason: f.reason, purpose: req.purpose, tenant: req.tenant, detail }, 'language model call failed')
    return { ok: false, reason: f.reason, detail }
  }

  /*
   * POST {baseURL}/openai/v1/chat/completions
   *   { model, temperature: 0, max_completion_tokens, response_format: { type: 'json_object' },
   *     messages: [{ role: 'system', content }, { role: 'user', content }] }
   * 200 { id, object: 'chat.completion', created, model,
   *       choices: [{ index: 0, message: { role: 'assistant', content, refusal? }, finish_reason }],
   *       usage: { prompt_tokens, completion_tokens, total_tokens } }
   * 400 { error: { code: 'json_validate_failed', failed_generation } } — JSON mode and the model wrote no JSON
   * 429 retry-after: <seconds>  (Groq's rate limits; also retry-after-ms, which groq-sdk honours first)
   */
  async #call<T>(req: AiRequest<T>): Promise<Upstream> {
    const maxTokens = Math.min(req.maxTokens ?? this.#o.maxTokens, this.#o.maxTokens)
    const started = performance.now()
    const deadline = started + this.#o.timeoutMs
    // One signal for the whole call: groq-sdk's own timeout stops at the response headers.
    const abort = new AbortController()
    const timer = setTimeout(() => abort.abort(), this.#o.timeoutMs)
    let waitedMs = 0
    try {
      for (;;) {
        try {
          const completion = await this.#client.chat.completions.create(
            {
              model: this.#o.model,
              temperature: 0,
              max_completion_tokens: maxTokens,
              response_format: { type: 'json_object' },
              messages: [
                { role: 'system', content: req.system },
                { role: 'user', content: req.user },
              ],
            },
            { signal: abort.signal, timeout: Math.max(1, Math.ceil(deadline - performance.now())) },
          )
          return this.#read(req, completion, maxTokens)
        } catch (err) {
          if (abort.signal.aborted || err instanceof Groq.APIConnectionTimeoutError) return { ok: false, reason: 'timeout', detail: `no answer within ${this.#o.timeoutMs} ms` }
          if (!(err instanceof Groq.RateLimitError)) return failure(err)
          if (waitedMs > 0) return { ok: false, reason: 'rate_limited', detail: `HTTP 429 again after waiting ${formatSeconds(waitedMs)} for the retry` }
          const waitMs = Math.max(1, retryAfterMs(err.headers))
          const leftMs = deadline - performance.now()
          if (waitMs >= leftMs) return { ok: false, reason: 'rate_limited', detail: `HTTP 429; retry after ${formatSeconds(waitMs)} does not fit in the ${Math.max(0, Math.round(leftMs))} ms left of ${this.#o.timeoutMs} ms` }
          await sleep(waitMs)
          waitedMs = waitMs
        }
      }
    } finally {
      clearTimeout(timer)
      this.#metrics.seconds.observe({ purpose: req.purpose }, (performance.now() - started) / 1000)
    }
  }

  #read<T>(req: AiRequest<T>, completion: ChatCompletion, maxTokens: number): Upstream {
    const usage = { promptTokens: completion.usage?.prompt_tokens ?? 0, completionTokens: completion.usage?.completion_tokens ?? 0 }
    this.#metrics.tokens.inc({ purpose: req.purpose, kind: 'prompt' }, usage.promptTokens)
    this.#metrics.tokens.inc({ purpose: req.purpose, kind: 'completion' }, usage.completionTokens)
    this.#budgets.addTokens(req.tenant, usage.promptTokens + usage.completionTokens, this.#now())
    const choice = completion.choices[0]
    if (choice === undefined) return { ok: false, reason: 'bad_output', detail: 'the answer had no choices' }
    // Neither `refusal` nor `content_filter` is in groq-sdk's types; OpenAI-compatible servers send them.
    const message: { content: string | null; refusal?: string | null } = choice.message
    const finishReason: string | null = choice.finish_reason
    const refused = (typeof message.refusal === 'string' && message.refusal !== '') || finishReason === 'content_filter'
    return { ok: true, content: message.content, finishReason, refused, maxTokens, usage }
  }
}

/** The caller's view of what the model said: its schema decides. */
function interpret<T>(req: AiRequest<T>, u: Answered): { ok: true; value: T; content: string } | Failure {
  if (u.refused) return { ok: false, reason: 'refused', detail: `the model declined to answer (finish_reason ${u.finishReason ?? 'null'})` }
  const truncated = u.finishReason === 'length'
  if (u.content === null || u.content.trim() === '') {
    return truncated ? { ok: false, reason: 'bad_output', detail: `truncated: empty answer at ${u.maxTokens} completion tokens` } : { ok: false, reason: 'refused', detail: 'the model gave an empty answer' }
  }
  const v = validate(req.schema, u.content)
  if (v.ok) return { ...v, content: u.content }
  if (!truncated || v.detail !== NOT_JSON) return v
  return { ok: false, reason: 'bad_output', detail: `truncated: the answer stopped at ${u.maxTokens} completion tokens and is not JSON` }
}

const NOT_JSON = 'the answer is not JSON'

function validate<T>(schema: AiRequest<T>['schema'], content: string): { ok: true; value: T } | Failure {
  let json: unknown
  try {
    json = JSON.parse(content)
  } catch {
    // Not the parser's message: it quotes the answer, and the answer may quote the data.
    return { ok: false, reason: 'bad_output', detail: NOT_JSON }
  }
  const parsed = schema.safeParse(json)
  if (parsed.success) return { ok: true, value: parsed.data }
  const issue = parsed.error.issues[0]
  const where = issue === undefined || issue.path.length === 0 ? '' : `${issue.path.map(String).join('.')}: `
  return { ok: false, reason: 'bad_output', detail: `the answer does not match the schema: ${where}${issue?.message ?? 'invalid'}` }
}

function failure(err: unknown): Failure {
  if (err instanceof Groq.APIConnectionError) return { ok: false, reason: 'error', detail: `connection failed${causeCode(err)}` }
  if (err instanceof Groq.APIError && typeof err.status === 'number') {
    const code = errorCode(err.error)
    if (err.status === 400 && code === 'json_validate_failed') return { ok: false, reason: 'bad_output', detail: `${NOT_JSON} (the provider rejected it: json_validate_failed)` }
    return { ok: false, reason: 'error', detail: `HTTP ${err.status}${code === undefined ? '' : ` (${code})`}` }
  }
  // e.g. a 200 whose body is not JSON: groq-sdk throws the parser's error.
  return { ok: false, reason: 'error', detail: `unexpected response (${err instanceof Error ? err.name : typeof err})` }
}

/** Groq's error body is { error: { message, type, code } }; only the code is kept: messages may quote the request. */
function errorCode(body: unknown): string | undefined {
  const inner = typeof body === 'object' && body !== null && 'error' in body ? body.error : undefined
  const code = typeof inner === 'object' && inner !== null ? ('code' in inner && inner.code ? inner.code : 'type' in inner ? inner.type : undefined) : undefined
  return typeof code === 'string' && /^[\w.-]{1,64}$/.test(code) ? code : undefined
}

/** `: ECONNREFUSED` from the first system error code in the cause chain (fetch wraps it in TypeError). */
function causeCode(err: Error): string {
  for (let e: unknown = err.cause, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if ('code' in e && typeof e.code === 'string') return `: ${e.code}`
  }
  return ''
}

/** Read as groq-sdk does: `retry-after-ms` first, then `retry-after` in seconds or as an HTTP date. */
export function retryAfterMs(headers: Headers | undefined, now = Date.now()): number {
  const ms = Number.parseFloat(headers?.get('retry-after-ms') ?? '')
  if (Number.isFinite(ms) && ms >= 0) return ms
  const value = headers?.get('retry-after')
  if (value === null || value === undefined) return DEFAULT_RETRY_AFTER_MS
  const seconds = Number.parseFloat(value)
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000)
  const at = Date.parse(value)
  return Number.isNaN(at) ? DEFAULT_RETRY_AFTER_MS : Math.max(0, at - now)
}

function formatSeconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`
}
