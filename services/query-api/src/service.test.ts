// The query API's routes without ClickHouse: a fake `query` records the SQL and parameters it was
// given and answers with rows (as ClickHouse's JSON format's `data`), so the shaping of answers, the tenant scoping and the 400s for bad
// parameters are checked through app.inject().
import { gunzipSync } from 'node:zlib'
import { describe, expect, it, vi } from 'vitest'
import { createLogger, createRegistry } from '@sluice/observability'
import { loadConfig } from './config.js'
import { buildApp } from './service.js'
import type { QueryDeps } from './service.js'
import { HOUR_NS } from './tenancy.js'

interface Asked {
  query: string
  query_params?: Record<string, unknown>
}

function app(rows: unknown[], env: Record<string, string> = {}) {
  const asked: Asked[] = []
  const clickhouse = {
    query: async (params: Asked) => {
      asked.push(params)
      return { json: async () => ({ data: rows }) }
    },
  } as unknown as QueryDeps['clickhouse']
  const a = buildApp(loadConfig({ CLICKHOUSE_DATABASE: 'db', QUERY_MAX_LIMIT: '500', ...env }), { logger: createLogger({ level: 'silent' }), registry: createRegistry({ defaultMetrics: false }), checks: {}, clickhouse })
  return { app: a, asked }
}

