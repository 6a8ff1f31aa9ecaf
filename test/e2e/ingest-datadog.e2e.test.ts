// Datadog log intake end to end, sent by Datadog's own API client (@datadog/datadog-api-client,
// v2.LogsApi.submitLog, pointed at the gateway by a base server): a gzip batch with its DD-API-KEY
// as the Sluice key (SLUICE_AUTH=true), then a deflate and an uncompressed one without
// authentication. Then as the Datadog Agent sends (plain requests: DD-PROTOCOL agent-json, gzip,
// the dd-message-timestamp header as the time of logs without their own), a single log to
// /v1/input, the validate check, and a batch with bad logs among good ones (400 naming each, the
// good ones stored). Each record's message, level, time, host, service, tenant, resource (ddsource
// and ddtags) and attributes are read back from ClickHouse through the query API.
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { client, v2 } from '@datadog/datadog-api-client'
import { hashKey } from '@sluice/auth'
import { isoNs, logsOf } from '../infra/logs.js'
import type { StoredLog } from '../infra/logs.js'
import { isolation, startSluice } from '../infra/sluice.js'

const TARGETS = ['gateway', 'enricher', 'clickhouse-sink', 'query-api'] as const

// With SLUICE_AUTH=true: the client's API key (ingest) and a key to read back with (query).
const TENANT = 'datadog-e2e'
const DD_API_KEY = 'dd-api-key-5e81b7'
const READ_KEY = 'datadog-read-key'
const KEYS = JSON.stringify({
  keys: [
    { id: 'datadog', sha256: hashKey(DD_API_KEY), tenants: [TENANT], scopes: ['ingest'] },
    { id: 'reader', sha256: hashKey(READ_KEY), tenants: [TENANT], scopes: ['query'] },
  ],
})

/** The client's Logs API sending to `gateway` (instead of Datadog's intake) with `apiKey` as DD-API-KEY. */
function logsApi(gateway: string, apiKey: string): v2.LogsApi {
  const configuration = client.createConfiguration({ baseServer: new client.BaseServerConfiguration(gateway, {}), authMethods: { apiKeyAuth: apiKey } })
  return new v2.LogsApi(configuration)
}

/** What the client's submitLog rejected with: an ApiException, its status and body. */
async function refusal(sending: Promise<unknown>): Promise<client.ApiException<{ errors: unknown[]; additionalProperties?: Record<string, unknown> }>> {
  const err = await sending.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(client.ApiException)
  return err as client.ApiException<{ errors: unknown[]; additionalProperties?: Record<string, unknown> }>
}

/** The details of the errors of a refusal, as the client reads them (HTTPLogError: {detail, status, title}). */
function errorTexts(errors: unknown[]): string[] {
  return errors.map((e) => {
    expect(e).toBeInstanceOf(v2.HTTPLogError)
    return (e as v2.HTTPLogError).detail ?? ''
  })
}

/** Datadog's error objects of `status`, one per detail, as they are on the wire. */
const wireErrors = (status: number, title: string, ...details: unknown[]) => details.map((detail) => ({ status: String(status), title, detail }))

/** What is asserted of a stored record, whole (toMatchObject would take any superset of a map). */
const shape = (l: StoredLog | undefined) => l && { tenant: l.tenant, service: l.service, host: l.host, severity_text: l.severity_text, timestamp: l.timestamp, resource: l.resource, attributes: l.attributes }

