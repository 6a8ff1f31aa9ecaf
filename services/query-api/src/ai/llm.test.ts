// The AI endpoints' language model: the real groq-sdk against the shared fake Groq server
// (test/infra/groq.ts), with an injected clock for budgets and cache.
import { describe, expect, it } from 'vitest'
import Groq from 'groq-sdk'
import { pino } from 'pino'
import { z } from 'zod'
import { createRegistry } from '@sluice/observability'
import { startFakeGroq } from '../../../../test/infra/groq.js'
import type { FakeGroqReply, FakeGroqScript } from '../../../../test/infra/groq.js'
import { createGroqModel, retryAfterMs } from './llm.js'
import type { GroqModelOptions } from './llm.js'
import type { AiRequest } from './model.js'

const KEY = 'gsk_TEST_do_not_leak_4f2a9c'
const SYSTEM = 'SYSTEM-MARKER: answer as JSON {summary, count}'
const USER = 'USER-MARKER: how many errors did payments log? Data: "card 4111 declined"'
const ANSWER = { summary: 'payments logged 3 errors', count: 3 }
const NOON = Date.UTC(2026, 11, 1, 12, 0, 0)
const DAY_MS = 86_400_000

const answerSchema = z.object({ summary: z.string(), count: z.number().int() })
type Answer = z.infer<typeof answerSchema>

const ask = (over: Partial<AiRequest<Answer>> = {}): AiRequest<Answer> => ({ tenant: 'acme', purpose: 'answer', system: SYSTEM, user: USER, schema: answerSchema, ...over })

async function setup(script: FakeGroqScript = () => ({ json: ANSWER }), over: Partial<GroqModelOptions> = {}) {
  const groq = await startFakeGroq(script)
  const registry = createRegistry({ defaultMetrics: false })
  const logLines: string[] = []
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) })
  const clock = { now: NOON }
  const model = createGroqModel({
    apiKey: KEY,
    baseUrl: groq.baseUrl,
    model: 'llama-3.3-70b-versatile',
    timeoutMs: 5000,
    maxTokens: 512,
    requestsPerMinute: 100,
    requestsPerDay: 1000,
    tokensPerDay: 1_000_000,
    cacheTtlMs: 60_000,
    cacheSize: 100,
    registry,
    logger,
    now: () => clock.now,
    ...over,
  })
  const logs = () => logLines.map((l) => JSON.parse(l) as Record<string, unknown>)
  return { groq, model, registry, clock, logLines, logs }
}

describe('createGroqModel: answers', () => {
  it('asks in JSON mode at temperature 0 with the system and user messages, and returns the validated answer and usage', async () => {
    const { groq, model } = await setup()
    expect(model.enabled).toBe(true)
    expect(model.model).toBe('llama-3.3-70b-versatile')
    expect(await model.json(ask())).toEqual({ ok: true, value: ANSWER, cached: false, usage: { promptTokens: 120, completionTokens: 8 } })
    expect(groq.requests).toHaveLength(1)
    const { body, headers } = groq.requests[0]!
    expect(headers.authorization).toBe(`Bearer ${KEY}`)
    expect(body).toMatchObject({ model: 'llama-3.3-70b-versatile', temperature: 0, response_format: { type: 'json_object' }, max_completion_tokens: 512 })
    expect(body.messages).toEqual([
      { role: 'system', content: SYSTEM },
      { role: 'user', content: USER },
    ])
  })

  it('asks for fewer completion tokens when the request says so, never more than the cap', async () => {
    const { groq, model } = await setup()
    await model.json(ask({ maxTokens: 64 }))
    await model.json(ask({ maxTokens: 10_000 }))
    expect(groq.requests.map((r) => r.body.max_completion_tokens)).toEqual([64, 512])
  })

  it('answers bad_output for content that is not JSON, without quoting it', async () => {
    const { model } = await setup(() => ({ content: 'Sure! Here is the answer: count=3' }))
    const r = await model.json(ask())
    expect(r).toEqual({ ok: false, reason: 'bad_output', detail: 'the answer is not JSON' })
  })

  it('says the answer was truncated when it stopped at the token cap', async () => {
    const { model } = await setup(() => ({ content: '{"summary": "payments logged', finishReason: 'length' }))
    const r = await model.json(ask({ maxTokens: 16 }))
    expect(r).toMatchObject({ ok: false, reason: 'bad_output' })
    expect(!r.ok && r.detail).toMatch(/truncated.*16 completion tokens/)
  })

  it('answers bad_output naming the first schema issue when the JSON has the wrong shape', async () => {
    const { model } = await setup(() => ({ json: { summary: 'x', count: 'three' } }))
    const r = await model.json(ask())
    expect(r).toMatchObject({ ok: false, reason: 'bad_output' })
    expect(!r.ok && r.detail).toMatch(/^the answer does not match the schema: count: /)
  })

  it("answers bad_output when Groq's JSON mode rejects the generation (400 json_validate_failed)", async () => {
    const { model } = await setup(() => ({
      status: 400,
      error: { message: "Failed to generate JSON. Please adjust your prompt. See 'failed_generation' for more details.", type: 'invalid_request_error', code: 'json_validate_failed', failed_generation: 'count=3' },
    }))
    expect(await model.json(ask())).toMatchObject({ ok: false, reason: 'bad_output', detail: expect.stringContaining('json_validate_failed') as unknown })
  })

  it('answers refused for a refusal, a content filter stop and an empty answer', async () => {
    const { groq, model } = await setup(() => ({ refusal: 'I cannot help with that.' }))
    expect(await model.json(ask())).toMatchObject({ ok: false, reason: 'refused' })
    groq.reply(() => ({ content: null, finishReason: 'content_filter' }))
    expect(await model.json(ask())).toMatchObject({ ok: false, reason: 'refused' })
    groq.reply(() => ({ content: '  ' }))
    expect(await model.json(ask())).toMatchObject({ ok: false, reason: 'refused' })
  })
})