describe('query API', () => {
  it('sums counts by level and service for /v1/stats, scoped to the tenant header', async () => {
    const { app: a, asked } = app([
      { service: 'api', level: 'ERROR', count: '3' },
      { service: 'api', level: 'INFO', count: '10' },
      { service: 'web', level: 'INFO', count: '2' },
    ])
    const res = await a.inject({ url: '/v1/stats?service=api', headers: { 'x-sluice-tenant': 'acme' } })
    expect(res.json()).toEqual({ total: 15, byLevel: { ERROR: 3, INFO: 12 }, byService: { api: { total: 13, byLevel: { ERROR: 3, INFO: 10 } }, web: { total: 2, byLevel: { INFO: 2 } } } })
    expect(asked[0]!.query).toMatch(/FROM db\.logs FINAL/)
    expect(Object.values(asked[0]!.query_params ?? {})).toEqual(expect.arrayContaining(['acme', 'api']))
  })

  it('shapes stored rows back into logs: nanosecond timestamps as RFC 3339, empty strings as null', async () => {
    const { app: a, asked } = app([
      { id: 'a', tenant: 'acme', ts: '1763899200123456789', observed: '1763899200123456790', service: 'api', host: '', severity_text: 'ERROR', severity_number: 17, message: 'boom', trace_id: '', span_id: '', attributes: { k: 'v' }, resource: {}, source: 'http', category: 'unknown', is_error: true, pattern_id: 'p', template: 't', classifier: 'rules', http_status: null, duration_ms: null, user_id: 'u-1', session_id: '', error_code: '', redacted: false, truncated: true },
    ])
    const res = await a.inject({ url: '/v1/logs?level=error,warn&limit=20&q=bo' })
    expect(res.statusCode).toBe(200)
    expect(res.json().logs).toEqual([
      expect.objectContaining({ id: 'a', timestamp: '2025-11-23T12:00:00.123456789Z', observed_timestamp: '2025-11-23T12:00:00.123456790Z', host: null, trace_id: null, user_id: 'u-1', session_id: null, attributes: { k: 'v' }, redacted: false, truncated: true }),
    ])
    expect(asked[0]!.query).toMatch(/Redacted AS redacted, Truncated AS truncated/)
    expect(Object.values(asked[0]!.query_params ?? {})).toEqual(expect.arrayContaining([20, ['ERROR', 'WARN']]))
    expect(res.json().next_cursor).toBeNull()
  })

  it('refuses a /v1/logs, /v1/stats, export range or /v1/services window over QUERY_MAX_RANGE_HOURS as the analyst endpoints do, without asking ClickHouse', async () => {
    const { app: a, asked } = app([])
    const analyst = await a.inject({ url: '/v1/fields?from=0' })
    expect(analyst.statusCode).toBe(400)
    for (const url of ['/v1/logs?from=0', '/v1/stats?from=0', '/v1/logs/export?from=0', '/v1/stats?from=2020-01-01T00:00:00Z&to=2020-02-01T02:00:00Z', '/v1/services?window=43261m']) {
      const r = await a.inject({ url })
      expect(r.statusCode, url).toBe(400)
      expect(r.json().message, url).toMatch(/^the time range \(\d+\.\d h\) exceeds the limit of 721 h \(QUERY_MAX_RANGE_HOURS\)$/)
    }
    expect((await a.inject({ url: '/v1/logs?from=0' })).json()).toEqual(analyst.json())
    expect(asked).toEqual([])
  })

  it('leaves /v1/logs, /v1/stats and export open without `from` (no tenant limit), and takes an explicit range within QUERY_MAX_RANGE_HOURS', async () => {
    const { app: a, asked } = app([])
    const boundNs = (i: number) => Object.values(asked[i]!.query_params ?? {}).filter((v): v is string => typeof v === 'string' && /^\d{19}$/.test(v)).map(BigInt)
    for (const url of ['/v1/logs', '/v1/stats', '/v1/logs/export']) {
      const r = await a.inject({ url })
      expect(r.statusCode, url).toBe(200)
      expect(boundNs(asked.length - 1), url).toEqual([])
    }
    const to = 1_763_899_200_000_000_000n
    const ranged = await a.inject({ url: `/v1/logs?from=${to - 720n * HOUR_NS}&to=${to}` })
    expect(ranged.statusCode).toBe(200)
    expect(boundNs(asked.length - 1)).toEqual([to - 720n * HOUR_NS, to])
    expect((await a.inject({ url: '/v1/stats?to=1.5' })).statusCode).toBe(200)
  })

  it('refuses a /v1/logs cursor whose time lies past Int64, as any cursor it did not return', async () => {
    const { app: a, asked } = app([])
    const cursor = (text: string) => Buffer.from(text).toString('base64url')
    for (const forged of ['99999999999999999999|a', '18446744073709551616|a', '9223372036854775808|a', 'bm9wZQ']) {
      const r = await a.inject({ url: `/v1/logs?limit=2&cursor=${forged.includes('|') ? cursor(forged) : forged}` })
      expect(r.statusCode, forged).toBe(400)
      expect(r.json().message, forged).toBe('parameter cursor: not a cursor this API returned (next_cursor)')
    }
    expect(asked).toEqual([])
    // The latest time a record holds is a cursor the API can return.
    expect((await a.inject({ url: `/v1/logs?limit=2&cursor=${cursor('9223372036854775807|a')}` })).statusCode).toBe(200)
    expect(Object.values(asked[0]!.query_params ?? {})).toContain('9223372036854775807')
    // So is it with a word search, which reads up to the nanosecond after the cursor's: still an Int64.
    const searched = await a.inject({ url: `/v1/logs?limit=2&q=boom&cursor=${cursor('9223372036854775807|a')}` })
    expect(searched.statusCode).toBe(200)
    expect(asked.slice(1).flatMap((s) => Object.values(s.query_params ?? {})).filter((v) => /^\d{19,}$/.test(String(v))).every((v) => BigInt(String(v)) <= 2n ** 63n - 1n)).toBe(true)
  })

  it('takes a /v1/services window in whole minutes only, as /v1/trends takes its step', async () => {
    const { app: a, asked } = app([])
    for (const [name, url] of [['window', '/v1/services?window='], ['step', '/v1/trends?step=']] as const) {
      for (const v of ['1', '0.0001m', '90s', '1.5m']) {
        const r = await a.inject({ url: `${url}${v}` })
        expect(r.statusCode, `${url}${v}`).toBe(400)
        expect(r.json().message, `${url}${v}`).toBe(`parameter ${name}: must be a whole number of minutes (counts are kept per minute)`)
      }
      expect((await a.inject({ url: `${url}soon` })).json().message).toBe(`parameter ${name}: expected a duration like 30s, 15m, 1h or 7d`)
    }
    expect(asked).toEqual([])
    for (const [v, ms] of [['120s', 120_000], ['2m', 120_000], ['0.5h', 1_800_000], ['60', 60_000]] as const) {
      const r = await a.inject({ url: `/v1/services?window=${v}` })
      expect(r.statusCode, v).toBe(200)
      expect(r.json().window_ms, v).toBe(ms)
    }
    expect((await a.inject({ url: '/v1/trends?step=5m' })).json().step_seconds).toBe(300)
  })

  it('starts a default window reaching before 1970 at the epoch, printed as RFC 3339, and names `to` when nothing is left', async () => {
    const { app: a, asked } = app([])
    const patterns = await a.inject({ url: '/v1/patterns?to=1.5' })
    expect(patterns.statusCode).toBe(200)
    expect(patterns.json()).toEqual({ from: '1970-01-01T00:00:00.000000000Z', to: '1970-01-01T00:00:01.500000000Z', previous_from: '1970-01-01T00:00:00.000000000Z', patterns: [] })
    // No bound time before the epoch reaches ClickHouse.
    expect(asked.flatMap((x) => Object.values(x.query_params ?? {})).filter((v) => typeof v === 'string' && v.startsWith('-'))).toEqual([])
    const session = await a.inject({ url: '/v1/sessions/x?to=1.5' })
    expect(session.statusCode).toBe(404)
    expect(session.json().message).toBe('no records of session_id "x" between 1970-01-01T00:00:00.000000000Z and 1970-01-01T00:00:01.500000000Z')
    for (const url of ['/v1/patterns?to=0', '/v1/trends?to=0', '/v1/ai/insights?to=0']) {
      const r = await a.inject({ url })
      expect(r.statusCode, url).toBe(400)
      expect(r.json().message, url).toBe('parameter to: must be after 1970-01-01T00:00:00Z')
    }
    expect((await a.inject({ url: '/v1/patterns?from=2&to=1' })).json().message).toBe('parameter from: must be before to')
  })

  it('answers insights for a window starting at the epoch without asking for the empty window before it', async () => {
    const { app: a } = app([])
    const r = await a.inject({ url: '/v1/ai/insights?to=1&narrative=false' })
    expect(r.statusCode).toBe(200)
    const body = r.json()
    expect(body.window).toEqual({ from: '1970-01-01T00:00:00.000000000Z', to: '1970-01-01T00:00:01.000000000Z' })
    expect(body.queries.map((x: { url: string; status: number }) => [x.url.split('?')[0], x.status])).toEqual([
      ['/v1/trends', 200],
      ['/v1/patterns', 200],
      ['/v1/patterns', 200],
      ['/v1/services', 200],
    ])
  })

  it('starts a question\'s window reaching before 1970 at the epoch: its refused search names valid times', async () => {
    const { app: a } = app([])
    for (const question of ['errors in the last 99999999 hours', `errors in the last ${'9'.repeat(400)} hours`]) {
      const r = await a.inject({ method: 'POST', url: '/v1/ai/search', payload: { question } })
      expect(r.statusCode, question).toBe(400)
      const body = r.json()
      expect(body.message).toMatch(/^the question's search was refused: \/v1\/patterns\?.*from=1970-01-01T00%3A00%3A00\.000000000Z/)
      for (const x of body.queries as Array<{ url: string }>) {
        const from = new URL(x.url, 'http://x').searchParams.get('from')
        expect(from, x.url).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/)
      }
    }
  })

  it('reads a hex trace id in any case as the lower-case one every door stores', async () => {
    const { app: a, asked } = app([])
    expect((await a.inject({ url: '/v1/logs?trace_id=4BF92F3577B34DA6A3CE929D0E0E4736' })).statusCode).toBe(200)
    expect(Object.values(asked[0]!.query_params ?? {})).toContain('4bf92f3577b34da6a3ce929d0e0e4736')
  })

  it('answers 400 naming the parameter for a bad limit or level, without asking ClickHouse', async () => {
    const { app: a, asked } = app([])
    const big = await a.inject({ url: '/v1/logs?limit=501' })
    expect(big.statusCode).toBe(400)
    expect(big.json().message).toMatch(/limit/)
    expect((await a.inject({ url: '/v1/logs?level=loud' })).statusCode).toBe(400)
    expect(asked).toEqual([])
  })

  it('cancels the statement of a request whose client went away, answers it 499 as Loki does and logs no error', async () => {
    const lines: Array<{ level: number; msg: string }> = []
    let signal: AbortSignal | undefined
    const clickhouse = {
      // A statement that runs until it is cancelled, then fails as the embedded client does.
      query: (params: { abort_signal?: AbortSignal }) =>
        new Promise((_resolve, reject) => {
          signal = params.abort_signal
          signal?.addEventListener('abort', () => reject(new Error('Query aborted')))
        }),
    } as unknown as QueryDeps['clickhouse']
    const logger = createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(JSON.parse(l)) } })
    const a = buildApp(loadConfig({ CLICKHOUSE_DATABASE: 'db' }), { logger, registry: createRegistry({ defaultMetrics: false }), checks: {}, clickhouse })
    const answered: number[] = []
    a.addHook('onSend', async (_req, reply) => void answered.push(reply.statusCode))
    await a.listen({ host: '127.0.0.1', port: 0 })
    try {
      const { port } = a.server.address() as { port: number }
      for (const path of ['/loki/api/v1/query_range?query=%7Bapp%3D%22a%22%7D', '/v1/logs']) {
        signal = undefined
        const client = new AbortController()
        const sent = fetch(`http://127.0.0.1:${port}${path}`, { signal: client.signal }).catch((e: Error) => e.name)
        await vi.waitFor(() => expect(signal, path).toBeDefined())
        client.abort()
        expect(await sent).toBe('AbortError')
        await vi.waitFor(() => expect(signal?.aborted, path).toBe(true))
      }
      await vi.waitFor(() => expect(answered).toEqual([499, 499]))
      expect(lines.filter((l) => l.level >= 40)).toEqual([])
    } finally {
      await a.close()
    }
  })

  it('compresses answers of 1 KiB and more for clients that accept gzip or deflate, with QUERY_COMPRESS_RESPONSES only', async () => {
    const row = { id: 'a', tenant: 'acme', ts: '1763899200123456789', observed: '1763899200123456790', service: 'api', host: 'h', severity_text: 'INFO', severity_number: 9, message: 'user signed in from the usual place', trace_id: '', span_id: '', attributes: {}, resource: {}, source: 'http', category: 'auth', is_error: false, pattern_id: 'p', template: 't', classifier: 'rules', http_status: null, duration_ms: null, user_id: '', session_id: '', error_code: '' }
    const rows = Array.from({ length: 50 }, (_, i) => ({ ...row, id: `r${i}` }))
    const plain = await app(rows).app.inject({ url: '/v1/logs', headers: { 'accept-encoding': 'gzip' } })
    expect(plain.headers['content-encoding']).toBeUndefined()
    const { app: a } = app(rows, { QUERY_COMPRESS_RESPONSES: 'true' })
    const zipped = await a.inject({ url: '/v1/logs', headers: { 'accept-encoding': 'br;q=1, gzip;q=0.8' } })
    expect(zipped.headers['content-encoding']).toBe('gzip')
    expect(zipped.rawPayload.length).toBeLessThan(plain.rawPayload.length / 5)
    expect(JSON.parse(gunzipSync(zipped.rawPayload).toString())).toEqual(plain.json())
    const deflated = await a.inject({ url: '/loki/api/v1/status/buildinfo', headers: { 'accept-encoding': 'deflate' } })
    expect(deflated.headers['content-encoding'], 'a small answer').toBeUndefined()
    expect((await a.inject({ url: '/v1/logs', headers: { 'accept-encoding': 'deflate' } })).headers['content-encoding']).toBe('deflate')
    // The export, a stream of NDJSON, goes through the compressor as it is read.
    const exported = await a.inject({ url: '/v1/logs/export', headers: { 'accept-encoding': 'gzip' } })
    expect(exported.headers['content-encoding']).toBe('gzip')
    expect(gunzipSync(exported.rawPayload).toString().trim().split('\n').map((l) => JSON.parse(l).id)).toEqual(rows.map((r) => r.id))
    for (const accept of [undefined, 'identity', 'gzip;q=0']) {
      const r = await a.inject({ url: '/v1/logs', headers: accept === undefined ? {} : { 'accept-encoding': accept } })
      expect(r.headers['content-encoding'], accept).toBeUndefined()
      expect(r.json(), accept).toEqual(plain.json())
    }
  })
})
