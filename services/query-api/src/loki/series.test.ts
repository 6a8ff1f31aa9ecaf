// /loki/api/v1/series without ClickHouse: a fake `query` that takes a while per statement shows
// that QUERY_TIMEOUT_MS bounds a request of many match[] selectors (one statement each), not
// each statement alone — 20 000 selectors kept a request busy for 70 s before.
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createLogger, createRegistry } from '@sluice/observability'
import { loadConfig } from '../config.js'
import { buildApp } from '../service.js'
import type { QueryDeps } from '../service.js'

describe('GET /loki/api/v1/series', () => {
  it('stops at QUERY_TIMEOUT_MS over all its selectors, a 400 saying how many were answered', async () => {
    let statements = 0
    const clickhouse = {
      query: async () => {
        statements++
        await sleep(20)
        return { json: async () => ({ data: [] }) }
      },
    } as unknown as QueryDeps['clickhouse']
    const app = buildApp(loadConfig({ CLICKHOUSE_DATABASE: 'db', QUERY_TIMEOUT_MS: '100' }), { logger: createLogger({ level: 'silent' }), registry: createRegistry({ defaultMetrics: false }), checks: {}, clickhouse })
    onTestFinished(() => app.close())
    const match = Array.from({ length: 50 }, (_, i) => `match[]=${encodeURIComponent(`{service_name="s${i}"}`)}`)
    // The same selector twice is asked once.
    const res = await app.inject({ method: 'GET', url: `/loki/api/v1/series?${[...match, match[0]].join('&')}` })
    expect(res.statusCode).toBe(400)
    expect(res.body).toMatch(/^query timed out after 100 ms \(QUERY_TIMEOUT_MS\) with \d+ of 50 match\[\] selectors answered; send fewer selectors$/)
    expect(statements).toBeLessThan(50)
  })
})