describe('createGroqModel: provider errors', () => {
  it('waits out a 429 Retry-After of 1 s and asks again when that fits in the timeout', async () => {
    const { groq, model } = await setup([{ status: 429, retryAfterS: 1 }, { json: ANSWER }], { timeoutMs: 10_000 })
    const started = performance.now()
    expect(await model.json(ask())).toMatchObject({ ok: true, value: ANSWER, cached: false })
    expect(performance.now() - started).toBeGreaterThanOrEqual(900)
    expect(groq.requests).toHaveLength(2)
  })

  it('answers rate_limited at once when Retry-After is longer than the time left', async () => {
    const { groq, model } = await setup(() => ({ status: 429, retryAfterS: 60 }), { timeoutMs: 2000 })
    const started = performance.now()
    const r = await model.json(ask())
    expect(r).toMatchObject({ ok: false, reason: 'rate_limited' })
    expect(!r.ok && r.detail).toMatch(/retry after 60 s does not fit/)
    expect(performance.now() - started).toBeLessThan(20_000)
    expect(groq.requests).toHaveLength(1)
  })

  it('retries a 429 once only (retry-after-ms honoured), then answers rate_limited', async () => {
    const { groq, model } = await setup(() => ({ status: 429, retryAfterMs: 50 }))
    expect(await model.json(ask())).toMatchObject({ ok: false, reason: 'rate_limited', detail: expect.stringContaining('again') as unknown })
    expect(groq.requests).toHaveLength(2)
  })

  it('answers timeout in about timeoutMs when the provider is slow', async () => {
    const { groq, model } = await setup(() => ({ delayMs: 30_000, json: ANSWER }), { timeoutMs: 500 })
    const started = performance.now()
    expect(await model.json(ask())).toEqual({ ok: false, reason: 'timeout', detail: 'no answer within 500 ms' })
    const elapsed = performance.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(400)
    expect(elapsed).toBeLessThan(15_000)
    expect(groq.requests).toHaveLength(1)
  })

  it('answers error with the HTTP status (and Groq error code) for 5xx and auth failures, without retrying', async () => {
    const { groq, model } = await setup(() => ({ status: 500 }))
    expect(await model.json(ask())).toEqual({ ok: false, reason: 'error', detail: 'HTTP 500 (internal_server_error)' })
    expect(groq.requests).toHaveLength(1)
    groq.reply(() => ({ status: 401 }))
    expect(await model.json(ask())).toEqual({ ok: false, reason: 'error', detail: 'HTTP 401 (invalid_api_key)' })
  })

  it('answers error when the provider cannot be reached', async () => {
    const gone = await startFakeGroq()
    await gone.close()
    const { model } = await setup(undefined, { baseUrl: gone.baseUrl })
    expect(await model.json(ask())).toMatchObject({ ok: false, reason: 'error', detail: expect.stringMatching(/^connection failed/) as unknown })
  })

  it('is disabled without a key: no_key at once, no request', async () => {
    const { groq, model, registry } = await setup(undefined, { apiKey: undefined })
    expect(model.enabled).toBe(false)
    expect(await model.json(ask())).toEqual({ ok: false, reason: 'no_key', detail: 'GROQ_API_KEY is not set' })
    expect(groq.requests).toHaveLength(0)
    expect(await registry.metrics()).toContain('sluice_ai_calls_total{purpose="answer",result="no_key"} 1')
  })
})

