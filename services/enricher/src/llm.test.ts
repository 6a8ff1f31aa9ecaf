// The real groq-sdk against a local HTTP server speaking Groq's chat-completions API
// (POST /openai/v1/chat/completions), including its error and rate-limit responses.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createRegistry } from '@sluice/observability'
import { LlmClassifier } from './llm.js'
import type { LlmOptions } from './llm.js'

type Behaviour = { kind: 'answer'; content: string } | { kind: 'status'; status: number; headers?: Record<string, string> } | { kind: 'slow'; ms: number }

let behaviour: Behaviour = { kind: 'answer', content: '{"category":"database"}' }
const requests: { model: string; messages: { role: string; content: string }[]; auth: string | undefined }[] = []
let server: http.Server
let baseUrl = ''

function completion(content: string) {
  return {
    id: 'chatcmpl-test',
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: 'llama-3.1-8b-instant',
    choices: [{ index: 0, message: { role: 'assistant', content }, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: 120, completion_tokens: 8, total_tokens: 128 },
    system_fingerprint: 'fp_test',
    x_groq: { id: 'req_test' },
  }
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/openai/v1/chat/completions') {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'Unknown request URL', type: 'invalid_request_error', code: 'unknown_url' } }))
        return
      }
      requests.push({ ...(JSON.parse(body) as { model: string; messages: { role: string; content: string }[] }), auth: req.headers.authorization })
      const b = behaviour
      if (b.kind === 'answer') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(completion(b.content)))
      else if (b.kind === 'status')
        res
          .writeHead(b.status, { 'content-type': 'application/json', ...b.headers })
          .end(JSON.stringify({ error: { message: b.status === 429 ? 'Rate limit reached for model' : 'Internal Server Error', type: b.status === 429 ? 'tokens' : 'internal_server_error', code: b.status === 429 ? 'rate_limit_exceeded' : null } }))
      else setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(completion('{"category":"network"}'))), b.ms)
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(() => new Promise<void>((r) => server.close(() => r())))

beforeEach(() => {
  requests.length = 0
  behaviour = { kind: 'answer', content: '{"category":"database"}' }
})

const make = (over: Partial<LlmOptions> = {}) => {
  const registry = createRegistry({ defaultMetrics: false })
  const llm = new LlmClassifier({ apiKey: 'gsk_test', model: 'llama-3.1-8b-instant', baseUrl, maxCallsPerMinute: 10, timeoutMs: 500, cacheSize: 100, registry, ...over })
  return { llm, registry }
}

describe('LlmClassifier', () => {
  it('asks once per new template, then answers from the cache', async () => {
    const { llm, registry } = make()
    expect(await llm.classify('p1', 'pool exhausted after <*> ms', 'pool exhausted after 30 ms')).toEqual({ category: 'database', classifier: 'llm' })
    expect(await llm.classify('p1', 'pool exhausted after <*> ms', 'pool exhausted after 12 ms')).toEqual({ category: 'database', classifier: 'cache' })
    expect(requests).toHaveLength(1)
    expect(requests[0]!.auth).toBe('Bearer gsk_test')
    expect(requests[0]!.model).toBe('llama-3.1-8b-instant')
    expect(requests[0]!.messages.at(-1)!.content).toContain('pool exhausted after <*> ms')
    expect(await registry.metrics()).toMatch(/sluice_enricher_llm_cache_hits_total 1/)
  })

  it('shares one call among concurrent records of the same template', async () => {
    behaviour = { kind: 'slow', ms: 100 }
    const { llm } = make()
    const results = await Promise.all([1, 2, 3].map(() => llm.classify('p2', 'dns lookup failed', 'dns lookup failed')))
    expect(requests).toHaveLength(1)
    expect(results.map((r) => r?.classifier).sort()).toEqual(['cache', 'cache', 'llm'])
  })

  it('falls back to the rules on a 429 and does not retry that template right away', async () => {
    behaviour = { kind: 'status', status: 429, headers: { 'retry-after': '2', 'x-ratelimit-remaining-requests': '0' } }
    const { llm, registry } = make()
    expect(await llm.classify('p3', 'x <*>', 'x 1')).toBeUndefined()
    behaviour = { kind: 'answer', content: '{"category":"auth"}' }
    expect(await llm.classify('p3', 'x <*>', 'x 2')).toBeUndefined()
    expect(requests).toHaveLength(1)
    expect(await registry.metrics()).toMatch(/sluice_enricher_llm_calls_total\{result="rate_limited"\} 1/)
  })

  it('falls back on server errors, timeouts and answers outside the category list', async () => {
    const { llm, registry } = make({ retryAfterMs: 0 })
    behaviour = { kind: 'status', status: 500 }
    expect(await llm.classify('p4', 'a', 'a')).toBeUndefined()
    behaviour = { kind: 'slow', ms: 1500 }
    expect(await llm.classify('p5', 'b', 'b')).toBeUndefined()
    behaviour = { kind: 'answer', content: '{"category":"weather"}' }
    expect(await llm.classify('p6', 'c', 'c')).toBeUndefined()
    const m = await registry.metrics()
    expect(m).toMatch(/result="error"\} 1/)
    expect(m).toMatch(/result="timeout"\} 1/)
    expect(m).toMatch(/result="invalid_answer"\} 1/)
  })

  it('keeps to its budget of calls per minute', async () => {
    const { llm, registry } = make({ maxCallsPerMinute: 2 })
    expect(await llm.classify('a', 'a', 'a')).toBeDefined()
    expect(await llm.classify('b', 'b', 'b')).toBeDefined()
    expect(await llm.classify('c', 'c', 'c')).toBeUndefined()
    expect(requests).toHaveLength(2)
    expect(await registry.metrics()).toMatch(/sluice_enricher_llm_skipped_total\{reason="budget"\} 1/)
  })

  it('bounds its cache, evicting the oldest template', async () => {
    const { llm } = make({ cacheSize: 2 })
    for (const p of ['a', 'b', 'c']) await llm.classify(p, p, p)
    await llm.classify('a', 'a', 'a')
    expect(requests).toHaveLength(4)
  })
})
