// The azure-monitor provider with the real @azure/identity and @azure/monitor-query-logs clients
// against a local Entra ID + Log Analytics (test/fakes/azure-monitor.ts): the mapping of every
// field, exact windows, keyset pages (with late rows between them), throttling, credentials,
// missing selections, outages, partial results, aborts, and the auth material the SDKs sent.
import { describe, expect, it, onTestFinished, vi } from 'vitest'
import { validateLogInput } from '@sluice/core'
import { startFakeAzureMonitor } from '../../../../test/fakes/azure-monitor.js'
import type { FakeAzureMonitor, FakeAzureMonitorSettings, FakeColumn } from '../../../../test/fakes/azure-monitor.js'
import { ProviderError } from '../provider.js'
import type { FetchRequest, Page, ProviderEvent } from '../provider.js'
import { azureMonitor } from './azure-monitor.js'

const T0 = Date.UTC(2026, 11, 1, 12, 0, 0)
const MIN = 60_000
/** RFC 3339 with 7 fraction digits (Log Analytics' 100 ns), `ms` after T0 plus `ticks` × 100 ns. */
const at = (ms: number, ticks = 0) => `${new Date(T0 + ms).toISOString().slice(0, 19)}.${(((T0 + ms) % 1000) * 10_000 + ticks).toString().padStart(7, '0')}Z`
const nsAt = (ms: number, ticks = 0) => (BigInt(T0 + ms) * 1_000_000n + BigInt(ticks) * 100n).toString()

const RESOURCE_ID = '/subscriptions/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/resourceGroups/rg-shop/providers/microsoft.insights/components/shop-insights'

function connect(fake: FakeAzureMonitor, overrides: Partial<FakeAzureMonitorSettings> = {}) {
  const client = azureMonitor.connect(azureMonitor.settingsSchema.parse(fake.settings(overrides)))
  onTestFinished(() => client.close())
  return client
}

const req = (over: Partial<FetchRequest> = {}): FetchRequest => ({ fromMs: T0, toMs: T0 + 10 * MIN, limit: 100, signal: AbortSignal.timeout(20_000), ...over })

async function rejection(p: Promise<unknown>): Promise<ProviderError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(ProviderError)
  return err as ProviderError
}

/** Every page of a window, in order. */
async function readAll(fetch: (token: string | undefined) => Promise<Page>): Promise<{ pages: Page[]; events: ProviderEvent[] }> {
  const pages: Page[] = []
  let token: string | undefined
  do {
    const page = await fetch(token)
    pages.push(page)
    token = page.nextPageToken
  } while (token !== undefined && pages.length < 50)
  return { pages, events: pages.flatMap((p) => p.events) }
}

const queries = (fake: FakeAzureMonitor) => fake.calls.filter((c) => c.kind === 'query').map((c) => c.body as { query: string; timespan: string })

describe('azure-monitor settings', () => {
  const base = { workspaceId: '5e2f7a10-3c4b-4d8e-9f01-a2b3c4d5e6f7', tenantId: 'contoso.onmicrosoft.com', clientId: 'app', clientSecret: 's3cret' }

  it('defaults the source to AppTraces and the time column to TimeGenerated, and names the secret', () => {
    const s = azureMonitor.settingsSchema.parse(base)
    expect(s).toEqual({ ...base, query: 'AppTraces', timeColumn: 'TimeGenerated' })
    expect(azureMonitor.kind).toBe('azure-monitor')
    expect(azureMonitor.secretFields).toEqual(['clientSecret'])
  })

  it('rejects unknown fields, plain-http endpoints, a workspace name and column names that are not identifiers', () => {
    expect(azureMonitor.settingsSchema.safeParse({ ...base, region: 'westeurope' }).success).toBe(false)
    expect(azureMonitor.settingsSchema.safeParse({ ...base, endpoint: 'http://127.0.0.1:1/v1' }).success).toBe(false)
    expect(azureMonitor.settingsSchema.safeParse({ ...base, authorityHost: 'http://login.example' }).success).toBe(false)
    expect(azureMonitor.settingsSchema.safeParse({ ...base, workspaceId: 'my-workspace' }).success).toBe(false)
    expect(azureMonitor.settingsSchema.safeParse({ ...base, serviceColumn: 'x | take 1' }).success).toBe(false)
    expect(azureMonitor.settingsSchema.safeParse({ ...base, caCertificatePem: 'not a certificate' }).success).toBe(false)
    // BEGIN/END lines around something that is no certificate: TLS would fail every call.
    const garbage = '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n'
    const r = azureMonitor.settingsSchema.safeParse({ ...base, caCertificatePem: garbage })
    expect(r.error?.issues.map((i) => i.path.join('.'))).toEqual(['caCertificatePem'])
  })

  it('drops a trailing semicolon from the query', () => {
    expect(azureMonitor.settingsSchema.parse({ ...base, query: 'AppTraces | where AppRoleName != "";  ' }).query).toBe('AppTraces | where AppRoleName != ""')
  })
})