describe('createGroqModel: budgets per tenant', () => {
  it('keeps to the requests per minute (sliding window), per tenant', async () => {
    const { groq, model, clock } = await setup(undefined, { requestsPerMinute: 2 })
    expect(await model.json(ask())).toMatchObject({ ok: true })
    clock.now += 30_000
    expect(await model.json(ask())).toMatchObject({ ok: true })
    expect(await model.json(ask())).toEqual({ ok: false, reason: 'budget', detail: '2 requests per minute (QUERY_AI_MAX_REQUESTS_PER_MINUTE)' })
    expect(await model.json(ask({ tenant: 'globex' }))).toMatchObject({ ok: true })
    expect(groq.requests).toHaveLength(3)
    clock.now += 30_001 // the first request has left the window, the second not
    expect(await model.json(ask())).toMatchObject({ ok: true })
    expect(await model.json(ask())).toMatchObject({ ok: false, reason: 'budget' })
  })

  it('keeps to the requests per calendar day (UTC)', async () => {
    const { groq, model, clock } = await setup(undefined, { requestsPerDay: 3 })
    for (let i = 0; i < 3; i++) {
      expect(await model.json(ask())).toMatchObject({ ok: true })
      clock.now += 61_000
    }
    expect(await model.json(ask())).toEqual({ ok: false, reason: 'budget', detail: '3 requests per day (QUERY_AI_MAX_REQUESTS_PER_DAY)' })
    expect(groq.requests).toHaveLength(3)
    clock.now = NOON + DAY_MS / 2 // midnight UTC
    expect(await model.json(ask())).toMatchObject({ ok: true })
  })

  it("keeps to the tokens per day, counted from the provider's usage", async () => {
    const { groq, model, clock } = await setup(() => ({ json: ANSWER, usage: { promptTokens: 90, completionTokens: 10 } }), { tokensPerDay: 150 })
    expect(await model.json(ask())).toMatchObject({ ok: true, usage: { promptTokens: 90, completionTokens: 10 } })
    expect(await model.json(ask())).toMatchObject({ ok: true }) // 100 of 150 used before it
    expect(await model.json(ask())).toEqual({ ok: false, reason: 'budget', detail: '150 tokens per day (QUERY_AI_MAX_TOKENS_PER_DAY)' })
    expect(groq.requests).toHaveLength(2)
    clock.now += DAY_MS
    expect(await model.json(ask())).toMatchObject({ ok: true })
  })
})