describe('Datadog log intake end to end', () => {
  it("stores a gzip batch of the Datadog API client's logs under its API key's tenant, each with its status, time, tags and attributes", async () => {
    const rt = await startSluice([...TARGETS], isolation({ SLUICE_AUTH: 'true', SLUICE_API_KEYS: KEYS }))
    const gateway = rt.addresses.gateway!
    const baseMs = Math.floor(Date.now() / 1000) * 1000 - 60_000
    const sent = [
      { message: 'checkout started', status: 'info', level: 'INFO', ms: baseMs + 123 },
      { message: 'payment provider slow', status: 'warn', level: 'WARN', ms: baseMs + 1_456 },
      { message: 'card declined', status: 'error', level: 'ERROR', ms: baseMs + 2_789 },
      // Datadog's `ok`: no level Sluice knows, so INFO, the status kept as an attribute.
      { message: 'health probe passed', status: 'ok', level: 'INFO', ms: baseMs + 3_001 },
    ]

    // The model's declared fields (message, service, hostname, ddsource, ddtags) are its properties;
    // anything else goes in additionalProperties, which the client writes as fields of the log.
    const api = logsApi(gateway, DD_API_KEY)
    const answer = await api.submitLog({
      contentEncoding: 'gzip',
      ddtags: 'team:payments',
      body: sent.map((e) => ({
        message: e.message,
        service: 'dd-checkout',
        hostname: 'web-1',
        ddsource: 'nodejs',
        ddtags: 'env:prod,version:1.4.2,canary',
        additionalProperties: { status: e.status, timestamp: e.ms, http: { method: 'POST', status_code: 504 }, usr: { id: 'u-7' } },
      })),
    })
    expect(answer).toEqual({})

    // A key the gateway does not know: 401, which the client throws as an ApiException.
    const refused = await refusal(logsApi(gateway, 'not-a-datadog-key').submitLog({ body: [{ message: 'from a stranger', service: 'dd-checkout' }], contentEncoding: 'gzip' }))
    expect(refused.code).toBe(401)
    expect(errorTexts(refused.body.errors)).toEqual(['invalid API key'])
    // On the wire: Datadog's {"errors": [{status, title, detail}]}.
    const res = await fetch(`${gateway}/api/v2/logs`, { method: 'POST', headers: { 'dd-api-key': 'not-a-datadog-key', 'content-type': 'application/json' }, body: '[{"message":"from a stranger"}]' })
    expect(res.status).toBe(401)
    expect(await res.json()).toEqual({ errors: wireErrors(401, 'Unauthorized', 'invalid API key') })

    const logs = await logsOf(rt.addresses['query-api']!, 'dd-checkout', 4, READ_KEY)
    expect([...logs.values()].map((l) => [l.message, l.severity_text]).sort()).toEqual(sent.map((e) => [e.message, e.level]).sort())
    for (const e of sent) {
      expect(shape(logs.get(e.message))).toEqual({
        tenant: TENANT,
        service: 'dd-checkout',
        host: 'web-1',
        severity_text: e.level,
        timestamp: isoNs(e.ms),
        // ddsource, the log's ddtags (`canary` without a value) and the request's ?ddtags.
        resource: { ddsource: 'nodejs', env: 'prod', version: '1.4.2', canary: '', team: 'payments' },
        // Nested fields as dotted keys; status and timestamp read, not left behind (but `ok`).
        attributes: { 'http.method': 'POST', 'http.status_code': '504', 'usr.id': 'u-7', ...(e.status === 'ok' && { status: 'ok' }) },
      })
    }
  })

  it('stores deflate and uncompressed client batches, an Agent-style gzip request at its dd-message-timestamp, and one log posted to /v1/input', async () => {
    const rt = await startSluice([...TARGETS], isolation())
    const gateway = rt.addresses.gateway!
    const queryApi = rt.addresses['query-api']!
    const validate = await fetch(`${gateway}/api/v1/validate`, { headers: { 'dd-api-key': 'any-key' } })
    expect(validate.status).toBe(200)
    expect(await validate.json()).toEqual({ valid: true })

    const baseMs = Math.floor(Date.now() / 1000) * 1000 - 120_000
    // Without authentication the key is not looked at.
    const api = logsApi(gateway, 'any-key')
    expect(
      await api.submitLog({
        contentEncoding: 'deflate',
        body: [
          { message: 'queue drained', service: 'dd-agentless', hostname: 'worker-3', ddsource: 'python', additionalProperties: { status: 'debug', timestamp: baseMs + 10, queue: 'emails' } },
          { message: 'retrying send', service: 'dd-agentless', hostname: 'worker-3', ddsource: 'python', additionalProperties: { status: 'warning', timestamp: baseMs + 20, attempt: 2 } },
        ],
      }),
    ).toEqual({})
    // No compression, the tags in the query string only.
    expect(await api.submitLog({ ddtags: 'env:staging,region:eu-west-1', body: [{ message: 'send failed', service: 'dd-agentless', hostname: 'worker-4', additionalProperties: { status: 'critical', timestamp: baseMs + 30 } }] })).toEqual({})

    // As the Datadog Agent posts: gzip JSON, DD-PROTOCOL agent-json, and the time of the batch in
    // dd-message-timestamp for its logs that carry none.
    const agentMs = baseMs + 4_567
    const agentLogs = [
      { message: 'GET /health 200', status: 'info', hostname: 'node-a', service: 'dd-agent', ddsource: 'nginx', ddtags: 'env:prod,kube_namespace:shop,image_tag:1.27' },
      { message: 'upstream timed out', status: 'error', hostname: 'node-a', service: 'dd-agent', ddsource: 'nginx', ddtags: 'env:prod,kube_namespace:shop,image_tag:1.27', timestamp: agentMs - 1_000 },
    ]
    const agent = await fetch(`${gateway}/api/v2/logs`, {
      method: 'POST',
      headers: { 'DD-API-KEY': 'any-key', 'DD-PROTOCOL': 'agent-json', 'dd-message-timestamp': String(agentMs), 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
      body: gzipSync(JSON.stringify(agentLogs)),
    })
    expect(await agent.json()).toEqual({})
    expect(agent.status).toBe(202)

    // One log, not an array, to the v1 path; `level` and `host` where Datadog's names are missing.
    const input = await fetch(`${gateway}/v1/input`, { method: 'POST', headers: { 'DD-API-KEY': 'any-key', 'Content-Type': 'application/json' }, body: JSON.stringify({ message: 'cron finished', level: 'warn', host: 'batch-1', service: 'dd-input', timestamp: baseMs + 5_000 }) })
    expect(input.status).toBe(202)
    expect(await input.json()).toEqual({})

    const fromClient = await logsOf(queryApi, 'dd-agentless', 3)
    const agentless = { tenant: 'default', service: 'dd-agentless' }
    expect(shape(fromClient.get('queue drained'))).toEqual({ ...agentless, host: 'worker-3', severity_text: 'DEBUG', timestamp: isoNs(baseMs + 10), resource: { ddsource: 'python' }, attributes: { queue: 'emails' } })
    // A status that is a level by another name than Sluice's: that level, the name kept as log.level.
    expect(shape(fromClient.get('retrying send'))).toEqual({ ...agentless, host: 'worker-3', severity_text: 'WARN', timestamp: isoNs(baseMs + 20), resource: { ddsource: 'python' }, attributes: { attempt: '2', 'log.level': 'warning' } })
    expect(shape(fromClient.get('send failed'))).toEqual({ ...agentless, host: 'worker-4', severity_text: 'FATAL', timestamp: isoNs(baseMs + 30), resource: { env: 'staging', region: 'eu-west-1' }, attributes: { 'log.level': 'critical' } })

    const fromAgent = await logsOf(queryApi, 'dd-agent', 2)
    const agentRecord = { tenant: 'default', service: 'dd-agent', host: 'node-a', resource: { ddsource: 'nginx', env: 'prod', kube_namespace: 'shop', image_tag: '1.27' }, attributes: {} }
    expect(shape(fromAgent.get('GET /health 200'))).toEqual({ ...agentRecord, severity_text: 'INFO', timestamp: isoNs(agentMs) })
    // A log's own timestamp wins over the header's.
    expect(shape(fromAgent.get('upstream timed out'))).toEqual({ ...agentRecord, severity_text: 'ERROR', timestamp: isoNs(agentMs - 1_000) })

    const fromInput = await logsOf(queryApi, 'dd-input', 1)
    expect(shape(fromInput.get('cron finished'))).toEqual({ tenant: 'default', service: 'dd-input', host: 'batch-1', severity_text: 'WARN', timestamp: isoNs(baseMs + 5_000), resource: {}, attributes: {} })
  })

  it('answers a batch with bad logs among good ones 400 naming each, and stores the good ones', async () => {
    const rt = await startSluice([...TARGETS], isolation())
    const gateway = rt.addresses.gateway!
    const baseMs = Math.floor(Date.now() / 1000) * 1000 - 30_000
    const batch = [
      { message: 'first good log', service: 'dd-mixed', hostname: 'api-1', status: 'info', timestamp: baseMs + 1 },
      'a line that is not a log object',
      { message: 'service is a number', service: 42, status: 'error' },
      { message: 'hostname is a number', service: 'dd-mixed', hostname: 7 },
      { message: 'second good log', service: 'dd-mixed', hostname: 'api-2', status: 'success', ddtags: 'env:prod', timestamp: baseMs + 2 },
    ]
    const res = await fetch(`${gateway}/api/v2/logs`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(batch) })
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual({
      errors: wireErrors(
        400,
        'Bad Request',
        'log 1: expected a log object, got string',
        expect.stringMatching(/^log 2: service: .*expected string/),
        // Sluice's `host`, named as the client spelled it.
        expect.stringMatching(/^log 3: hostname: .*expected string/),
      ),
      accepted: 2,
      rejected: 3,
    })

    // The client surfaces the same refusal as an ApiException (its counts under additionalProperties).
    const refused = await refusal(
      logsApi(gateway, 'any-key').submitLog({
        contentEncoding: 'gzip',
        body: [
          { message: 'third good log', service: 'dd-mixed', additionalProperties: { timestamp: baseMs + 3 } },
          { message: 'time is not a time', service: 'dd-mixed', additionalProperties: { timestamp: 'yesterday' } },
        ],
      }),
    )
    expect(refused.code).toBe(400)
    expect(refused.body.additionalProperties).toEqual({ accepted: 1, rejected: 1 })
    const [timeError, ...more] = errorTexts(refused.body.errors)
    expect(more).toEqual([])
    expect(timeError).toMatch(/^log 1: timestamp: unparseable timestamp "yesterday"/)

    const logs = await logsOf(rt.addresses['query-api']!, 'dd-mixed', 3)
    expect([...logs.keys()].sort()).toEqual(['first good log', 'second good log', 'third good log'])
    const mixed = { tenant: 'default', service: 'dd-mixed' }
    expect(shape(logs.get('first good log'))).toEqual({ ...mixed, host: 'api-1', severity_text: 'INFO', timestamp: isoNs(baseMs + 1), resource: {}, attributes: {} })
    // `success` (Datadog's OK) is no level Sluice knows: INFO, kept as the status attribute.
    expect(shape(logs.get('second good log'))).toEqual({ ...mixed, host: 'api-2', severity_text: 'INFO', timestamp: isoNs(baseMs + 2), resource: { env: 'prod' }, attributes: { status: 'success' } })
    expect(shape(logs.get('third good log'))).toEqual({ ...mixed, host: null, severity_text: 'INFO', timestamp: isoNs(baseMs + 3), resource: {}, attributes: {} })
  })
})