describe('azure-monitor mapping', () => {
  it('maps every field of an AppTraces row, with the exact 100 ns time', async () => {
    const fake = await startFakeAzureMonitor()
    fake.add({
      TimeGenerated: at(61_234, 5678),
      Message: 'payment declined',
      SeverityLevel: 2,
      Properties: { orderId: 'o-42', 'http.status': 402, nested: { a: 1 } },
      Measurements: { latencyMs: 12.5 },
      OperationName: 'POST /pay',
      OperationId: '4BF92F3577B34DA6A3CE929D0E0E4736',
      ParentId: '00f067aa0ba902b7',
      AppVersion: '2.4.1',
      AppRoleName: 'checkout',
      AppRoleInstance: 'checkout-7d9f-xk2p',
      ClientType: 'PC',
      ClientIP: '0.0.0.0',
      SDKVersion: 'node:3.1.0',
      _ResourceId: RESOURCE_ID,
      _ItemId: 'b6a4c0d2-1e3f-4a5b-8c7d-9e0f1a2b3c4d',
    })
    const page = await connect(fake).fetchPage(req())
    expect(page).toEqual({
      events: [
        {
          providerId: 'b6a4c0d2-1e3f-4a5b-8c7d-9e0f1a2b3c4d',
          timeMs: T0 + 61_234,
          record: {
            timestamp: nsAt(61_234, 5678),
            service: 'checkout',
            message: 'payment declined',
            level: 'warn',
            host: 'checkout-7d9f-xk2p',
            trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
            span_id: '00f067aa0ba902b7',
            attributes: {
              'Properties.orderId': 'o-42',
              'Properties.http.status': '402',
              'Properties.nested': '{"a":1}',
              'Measurements.latencyMs': '12.5',
              OperationName: 'POST /pay',
              ClientType: 'PC',
              ClientIP: '0.0.0.0',
              ItemCount: '1',
              SourceSystem: 'Azure',
            },
            resource: {
              'cloud.provider': 'azure',
              'azure.workspace_id': fake.workspaceId,
              'azure.resource_id': RESOURCE_ID,
              'azure.table': 'AppTraces',
              'service.version': '2.4.1',
              'telemetry.sdk.version': 'node:3.1.0',
            },
          },
        },
      ],
    })
    // What Sluice's own input validation makes of it: taken whole, the time to the nanosecond.
    const r = validateLogInput(page.events[0]!.record, 0, { tenant: 't', source: 'connector' })
    expect(r.ok).toBe(true)
    if (r.ok) expect([r.event.timestamp, r.event.severity_text, r.event.trace_id]).toEqual([BigInt(nsAt(61_234, 5678)), 'WARN', '4bf92f3577b34da6a3ce929d0e0e4736'])
  })

  it('maps SeverityLevel 0..4 as Application Insights does and leaves an unknown level out', async () => {
    const fake = await startFakeAzureMonitor()
    for (const [i, level] of [0, 1, 2, 3, 4, 7].entries()) fake.add({ TimeGenerated: at(i * 1000), Message: `m${i}`, SeverityLevel: level, AppRoleName: 'svc' })
    const { events } = await connect(fake).fetchPage(req())
    expect(events.map((e) => e.record.level)).toEqual(['debug', 'info', 'warn', 'error', 'fatal', undefined])
    expect(events[5]!.record.attributes?.SeverityLevel).toBe('7')
  })

  it('names the service after the resource when AppRoleName is empty, and drops trace and span ids that are not W3C hex', async () => {
    const fake = await startFakeAzureMonitor()
    fake.add({ TimeGenerated: at(0), Message: 'legacy', OperationId: '|a1b2.c3d4.', ParentId: '00000000000000000000000000000000', _ResourceId: RESOURCE_ID })
    const [e] = (await connect(fake).fetchPage(req())).events
    expect(e!.record.service).toBe('shop-insights')
    expect(e!.record.trace_id).toBeUndefined()
    expect(e!.record.span_id).toBeUndefined()
    expect(e!.record.attributes).toMatchObject({ OperationId: '|a1b2.c3d4.', ParentId: '00000000000000000000000000000000' })
  })

  it('reads a custom table with its own time, service, message and Level columns, and gives rows without _ItemId a stable SHA-256 id', async () => {
    const columns: FakeColumn[] = [
      { name: 'TimeGenerated', type: 'datetime' },
      { name: 'EventTime_t', type: 'datetime' },
      { name: 'App_s', type: 'string' },
      { name: 'Text_s', type: 'string' },
      { name: 'Level', type: 'string' },
      { name: 'Computer', type: 'string' },
      { name: 'Type', type: 'string' },
    ]
    const fake = await startFakeAzureMonitor({ table: 'Shop_CL', columns })
    // Ingested (TimeGenerated) hours after the event: the widened timespan still finds them.
    fake.add(
      { TimeGenerated: at(3 * 3_600_000), EventTime_t: at(5000, 1), App_s: 'billing', Text_s: 'invoice sent', Level: 'Warning', Computer: 'vm-1' },
      { TimeGenerated: at(3 * 3_600_000), EventTime_t: at(5000, 1), App_s: 'billing', Text_s: 'invoice paid', Level: 'Critical', Computer: 'vm-1' },
    )
    const client = connect(fake, { timeColumn: 'EventTime_t', serviceColumn: 'App_s', messageColumn: 'Text_s' })
    const first = await client.fetchPage(req())
    expect(first.events.map((e) => [e.timeMs, e.record.timestamp, e.record.service, e.record.message, e.record.level, e.record.host])).toEqual(
      expect.arrayContaining([
        [T0 + 5000, nsAt(5000, 1), 'billing', 'invoice sent', 'warn', 'vm-1'],
        [T0 + 5000, nsAt(5000, 1), 'billing', 'invoice paid', 'fatal', 'vm-1'],
      ]),
    )
    expect(first.events).toHaveLength(2)
    for (const e of first.events) expect(e.providerId).toMatch(/^[0-9a-f]{64}$/)
    expect(new Set(first.events.map((e) => e.providerId)).size).toBe(2)
    expect(first.events[0]!.record.attributes).toEqual({ TimeGenerated: new Date(T0 + 3 * 3_600_000).toISOString() })
    expect(first.events[0]!.record.resource).toEqual({ 'cloud.provider': 'azure', 'azure.workspace_id': fake.workspaceId, 'azure.table': 'Shop_CL' })
    const again = await client.fetchPage(req())
    expect(again.events.map((e) => e.providerId)).toEqual(first.events.map((e) => e.providerId))
    const [q] = queries(fake)
    expect(q!.query).toContain('| where EventTime_t >= datetime(2026-12-01T12:00:00.000Z) and EventTime_t < datetime(2026-12-01T12:10:00.000Z)')
    expect(q!.timespan).toBe(`${new Date(T0 - 86_400_000).toISOString()}/${new Date(T0 + 10 * MIN + 86_400_000).toISOString()}`)
  })

  it('keeps the same providerId for an entry read again', async () => {
    const fake = await startFakeAzureMonitor()
    fake.add({ TimeGenerated: at(1000), Message: 'a', AppRoleName: 'svc' }, { TimeGenerated: at(2000), Message: 'b', AppRoleName: 'svc' })
    const client = connect(fake)
    const ids = async () => (await client.fetchPage(req())).events.map((e) => e.providerId)
    const first = await ids()
    expect(first).toHaveLength(2)
    expect(await ids()).toEqual(first)
  })
})

