// Every HTTP service of a running Sluice (--target all) describes itself: a valid OpenAPI 3.1
// document at /openapi.json, made from the zod schemas that validate its routes, and Swagger UI
// at /docs. That no route is left out of a document is checked when each app starts
// (createHttpApp's start-up check), so this run would fail to start otherwise.
import SwaggerParser from '@apidevtools/swagger-parser'
import { describe, expect, it } from 'vitest'
import { TARGETS } from '@sluice/runner'
import { isolation, startSluice } from '../infra/sluice.js'

/** Paths each service's document must hold (a sample of its API, beside the ops routes). */
const EXPECTED: Record<string, string[]> = {
  gateway: ['/v1/logs', '/otlp/v1/logs', '/loki/api/v1/push', '/_bulk', '/{index}/_bulk'],
  enricher: [],
  'clickhouse-sink': [],
  alerter: ['/v1/alert-rules', '/v1/alerts', '/v1/alerts/{id}', '/v1/alerts/{id}/ack', '/v1/alerts/{id}/resolve', '/v1/notification-channels', '/v1/notification-channels/{name}/test', '/v1/notifications', '/v1/notifications/mark-read'],
  'query-api': ['/v1/logs', '/v1/logs/export', '/v1/services', '/v1/trends', '/v1/patterns', '/v1/sessions/{session_id}', '/v1/blast-radius', '/v1/fields', '/v1/ai/search', '/v1/ai/explain', '/v1/ai/insights', '/loki/api/v1/query_range', '/loki/api/v1/tail'],
  'ws-fanout': ['/', '/v1/stream'],
  connectors: ['/v1/connections', '/v1/connections/{id}', '/v1/connections/{id}/start', '/v1/connections/{id}/stop', '/v1/connections/{id}/test', '/v1/connections/{id}/status'],
}

describe('OpenAPI', () => {
  it('serves a valid document and Swagger UI on every HTTP service', async () => {
    const rt = await startSluice([...TARGETS], isolation())
    expect(Object.keys(rt.addresses).sort()).toEqual(Object.keys(EXPECTED).sort())
    for (const [name, address] of Object.entries(rt.addresses)) {
      const res = await fetch(`${address}/openapi.json`)
      expect(res.status, name).toBe(200)
      const doc = (await res.json()) as { openapi: string; info: { title: string }; paths: Record<string, Record<string, { tags?: string[] }>> }
      expect(doc.openapi).toBe('3.1.0')
      expect(doc.info.title).toBe(`Sluice ${name}`)
      // The validator dereferences in place: give it a copy.
      await expect(SwaggerParser.validate(structuredClone(doc) as never), name).resolves.toBeDefined()
      expect(Object.keys(doc.paths), `${name}: ${Object.keys(doc.paths).join(' ')}`).toEqual(expect.arrayContaining(['/healthz', '/readyz', '/metrics', ...EXPECTED[name]!]))
      const ui = await fetch(`${address}/docs/`)
      expect(ui.status, name).toBe(200)
      expect(await ui.text()).toContain('swagger-ui')
    }
  })

  it('describes query parameters from the schemas that validate them', async () => {
    const rt = await startSluice(['query-api'], isolation())
    const doc = (await (await fetch(`${rt.addresses['query-api']}/openapi.json`)).json()) as {
      paths: Record<string, { get: { parameters: Array<{ name: string; in: string; schema: { maximum?: number; enum?: string[] } }> } }>
    }
    const params = Object.fromEntries(doc.paths['/v1/patterns']!.get.parameters.map((p) => [p.name, p]))
    expect(params.sort!.schema.enum).toEqual(['count', 'growth', 'errors'])
    expect(params.limit!.schema.maximum).toBe(1000)
    const bad = await fetch(`${rt.addresses['query-api']}/v1/patterns?sort=loudest`)
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as { message: string }).message).toMatch(/^parameter sort: /)
  })
})