describe('createGroqModel: cache', () => {
  it('answers a repeated question from the cache: no request, cached, no usage, no budget spent', async () => {
    const { groq, model, registry } = await setup(undefined, { requestsPerMinute: 1 })
    expect(await model.json(ask({ cacheKey: 'q1' }))).toMatchObject({ ok: true, cached: false })
    for (let i = 0; i < 3; i++) expect(await model.json(ask({ cacheKey: 'q1' }))).toEqual({ ok: true, value: ANSWER, cached: true, usage: { promptTokens: 0, completionTokens: 0 } })
    expect(groq.requests).toHaveLength(1)
    expect(await registry.metrics()).toContain('sluice_ai_cache_hits_total{purpose="answer"} 3')
  })

  it('keys the cache by tenant, purpose and cacheKey, and forgets after the TTL', async () => {
    const { groq, model, clock } = await setup(undefined, { cacheTtlMs: 10_000 })
    await model.json(ask({ cacheKey: 'q1' }))
    expect(await model.json(ask({ cacheKey: 'q1', tenant: 'globex' }))).toMatchObject({ cached: false })
    expect(await model.json(ask({ cacheKey: 'q1', purpose: 'explain' }))).toMatchObject({ cached: false })
    expect(await model.json(ask({ cacheKey: 'q2' }))).toMatchObject({ cached: false })
    expect(await model.json(ask())).toMatchObject({ cached: false })
    expect(groq.requests).toHaveLength(5)
    clock.now += 10_000
    expect(await model.json(ask({ cacheKey: 'q1' }))).toMatchObject({ ok: true, cached: false })
    expect(groq.requests).toHaveLength(6)
  })

  it('hands every caller its own copy of a cached answer', async () => {
    const { model } = await setup()
    const first = await model.json(ask({ cacheKey: 'q1' }))
    if (first.ok) first.value.count = 99
    expect(await model.json(ask({ cacheKey: 'q1' }))).toMatchObject({ ok: true, cached: true, value: ANSWER })
  })

  it('evicts the least recently used answer', async () => {
    const { groq, model } = await setup(undefined, { cacheSize: 2 })
    await model.json(ask({ cacheKey: 'a' }))
    await model.json(ask({ cacheKey: 'b' }))
    await model.json(ask({ cacheKey: 'a' })) // a is now the most recently used
    await model.json(ask({ cacheKey: 'c' })) // evicts b
    expect(await model.json(ask({ cacheKey: 'a' }))).toMatchObject({ cached: true })
    expect(await model.json(ask({ cacheKey: 'b' }))).toMatchObject({ cached: false })
    expect(groq.requests).toHaveLength(4)
  })

  it('does not cache failures', async () => {
    const { groq, model } = await setup([{ content: 'not json' }, { status: 500 }, { json: ANSWER }])
    expect(await model.json(ask({ cacheKey: 'q1' }))).toMatchObject({ ok: false, reason: 'bad_output' })
    expect(await model.json(ask({ cacheKey: 'q1' }))).toMatchObject({ ok: false, reason: 'error' })
    expect(await model.json(ask({ cacheKey: 'q1' }))).toMatchObject({ ok: true, cached: false })
    expect(groq.requests).toHaveLength(3)
  })

  it('lets concurrent identical questions share one call', async () => {
    const { groq, model } = await setup(() => ({ delayMs: 200, json: ANSWER }), { requestsPerMinute: 1 })
    const results = await Promise.all([1, 2, 3].map(() => model.json(ask({ cacheKey: 'q1' }))))
    expect(groq.requests).toHaveLength(1)
    expect(results.every((r) => r.ok && r.value.count === 3)).toBe(true)
    expect(results.map((r) => r.ok && r.cached).sort()).toEqual([false, true, true])
  })

  it('shares a failure among concurrent identical questions, and the next question asks again', async () => {
    const { groq, model } = await setup([{ delayMs: 200, status: 500 }, { json: ANSWER }])
    const results = await Promise.all([1, 2].map(() => model.json(ask({ cacheKey: 'q1' }))))
    expect(results).toEqual([
      { ok: false, reason: 'error', detail: 'HTTP 500 (internal_server_error)' },
      { ok: false, reason: 'error', detail: 'HTTP 500 (internal_server_error)' },
    ])
    expect(await model.json(ask({ cacheKey: 'q1' }))).toMatchObject({ ok: true, cached: false })
    expect(groq.requests).toHaveLength(2)
  })
})

