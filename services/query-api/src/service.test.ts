// The query API's routes without ClickHouse: a fake `query` records the SQL and parameters it was
// given and answers with rows (as ClickHouse's JSON format's `data`), so the shaping of answers, the tenant scoping and the 400s for bad
// parameters are checked through app.inject().
import { describe, expect, it } from 'vitest'
import { createLogger, createRegistry } from '@sluice/observability'
import { loadConfig } from './config.js'
import { buildApp } from './service.js'
import type { QueryDeps } from './service.js'

interface Asked {
  query: string
  query_params?: Record<string, unknown>
}

function app(rows: unknown[]) {
  const asked: Asked[] = []
  const clickhouse = {
    query: async (params: Asked) => {
      asked.push(params)
      return { json: async () => ({ data: rows }) }
    },
  } as unknown as QueryDeps['clickhouse']
  const a = buildApp(loadConfig({ CLICKHOUSE_DATABASE: 'db', QUERY_MAX_LIMIT: '500' }), { logger: createLogger({ level: 'silent' }), registry: createRegistry({ defaultMetrics: false }), checks: {}, clickhouse })
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
      { id: 'a', tenant: 'acme', ts: '1763899200123456789', observed: '1763899200123456790', service: 'api', host: '', severity_text: 'ERROR', severity_number: 17, message: 'boom', trace_id: '', span_id: '', attributes: { k: 'v' }, resource: {}, source: 'http', category: 'unknown', is_error: true, pattern_id: 'p', template: 't', classifier: 'rules', http_status: null, duration_ms: null, user_id: 'u-1', session_id: '', error_code: '' },
    ])
    const res = await a.inject({ url: '/v1/logs?level=error,warn&limit=20&q=bo' })
    expect(res.statusCode).toBe(200)
    expect(res.json().logs).toEqual([
      expect.objectContaining({ id: 'a', timestamp: '2025-11-23T12:00:00.123456789Z', observed_timestamp: '2025-11-23T12:00:00.123456790Z', host: null, trace_id: null, user_id: 'u-1', session_id: null, attributes: { k: 'v' } }),
    ])
    expect(Object.values(asked[0]!.query_params ?? {})).toEqual(expect.arrayContaining([20, ['ERROR', 'WARN']]))
    expect(res.json().next_cursor).toBeNull()
  })

  it('answers 400 naming the parameter for a bad limit or level, without asking ClickHouse', async () => {
    const { app: a, asked } = app([])
    const big = await a.inject({ url: '/v1/logs?limit=501' })
    expect(big.statusCode).toBe(400)
    expect(big.json().message).toMatch(/limit/)
    expect((await a.inject({ url: '/v1/logs?level=loud' })).statusCode).toBe(400)
    expect(asked).toEqual([])
  })
})
