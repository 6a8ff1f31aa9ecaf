// Gateway → enricher → ClickHouse: records arrive with level normalised, fields extracted, PII
// redacted, category and pattern_id set; unknown templates go to the (local, Groq-speaking) LLM
// once and are answered from the cache afterwards.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it, onTestFinished } from 'vitest'
import { isolation, startSluice, waitFor } from '../infra/sluice.js'

interface StoredLog {
  id: string
  message: string
  severity_text: string
  category: string
  classifier: string
  pattern_id: string
  template: string
  http_status: number | null
  duration_ms: number | null
  user_id: string | null
  error_code: string | null
  attributes: Record<string, string>
}

async function postNdjson(gw: string, records: object[]) {
  const res = await fetch(`${gw}/v1/logs`, { method: 'POST', body: records.map((r) => JSON.stringify(r)).join('\n'), headers: { 'content-type': 'application/x-ndjson' } })
  expect(res.status).toBe(200)
}

async function stored(q: string, n: number, query = ''): Promise<Map<string, StoredLog>> {
  const logs = await waitFor(`${n} enriched rows`, async () => {
    const body = (await (await fetch(`${q}/v1/logs?limit=100${query}`)).json()) as { logs: StoredLog[] }
    return body.logs.length >= n ? body.logs : undefined
  })
  return new Map(logs.map((l) => [l.id, l]))
}

describe('enrichment end to end', () => {
  it('keeps mined templates across a restart: a known message shape keeps its generalised pattern_id', async () => {
    const iso = isolation()
    const first = await startSluice(['gateway', 'enricher', 'clickhouse-sink', 'query-api'], iso)
    await postNdjson(first.addresses.gateway!, [
      { id: 't1', service: 'auth', message: 'session opened for alice via sso' },
      { id: 't2', service: 'auth', message: 'session opened for bob via sso' },
      { id: 't3', service: 'auth', message: 'session opened for carol via sso' },
    ])
    const before = await stored(first.addresses['query-api']!, 3)
    // Three names at one place make it a parameter: alice's and bob's groups merged into carol's.
    expect(before.get('t3')?.template).toBe('session opened for <*> via sso')
    expect(before.get('t1')?.pattern_id).not.toBe(before.get('t3')?.pattern_id)
    await first.close()

    const second = await startSluice(['gateway', 'enricher', 'clickhouse-sink', 'query-api'], iso)
    await postNdjson(second.addresses.gateway!, [{ id: 't4', service: 'auth', message: 'session opened for dave via sso' }])
    const after = await stored(second.addresses['query-api']!, 4)
    // Without the restored group, dave's message would found a group of its own, with his name in the template.
    expect(after.get('t4')).toMatchObject({ template: 'session opened for <*> via sso', pattern_id: before.get('t3')?.pattern_id })
    // A query by the group's id finds the records stored under the ids merged into it, and by an old id too.
    const q = second.addresses['query-api']!
    for (const id of [before.get('t3')!.pattern_id, before.get('t1')!.pattern_id]) {
      const byPattern = (await (await fetch(`${q}/v1/logs?pattern_id=${id}`)).json()) as { logs: StoredLog[] }
      expect(byPattern.logs.map((l) => l.id).sort()).toEqual(['t1', 't2', 't3', 't4'])
    }
  })

  it('normalises, parses, redacts, mines templates and classifies every record', async () => {
    const iso = isolation()
    const rt = await startSluice(['gateway', 'enricher', 'clickhouse-sink', 'query-api'], iso)
    await postNdjson(rt.addresses.gateway!, [
      { id: 'access', service: 'edge', message: '203.0.113.9 - - [23/Nov/2026:12:00:01 +0000] "GET /api/orders/1234 HTTP/1.1" 503 512 "-" "curl/8.5.0" 0.250' },
      { id: 'json', service: 'checkout', message: '{"level":"error","msg":"card declined","user_id":"u-77","error_code":"card_declined"}' },
      { id: 'db1', service: 'orders', level: 'ERR', message: 'deadlock detected while updating row 17 in table orders' },
      { id: 'db2', service: 'orders', level: 'ERR', message: 'deadlock detected while updating row 93 in table orders' },
      { id: 'pii', service: 'auth', message: 'password reset sent to jane.doe@example.com' },
    ])
    const logs = await stored(rt.addresses['query-api']!, 5)

    expect(logs.get('access')).toMatchObject({ http_status: 503, duration_ms: 250, category: 'dependency', classifier: 'rules' })
    expect(logs.get('json')).toMatchObject({ severity_text: 'ERROR', user_id: 'u-77', error_code: 'card_declined', category: 'payment' })
    const [db1, db2] = [logs.get('db1')!, logs.get('db2')!]
    expect(db1).toMatchObject({ severity_text: 'ERROR', category: 'database' })
    expect(db1.pattern_id).toMatch(/^[0-9a-f]{16}$/)
    expect(db2.pattern_id).toBe(db1.pattern_id)
    expect(db1.template).toContain('deadlock detected while updating row')
    const pii = logs.get('pii')!
    expect(pii.message).not.toContain('jane.doe@example.com')
    expect(pii.message).toContain('password reset sent to')

    const byPattern = (await (await fetch(`${rt.addresses['query-api']}/v1/logs?pattern_id=${db1.pattern_id}`)).json()) as { logs: StoredLog[] }
    expect(byPattern.logs.map((l) => l.id).sort()).toEqual(['db1', 'db2'])
  })

  it('asks the LLM once for a template the rules leave unknown, then answers from its cache', async () => {
    let calls = 0
    const groq = http.createServer((req, res) => {
      req.resume()
      req.on('end', () => {
        calls++
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            id: 'chatcmpl-e2e',
            object: 'chat.completion',
            created: Math.floor(Date.now() / 1000),
            model: 'llama-3.1-8b-instant',
            choices: [{ index: 0, message: { role: 'assistant', content: '{"category":"resource"}' }, finish_reason: 'stop' }],
            usage: { prompt_tokens: 100, completion_tokens: 6, total_tokens: 106 },
          }),
        )
      })
    })
    await new Promise<void>((r) => groq.listen(0, '127.0.0.1', r))
    onTestFinished(() => new Promise<void>((r) => groq.close(() => r())))
    const iso = isolation({ GROQ_API_KEY: 'gsk_local', GROQ_BASE_URL: `http://127.0.0.1:${(groq.address() as AddressInfo).port}` })
    const rt = await startSluice(['gateway', 'enricher', 'clickhouse-sink', 'query-api'], iso)
    const gw = rt.addresses.gateway!
    await postNdjson(gw, [{ id: 'w1', service: 'batch', message: 'frobnicator queue depth reached 812 widgets' }])
    await stored(rt.addresses['query-api']!, 1)
    await postNdjson(gw, [{ id: 'w2', service: 'batch', message: 'frobnicator queue depth reached 9 widgets' }])
    const logs = await stored(rt.addresses['query-api']!, 2)
    expect(logs.get('w1')).toMatchObject({ category: 'resource', classifier: 'llm' })
    expect(logs.get('w2')).toMatchObject({ category: 'resource', classifier: 'cache' })
    expect(calls).toBe(1)
  })
})