describe('createGroqModel: telemetry', () => {
  it('counts calls by purpose and result, tokens by kind, cache hits, and times provider calls', async () => {
    const { model, registry } = await setup([{ json: ANSWER }, { content: 'nope' }])
    await model.json(ask({ cacheKey: 'q1' }))
    await model.json(ask({ cacheKey: 'q1' }))
    await model.json(ask({ purpose: 'plan' }))
    const m = await registry.metrics()
    expect(m).toContain('sluice_ai_calls_total{purpose="answer",result="ok"} 1')
    expect(m).toContain('sluice_ai_calls_total{purpose="plan",result="bad_output"} 1')
    expect(m).toContain('sluice_ai_tokens_total{purpose="answer",kind="prompt"} 120')
    expect(m).toContain('sluice_ai_tokens_total{purpose="answer",kind="completion"} 8')
    expect(m).toContain('sluice_ai_tokens_total{purpose="plan",kind="prompt"} 120')
    expect(m).toContain('sluice_ai_cache_hits_total{purpose="answer"} 1')
    expect(m).toContain('sluice_ai_call_seconds_count{purpose="answer"} 1')
    expect(m).toContain('sluice_ai_call_seconds_count{purpose="plan"} 1')
  })

  it('logs each failure at warn with reason, purpose and tenant, and never the key, the prompt or the answer', async () => {
    const { groq, model, logs, logLines } = await setup(undefined, { timeoutMs: 2000, requestsPerMinute: 7 })
    const replies: FakeGroqReply[] = [
      // A provider that echoes the key in its error message: the detail must not carry it on.
      { status: 401, error: { message: `Invalid API Key ${KEY}`, type: 'invalid_request_error', code: 'invalid_api_key' } },
      { status: 500, error: { message: `upstream failed for ${KEY}`, type: 'internal_server_error', code: null } },
      { status: 429, retryAfterS: 30 },
      { delayMs: 10_000, json: ANSWER },
      { content: `not json, and it quotes ${USER}` },
      { refusal: `I will not repeat ${USER}` },
      { json: { summary: USER, count: 'many' } },
    ]
    const results = []
    for (const r of replies) {
      groq.reply(() => r)
      results.push(await model.json(ask()))
    }
    results.push(await model.json(ask())) // over budget
    expect(results.map((r) => !r.ok && r.reason)).toEqual(['error', 'error', 'rate_limited', 'timeout', 'bad_output', 'refused', 'bad_output', 'budget'])
    for (const r of results) expect(JSON.stringify(r)).not.toContain(KEY)
    const warns = logs().filter((l) => l.level === 40)
    expect(warns).toHaveLength(8)
    for (const w of warns) expect(w).toMatchObject({ purpose: 'answer', tenant: 'acme', reason: expect.any(String) as unknown })
    for (const line of logLines) {
      expect(line).not.toContain(KEY)
      expect(line).not.toContain('USER-MARKER')
      expect(line).not.toContain('SYSTEM-MARKER')
    }
  })
})

// What llm.ts works around (groq-sdk client.js, makeRequest / retryRequest): with maxRetries > 0
// the SDK sleeps the whole Retry-After, unbounded by its `timeout` (per attempt, up to the
// response headers) and deaf to the abort signal. If these start failing, groq-sdk changed and
// llm.ts's own retry may no longer be needed.
describe('groq-sdk on its own', () => {
  it('sleeps out Retry-After past its timeout and then asks again', async () => {
    const groq = await startFakeGroq([{ status: 429, retryAfterS: 1 }, { json: ANSWER }])
    const client = new Groq({ apiKey: KEY, baseURL: groq.baseUrl, timeout: 300, maxRetries: 1 })
    const started = performance.now()
    const completion = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'q' }] })
    expect(completion.choices[0]?.message.content).toBe(JSON.stringify(ANSWER))
    expect(performance.now() - started).toBeGreaterThanOrEqual(900)
    expect(groq.requests).toHaveLength(2)
  })

  it('does not cut that sleep short when the call is aborted', async () => {
    const groq = await startFakeGroq([{ status: 429, retryAfterS: 1 }, { json: ANSWER }])
    const client = new Groq({ apiKey: KEY, baseURL: groq.baseUrl, maxRetries: 1 })
    const started = performance.now()
    const call = client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'q' }] }, { signal: AbortSignal.timeout(100) })
    await expect(call).rejects.toBeInstanceOf(Groq.APIUserAbortError)
    expect(performance.now() - started).toBeGreaterThanOrEqual(900)
    expect(groq.requests).toHaveLength(1)
  })
})

describe('retryAfterMs', () => {
  it('reads retry-after-ms first, then retry-after in seconds or as an HTTP date', () => {
    const now = Date.UTC(2026, 11, 1, 12, 0, 0)
    expect(retryAfterMs(new Headers({ 'retry-after-ms': '250', 'retry-after': '9' }), now)).toBe(250)
    expect(retryAfterMs(new Headers({ 'retry-after': '1.5' }), now)).toBe(1500)
    expect(retryAfterMs(new Headers({ 'retry-after': new Date(now + 3000).toUTCString() }), now)).toBe(3000)
    expect(retryAfterMs(new Headers(), now)).toBe(500)
  })
})