describe('azure-monitor windows and pages', () => {
  it('returns exactly the entries in [fromMs, toMs), in ascending time, with the window as the query timespan', async () => {
    const fake = await startFakeAzureMonitor()
    const from = 60_000
    const to = 120_000
    fake.add(
      { TimeGenerated: at(to), Message: 'at to (out)', AppRoleName: 's' },
      { TimeGenerated: at(from - 1, 9999), Message: 'just before (out)', AppRoleName: 's' },
      { TimeGenerated: at(to - 1, 9999), Message: 'last tick (in)', AppRoleName: 's' },
      { TimeGenerated: at(from), Message: 'at from (in)', AppRoleName: 's' },
      { TimeGenerated: at(90_000), Message: 'middle (in)', AppRoleName: 's' },
    )
    const page = await connect(fake).fetchPage(req({ fromMs: T0 + from, toMs: T0 + to }))
    expect(page.events.map((e) => e.record.message)).toEqual(['at from (in)', 'middle (in)', 'last tick (in)'])
    expect(page.nextPageToken).toBeUndefined()
    const [q] = queries(fake)
    expect(q!.timespan).toBe(`${new Date(T0 + from).toISOString()}/${new Date(T0 + to).toISOString()}`)
    expect(q!.query.split('\n')[0]).toBe('AppTraces')
  })

  it('pages through a window (ties on one timestamp included) with no entry lost or repeated, one query per page', async () => {
    const fake = await startFakeAzureMonitor()
    const rows = Array.from({ length: 11 }, (_, i) => ({ TimeGenerated: at(i < 6 ? 30_000 : 30_000 + i * 1000), Message: `e${i}`, AppRoleName: 'svc' }))
    fake.add(...rows.reverse())
    const client = connect(fake)
    const { pages, events } = await readAll((pageToken) => client.fetchPage(req({ limit: 3, pageToken })))
    expect(pages.map((p) => p.events.length)).toEqual([3, 3, 3, 2])
    expect(events.map((e) => e.record.message).sort()).toEqual(rows.map((r) => r.Message).sort())
    expect(new Set(events.map((e) => e.providerId)).size).toBe(11)
    expect(events.map((e) => e.timeMs)).toEqual([...events.map((e) => e.timeMs)].sort((a, b) => a - b))
    // limit + 1 rows asked: the last page is known to be the last without an empty query after it.
    expect(fake.served('query')).toBe(4)
    expect(queries(fake).map((q) => q.query.split('\n').at(-1))).toEqual(['| take 4', '| take 4', '| take 4', '| take 4'])
  })

  it('keeps its pages when rows arrive late between them: one behind the cursor is not served (nor shifts the rest), one ahead is', async () => {
    const fake = await startFakeAzureMonitor()
    for (let i = 0; i < 6; i++) fake.add({ TimeGenerated: at(10_000 * (i + 1)), Message: `e${i}`, AppRoleName: 'svc' })
    const client = connect(fake)
    const first = await client.fetchPage(req({ limit: 2 }))
    expect(first.events.map((e) => e.record.message)).toEqual(['e0', 'e1'])
    fake.add({ TimeGenerated: at(5000), Message: 'late, behind', AppRoleName: 'svc' }, { TimeGenerated: at(45_000), Message: 'late, ahead', AppRoleName: 'svc' })
    const rest = await readAll((pageToken) => client.fetchPage(req({ limit: 2, pageToken: pageToken ?? first.nextPageToken })))
    expect(rest.events.map((e) => e.record.message)).toEqual(['e2', 'e3', 'late, ahead', 'e4', 'e5'])
    // The next poll's window (the lookback) picks up the one behind.
    const next = await client.fetchPage(req())
    expect(next.events.map((e) => e.record.message)).toContain('late, behind')
  })

  it('honours the limit, and caps it at 5000 rows a query', async () => {
    const fake = await startFakeAzureMonitor()
    for (let i = 0; i < 5; i++) fake.add({ TimeGenerated: at(i * 1000), Message: `e${i}`, AppRoleName: 'svc' })
    const client = connect(fake)
    const page = await client.fetchPage(req({ limit: 1 }))
    expect(page.events).toHaveLength(1)
    expect(page.nextPageToken).toBeDefined()
    await client.fetchPage(req({ limit: 1_000_000 }))
    expect(queries(fake).at(-1)!.query.split('\n').at(-1)).toBe('| take 5001')
  })

  it('reads a source with its own filter', async () => {
    const fake = await startFakeAzureMonitor()
    fake.add({ TimeGenerated: at(1000), Message: 'kept', AppRoleName: 'svc' }, { TimeGenerated: at(2000), Message: 'no role' })
    const page = await connect(fake, { query: 'AppTraces | where AppRoleName != ""' }).fetchPage(req())
    expect(page.events.map((e) => e.record.message)).toEqual(['kept'])
  })

  it('answers an empty window without a call, and refuses a page token it did not write', async () => {
    const fake = await startFakeAzureMonitor()
    const client = connect(fake)
    expect(await client.fetchPage(req({ fromMs: T0, toMs: T0 }))).toEqual({ events: [] })
    expect(fake.served()).toBe(0)
    const err = await rejection(client.fetchPage(req({ pageToken: 'bm90IGEgdG9rZW4' })))
    expect([err.kind, err.code]).toEqual(['bad_request', 'InvalidPageToken'])
  })
})

