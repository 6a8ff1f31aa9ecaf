// The real groq-sdk against the shared fake Groq server (test/infra/groq.ts), including its
// error and rate-limit responses.
import { describe, expect, it } from 'vitest'
import { createRegistry } from '@sluice/observability'
import { startFakeGroq } from '../../../test/infra/groq.js'
import type { FakeGroqScript } from '../../../test/infra/groq.js'
import { LlmClassifier } from './llm.js'
import type { LlmOptions } from './llm.js'

const DATABASE: FakeGroqScript = () => ({ json: { category: 'database' } })

const make = async (script: FakeGroqScript = DATABASE, over: Partial<LlmOptions> = {}) => {
  const groq = await startFakeGroq(script)
  const registry = createRegistry({ defaultMetrics: false })
  const llm = new LlmClassifier({ apiKey: 'gsk_test', model: 'llama-3.1-8b-instant', baseUrl: groq.baseUrl, maxCallsPerMinute: 10, timeoutMs: 500, cacheSize: 100, registry, ...over })
  return { llm, registry, groq, requests: groq.requests }
}

describe('LlmClassifier', () => {
  it('asks once per new template, then answers from the cache', async () => {
    const { llm, registry, requests } = await make()
    expect(await llm.classify('p1', 'pool exhausted after <*> ms', 'pool exhausted after 30 ms')).toEqual({ category: 'database', classifier: 'llm' })
    expect(await llm.classify('p1', 'pool exhausted after <*> ms', 'pool exhausted after 12 ms')).toEqual({ category: 'database', classifier: 'cache' })
    expect(requests).toHaveLength(1)
    expect(requests[0]!.headers.authorization).toBe('Bearer gsk_test')
    expect(requests[0]!.body.model).toBe('llama-3.1-8b-instant')
    expect(requests[0]!.body.messages.at(-1)!.content).toContain('pool exhausted after <*> ms')
    expect(await registry.metrics()).toMatch(/sluice_enricher_llm_cache_hits_total 1/)
  })

  it('shares one call among concurrent records of the same template', async () => {
    const { llm, requests } = await make(() => ({ delayMs: 100, json: { category: 'network' } }))
    const results = await Promise.all([1, 2, 3].map(() => llm.classify('p2', 'dns lookup failed', 'dns lookup failed')))
    expect(requests).toHaveLength(1)
    expect(results.map((r) => r?.classifier).sort()).toEqual(['cache', 'cache', 'llm'])
  })

  it('falls back to the rules on a 429 and does not retry that template right away', async () => {
    const { llm, registry, groq, requests } = await make(() => ({ status: 429, retryAfterS: 2, headers: { 'x-ratelimit-remaining-requests': '0' } }))
    expect(await llm.classify('p3', 'x <*>', 'x 1')).toBeUndefined()
    groq.reply(() => ({ json: { category: 'auth' } }))
    expect(await llm.classify('p3', 'x <*>', 'x 2')).toBeUndefined()
    expect(requests).toHaveLength(1)
    expect(await registry.metrics()).toMatch(/sluice_enricher_llm_calls_total\{result="rate_limited"\} 1/)
  })

  it('falls back on server errors, timeouts and answers outside the category list', async () => {
    const { llm, registry, groq } = await make(DATABASE, { retryAfterMs: 0 })
    groq.reply(() => ({ status: 500 }))
    expect(await llm.classify('p4', 'a', 'a')).toBeUndefined()
    groq.reply(() => ({ delayMs: 1500, json: { category: 'network' } }))
    expect(await llm.classify('p5', 'b', 'b')).toBeUndefined()
    groq.reply(() => ({ json: { category: 'weather' } }))
    expect(await llm.classify('p6', 'c', 'c')).toBeUndefined()
    const m = await registry.metrics()
    expect(m).toMatch(/result="error"\} 1/)
    expect(m).toMatch(/result="timeout"\} 1/)
    expect(m).toMatch(/result="invalid_answer"\} 1/)
  })

  it('keeps to its budget of calls per minute', async () => {
    const { llm, registry, requests } = await make(DATABASE, { maxCallsPerMinute: 2 })
    expect(await llm.classify('a', 'a', 'a')).toBeDefined()
    expect(await llm.classify('b', 'b', 'b')).toBeDefined()
    expect(await llm.classify('c', 'c', 'c')).toBeUndefined()
    expect(requests).toHaveLength(2)
    expect(await registry.metrics()).toMatch(/sluice_enricher_llm_skipped_total\{reason="budget"\} 1/)
  })

  it('bounds its cache, evicting the oldest template', async () => {
    const { llm, requests } = await make(DATABASE, { cacheSize: 2 })
    for (const p of ['a', 'b', 'c']) await llm.classify(p, p, p)
    await llm.classify('a', 'a', 'a')
    expect(requests).toHaveLength(4)
  })
})
