// The alert explainer against a local server standing in for the query API's POST /v1/ai/search.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createLogger, createRegistry } from '@sluice/observability'
import { alertFixture } from '../../../test/infra/alerts.js'
import { AlertExplainer } from './explain.js'

async function queryApi(answer: (body: Record<string, unknown>) => { status: number; json: unknown }) {
  const seen: Array<{ body: Record<string, unknown>; tenant: string | undefined; url: string | undefined; authorization: string | undefined }> = []
  const server = http.createServer((req, res) => {
    let text = ''
    req.on('data', (c: Buffer) => (text += c.toString()))
    req.on('end', () => {
      const body = JSON.parse(text) as Record<string, unknown>
      seen.push({ body, tenant: req.headers['x-sluice-tenant'] as string | undefined, url: req.url, authorization: req.headers.authorization })
      const a = answer(body)
      res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.json))
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  onTestFinished(() => new Promise<void>((r) => server.close(() => r())))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen }
}

const make = async (answer: Parameters<typeof queryApi>[0], maxPerHour = 10, apiKey?: string) => {
  const api = await queryApi(answer)
  const registry = createRegistry({ defaultMetrics: false })
  const explainer = new AlertExplainer({ url: api.url, timeoutMs: 2000, maxPerHour, registry, logger: createLogger({ level: 'silent' }), apiKey })
  return { api, registry, explainer }
}

describe('AlertExplainer', () => {
  it("asks the query API about the alert's window and service, as its tenant, and keeps the answer and fixes", async () => {
    const { api, explainer, registry } = await make(() => ({ status: 200, json: { answer: 'payments logged 12 errors.', rootCause: 'gateway timeouts', suggestedFixes: ['Check the gateway.', 7] } }))
    const alert = alertFixture({ service: 'payments', tenant: 'acme' })
    expect(await explainer.explain(alert)).toEqual({ text: 'payments logged 12 errors. Likely cause: gateway timeouts', runbook: ['Check the gateway.'] })
    expect(api.seen[0]).toMatchObject({ url: '/v1/ai/search', tenant: 'acme', body: { service: 'payments', question: `Why is the alert "${alert.rule_name}" firing for payments?` } })
    const { from, to } = api.seen[0]!.body as { from: string; to: string }
    expect(Date.parse(from)).toBeLessThan(Number(alert.window_start / 1_000_000n))
    expect(Date.parse(to)).toBeGreaterThan(Number(alert.window_end / 1_000_000n))
    expect(await registry.metrics()).toContain('sluice_alerter_explanations_total{result="ok"} 1')
  })

  it('gives nothing when the query API fails, and stops asking once the hourly budget is spent', async () => {
    const failing = await make(() => ({ status: 400, json: { error: 'VALIDATION_FAILED' } }))
    expect(await failing.explainer.explain(alertFixture())).toBeNull()
    expect(await failing.registry.metrics()).toContain('sluice_alerter_explanations_total{result="failed"} 1')
    const budget = await make(() => ({ status: 200, json: { answer: 'ok' } }), 1)
    expect(await budget.explainer.explain(alertFixture())).toEqual({ text: 'ok', runbook: [] })
    expect(await budget.explainer.explain(alertFixture())).toBeNull()
    expect(budget.api.seen).toHaveLength(1)
    expect(await budget.registry.metrics()).toContain('sluice_alerter_explanations_total{result="budget"} 1')
  })

  it('presents ALERTER_QUERY_API_KEY as a Bearer token, and no credentials without one', async () => {
    const keyed = await make(() => ({ status: 200, json: { answer: 'ok' } }), 10, 'sk-explainer-key')
    await keyed.explainer.explain(alertFixture({ tenant: 'globex' }))
    expect(keyed.api.seen[0]).toMatchObject({ tenant: 'globex', authorization: 'Bearer sk-explainer-key' })
    const open = await make(() => ({ status: 200, json: { answer: 'ok' } }))
    await open.explainer.explain(alertFixture())
    expect(open.api.seen[0]!.authorization).toBeUndefined()
  })
})