describe('azure-monitor failures', () => {
  it('reports throttling with the Retry-After of the 429, and reads on afterwards', async () => {
    const fake = await startFakeAzureMonitor()
    fake.add({ TimeGenerated: at(1000), Message: 'a', AppRoleName: 'svc' })
    const client = connect(fake)
    fake.throttleNext(1, 7)
    const err = await rejection(client.fetchPage(req()))
    expect([err.kind, err.code, err.retryAfterMs]).toEqual(['throttled', 'ThrottledError', 7000])
    fake.throttleNext(1)
    const bare = await rejection(client.fetchPage(req()))
    expect([bare.kind, bare.retryAfterMs]).toEqual(['throttled', undefined])
    expect((await client.fetchPage(req())).events).toHaveLength(1)
    // The SDK's own retries are off: one request per call, the wait is the poller's.
    expect(fake.served('query')).toBe(3)
  })

  it('reports a wrong client secret (AADSTS7000215) as auth, without the secret', async () => {
    const fake = await startFakeAzureMonitor()
    const secret = 'wrong~secret.value-9876543210'
    const err = await rejection(connect(fake, { clientSecret: secret }).fetchPage(req()))
    expect([err.kind, err.code]).toEqual(['auth', 'AADSTS7000215'])
    expect(err.message).toContain('Invalid client secret provided')
    expect(`${err.code} ${err.message}`).not.toContain(secret)
    expect(fake.served('query')).toBe(0)
  })

  it('reports an unknown tenant or application as auth', async () => {
    const fake = await startFakeAzureMonitor()
    const tenant = await rejection(connect(fake, { tenantId: '00000000-0000-0000-0000-000000000001' }).fetchPage(req()))
    expect([tenant.kind, tenant.code]).toEqual(['auth', 'AADSTS90002'])
    const app = await rejection(connect(fake, { clientId: 'not-registered' }).fetchPage(req()))
    expect([app.kind, app.code]).toEqual(['auth', 'AADSTS700016'])
  })

  it('reports a token without access to the workspace (403) as auth', async () => {
    const fake = await startFakeAzureMonitor()
    fake.failNext(1, 403)
    const err = await rejection(connect(fake).fetchPage(req()))
    expect([err.kind, err.code]).toEqual(['auth', 'InsufficientAccessError'])
  })

  it('reports a token Log Analytics no longer accepts (403 InvalidTokenError) as auth', async () => {
    const fake = await startFakeAzureMonitor()
    const client = connect(fake)
    await client.fetchPage(req())
    fake.revokeTokens()
    const err = await rejection(client.fetchPage(req()))
    expect([err.kind, err.code]).toEqual(['auth', 'InvalidTokenError'])
  })

  it('reports a missing workspace, table or time column as bad_request, with the KQL diagnostic', async () => {
    const fake = await startFakeAzureMonitor()
    const workspace = await rejection(connect(fake, { workspaceId: '11111111-2222-3333-4444-555555555555' }).fetchPage(req()))
    expect([workspace.kind, workspace.code]).toEqual(['bad_request', 'PathNotFoundError'])
    const table = await rejection(connect(fake, { query: 'Missing_CL' }).fetchPage(req()))
    expect([table.kind, table.code]).toEqual(['bad_request', 'BadArgumentError'])
    expect(table.message).toContain("Failed to resolve table or column expression named 'Missing_CL'")
    const column = await rejection(connect(fake, { timeColumn: 'EventTime' }).fetchPage(req()))
    expect([column.kind, column.code]).toEqual(['bad_request', 'BadArgumentError'])
    expect(column.message).toContain("named 'EventTime'")
  })

  it('reports an outage of Log Analytics or of the authority as unavailable', async () => {
    const fake = await startFakeAzureMonitor()
    fake.failNext(1, 503)
    const query = await rejection(connect(fake).fetchPage(req()))
    expect([query.kind, query.code]).toEqual(['unavailable', 'ServiceUnavailableError'])
    fake.failNext(1, 503, 'token')
    const token = await rejection(connect(fake).fetchPage(req()))
    expect(token.kind).toBe('unavailable')
    const closed = await startFakeAzureMonitor()
    const client = connect(closed)
    await closed.close()
    const down = await rejection(client.fetchPage(req()))
    expect(down.kind).toBe('unavailable')
  })

  it('refuses a partial result (its rows could be missing some) as unavailable', async () => {
    const fake = await startFakeAzureMonitor()
    fake.add({ TimeGenerated: at(1000), Message: 'a', AppRoleName: 'svc' }, { TimeGenerated: at(2000), Message: 'b', AppRoleName: 'svc' })
    fake.partialNext(1)
    const err = await rejection(connect(fake).fetchPage(req()))
    expect([err.kind, err.code]).toEqual(['unavailable', 'PartialError'])
    expect(err.message).toContain('There were some errors when processing your query')
  })

  it('stops a call in flight when its signal aborts, and makes none with an aborted signal', async () => {
    const fake = await startFakeAzureMonitor()
    const client = connect(fake)
    await client.fetchPage(req()) // token in hand: what is aborted below is the query itself
    fake.delayNext(1, 30_000)
    const ac = new AbortController()
    const pending = rejection(client.fetchPage(req({ signal: ac.signal })))
    await vi.waitFor(() => expect(fake.served('query')).toBe(2))
    ac.abort()
    const err = await pending
    expect([err.kind, err.code]).toEqual(['unavailable', 'ABORTED'])
    const before = fake.served()
    const again = await rejection(client.fetchPage(req({ signal: AbortSignal.abort() })))
    expect(again.code).toBe('ABORTED')
    expect(fake.served()).toBe(before)
  })

  it('reports a timed-out call as unavailable TIMEOUT', async () => {
    const fake = await startFakeAzureMonitor()
    fake.delayNext(1, 30_000)
    const err = await rejection(connect(fake).fetchPage(req({ signal: AbortSignal.timeout(300) })))
    expect([err.kind, err.code]).toEqual(['unavailable', 'TIMEOUT'])
  })
})

describe('azure-monitor auth material and test()', () => {
  it('gets a bearer token for Log Analytics from the fake authority with the client secret, and sends it with every query', async () => {
    const fake = await startFakeAzureMonitor()
    const client = connect(fake)
    await client.fetchPage(req())
    await client.fetchPage(req())
    const [token, ...more] = fake.calls.filter((c) => c.kind === 'token')
    expect(more).toEqual([]) // cached by the SDK for its lifetime
    expect(token!.path).toBe(`/${fake.tenantId}/oauth2/v2.0/token`)
    expect(token!.body).toMatchObject({ grant_type: 'client_credentials', client_id: fake.clientId, client_secret: '<matched>', scope: 'https://api.loganalytics.io/.default' })
    expect(token!.status).toBe(200)
    expect(fake.tokens).toHaveLength(1)
    const sent = fake.calls.filter((c) => c.kind === 'query')
    expect(sent.map((c) => [c.path, c.headers.authorization, c.status])).toEqual([
      [`/v1/workspaces/${fake.workspaceId}/query`, `Bearer ${fake.tokens[0]}`, 200],
      [`/v1/workspaces/${fake.workspaceId}/query`, `Bearer ${fake.tokens[0]}`, 200],
    ])
    // Nothing but the fake was asked: its discovery document, its token endpoint, its query API.
    expect(new Set(fake.calls.map((c) => c.kind))).toEqual(new Set(['discovery', 'token', 'query']))
  })

  it('uses only its settings, not the AZURE_* variables @azure/identity reads', async () => {
    const fake = await startFakeAzureMonitor()
    const env = { AZURE_AUTHORITY_HOST: 'https://127.0.0.1:9', AZURE_TENANT_ID: 'other-tenant', AZURE_CLIENT_ID: 'other-app', AZURE_CLIENT_SECRET: 'other-secret' }
    const before = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]))
    Object.assign(process.env, env)
    onTestFinished(() => {
      for (const [k, v] of Object.entries(before)) if (v === undefined) delete process.env[k]
      else process.env[k] = v
    })
    await connect(fake).fetchPage(req())
    const token = fake.calls.find((c) => c.kind === 'token')
    expect(token?.path).toBe(`/${fake.tenantId}/oauth2/v2.0/token`)
    expect(token?.body).toMatchObject({ client_id: fake.clientId, client_secret: '<matched>' })
    expect(fake.served('query')).toBe(1)
  })

  it('test() runs the page query with take 0 over the last minute', async () => {
    const fake = await startFakeAzureMonitor()
    fake.add({ TimeGenerated: new Date(Date.now() - 1000), Message: 'recent', AppRoleName: 'svc' })
    await connect(fake).test(AbortSignal.timeout(20_000))
    const [q] = queries(fake)
    expect(q!.query.split('\n').at(-1)).toBe('| take 0')
    const [start, end] = q!.timespan.split('/').map((t) => Date.parse(t))
    expect(end! - start!).toBe(60_000)
  })

  it('test() fails on bad credentials, a missing table, or a configured column the results lack', async () => {
    const fake = await startFakeAzureMonitor()
    expect((await rejection(connect(fake, { clientSecret: 'nope-nope' }).test(AbortSignal.timeout(20_000)))).kind).toBe('auth')
    expect((await rejection(connect(fake, { query: 'Nope_CL' }).test(AbortSignal.timeout(20_000)))).kind).toBe('bad_request')
    const column = await rejection(connect(fake, { serviceColumn: 'Service_s' }).test(AbortSignal.timeout(20_000)))
    expect([column.kind, column.code]).toEqual(['bad_request', 'ColumnNotFound'])
  })
})
