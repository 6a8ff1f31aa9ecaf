// Cloud connectors against the real stack: each provider's official SDK talks to a local server
// speaking that provider's wire protocol (test/fakes); entries flow connectors → logs.raw →
// enricher → ClickHouse and are read back through the query API. Late entries are picked up,
// throttling is waited out, a killed connectors process resumes from its checkpoint without loss
// or duplicates, and credentials never come back out of the API.
import { once } from 'node:events'
import { describe, expect, it, onTestFinished } from 'vitest'
import WebSocket from 'ws'
import { startFakeCloudWatchLogs } from '../fakes/aws-cloudwatch.js'
import { startFakeAzureMonitor } from '../fakes/azure-monitor.js'
import { startFakeGcpLogging } from '../fakes/gcp-logging.js'
import { isolation, startSluice, startSluiceProcess, waitFor } from '../infra/sluice.js'
import type { Isolation } from '../infra/sluice.js'

const MIN = 60_000
const ACME = { 'x-sluice-tenant': 'acme' }

/** The tests read answers loosely, as a client script would; the assertions check their shape. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

async function call(url: string, method: string, body?: unknown): Promise<{ status: number; json: Json }> {
  const res = await fetch(url, { method, headers: { ...ACME, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await res.text()
  return { status: res.status, json: text === '' ? null : JSON.parse(text) }
}

const connectorsEnv = (extra: Record<string, string> = {}): Isolation => isolation({ CONNECTORS_POLL_INTERVAL_MS: '1000', CONNECTORS_MAX_BACKOFF_MS: '3000', ...extra })

/** Stored records of a service (the query API reads each id once). */
async function stored(queryUrl: string, service: string): Promise<Array<{ id: string; message: string; source: string; severity_text: string; attributes: Record<string, string> }>> {
  return (await call(`${queryUrl}/v1/logs?service=${service}&limit=1000`, 'GET')).json.logs ?? []
}

/** Every copy ClickHouse holds, re-deliveries merged (FINAL): what `stats` counts. */
async function total(queryUrl: string, service: string): Promise<number> {
  return (await call(`${queryUrl}/v1/stats?service=${service}`, 'GET')).json.total
}

const ago = (ms: number) => new Date(Date.now() - ms).toISOString()

describe('cloud connectors', () => {
  it('Google Cloud Logging: streams entries into ClickHouse, picks up late ones, waits out throttling, never shows the key', async () => {
    const fake = await startFakeGcpLogging()
    for (let i = 0; i < 8; i++) fake.add({ timestamp: ago(9 * MIN - i * 30_000), severity: i % 4 === 0 ? 'ERROR' : 'INFO', textPayload: `order ${i} shipped`, resource: { type: 'cloud_run_revision', labels: { service_name: 'shipping', project_id: fake.projectId } } })
    const iso = connectorsEnv()
    const sluice = await startSluice(['query-api', 'clickhouse-sink', 'enricher', 'connectors'], iso)
    const api = sluice.addresses.connectors!
    const query = sluice.addresses['query-api']!

    const created = await call(`${api}/v1/connections`, 'POST', { name: 'run', provider: 'gcp-logging', settings: fake.settings(), poll_interval_ms: 1000 })
    expect(created.status).toBe(201)
    expect(created.json.connection).toMatchObject({ name: 'run', provider: 'gcp-logging', tenant: 'acme', enabled: true, secrets_set: ['credentials'] })
    expect(JSON.stringify(created.json)).not.toContain('PRIVATE KEY')
    expect(JSON.stringify((await call(`${api}/v1/connections`, 'GET')).json)).not.toContain('PRIVATE KEY')
    const id = created.json.connection.id as string

    await waitFor('the entries stored', async () => ((await stored(query, 'shipping')).length === 8 ? true : undefined), 60_000)
    const rows = await stored(query, 'shipping')
    expect(rows.every((r) => r.source === 'connector')).toBe(true)
    expect(rows.filter((r) => r.severity_text === 'ERROR')).toHaveLength(2)

    // An entry stamped before the newest one, visible only now (within the lookback), and a new one after throttling.
    fake.throttleNext(2, 1)
    fake.add({ timestamp: ago(8 * MIN), textPayload: 'late order shipped', resource: { type: 'cloud_run_revision', labels: { service_name: 'shipping' } } })
    fake.add({ timestamp: ago(10_000), textPayload: 'order 9 shipped', resource: { type: 'cloud_run_revision', labels: { service_name: 'shipping' } } })
    await waitFor('late and new entries stored', async () => ((await stored(query, 'shipping')).length === 10 ? true : undefined), 60_000)
    expect((await stored(query, 'shipping')).map((r) => r.message)).toContain('late order shipped')
    expect(await total(query, 'shipping')).toBe(10)
    const metrics = await (await fetch(`${api}/metrics`)).text()
    expect(metrics).toMatch(new RegExp(`sluice_connector_throttles_total\\{provider="gcp-logging",connection="${id}"\\} [1-9]`))
    const status = (await call(`${api}/v1/connections/${id}/status`, 'GET')).json.status
    expect(status).toMatchObject({ state: 'running', records_pulled: 10 })
    expect((await call(`${api}/v1/connections/${id}/test`, 'POST')).json).toMatchObject({ ok: true })

    // Stopped: nothing more is pulled; started: it catches up.
    expect((await call(`${api}/v1/connections/${id}/stop`, 'POST')).json.connection.enabled).toBe(false)
    fake.add({ timestamp: ago(5_000), textPayload: 'order 10 shipped', resource: { type: 'cloud_run_revision', labels: { service_name: 'shipping' } } })
    await new Promise((r) => setTimeout(r, 2500))
    expect((await stored(query, 'shipping')).length).toBe(10)
    await call(`${api}/v1/connections/${id}/start`, 'POST')
    await waitFor('caught up after start', async () => ((await stored(query, 'shipping')).length === 11 ? true : undefined), 60_000)
  })

  it('Azure Monitor: resumes after the connectors process is killed, without loss or duplicates; bad credentials fail the test and the polls', async () => {
    const fake = await startFakeAzureMonitor()
    const row = (i: number, atMs: number) => ({ TimeGenerated: new Date(atMs).toISOString(), Message: `payment ${i} captured`, SeverityLevel: i % 5 === 0 ? 3 : 1, AppRoleName: 'payments', AppRoleInstance: 'payments-0', _ItemId: `item-${i}` })
    for (let i = 0; i < 20; i++) fake.add(row(i, Date.now() - 20 * MIN + i * 30_000))
    const iso = connectorsEnv({ CONNECTORS_SESSION_TIMEOUT_MS: '6000' })
    const store = await startSluice(['query-api', 'clickhouse-sink', 'enricher'], iso)
    const query = store.addresses['query-api']!
    const first = await startSluiceProcess('connectors', 'connectors', iso.env)

    const created = await call(`${first.url}/v1/connections`, 'POST', { name: 'appinsights', provider: 'azure-monitor', settings: fake.settings(), poll_interval_ms: 1000 })
    expect(created.status).toBe(201)
    expect(JSON.stringify(created.json)).not.toContain(fake.clientSecret)
    const id = created.json.connection.id as string
    await waitFor('the first rows stored', async () => ((await stored(query, 'payments')).length === 20 ? true : undefined), 60_000)

    // Killed without a shutdown; rows arrive meanwhile, one of them late (before the newest taken).
    first.child.kill('SIGKILL')
    await once(first.child, 'exit')
    fake.add(row(20, Date.now() - 30_000), row(21, Date.now() - 25 * MIN + 60_000), row(22, Date.now() - 10_000))
    const second = await startSluiceProcess('connectors', 'connectors', iso.env)
    await waitFor('every row stored once', async () => ((await stored(query, 'payments')).length === 22 ? true : undefined), 90_000)
    // Row 21 is older than the connection's lookback behind the newest row: it stays out, as documented.
    expect((await stored(query, 'payments')).map((r) => r.message)).not.toContain('payment 21 captured')
    expect(await total(query, 'payments')).toBe(22)

    // A wrong client secret: the dry run names the provider's refusal, and the polls fail.
    const put = await call(`${second.url}/v1/connections/${id}`, 'PUT', { name: 'appinsights', provider: 'azure-monitor', settings: { ...fake.settings(), clientSecret: 'wrong-secret' }, poll_interval_ms: 1000 })
    expect(put.status).toBe(200)
    const test = (await call(`${second.url}/v1/connections/${id}/test`, 'POST')).json
    expect(test).toMatchObject({ ok: false, error: { kind: 'auth' } })
    expect(JSON.stringify(test)).not.toContain('wrong-secret')
    await waitFor('the polls failing', async () => {
      const s = (await call(`${second.url}/v1/connections/${id}/status`, 'GET')).json.status
      return s.state === 'failing' && s.last_error?.kind === 'auth' ? s : undefined
    })
  })

  it('AWS CloudWatch Logs: a log group streams into ClickHouse and the live stream; a missing group is a bad request; deleting stops it', async () => {
    const group = '/ecs/payments-api'
    const fake = await startFakeCloudWatchLogs({ logGroups: [group] })
    fake.add(...Array.from({ length: 6 }, (_, i) => ({ timestamp: Date.now() - 5 * MIN + i * 10_000, logStreamName: 'task-1', message: i === 3 ? 'ERROR card declined' : `INFO request ${i} served` })))
    const iso = connectorsEnv()
    const sluice = await startSluice(['query-api', 'clickhouse-sink', 'enricher', 'ws-fanout', 'connectors'], iso)
    const api = sluice.addresses.connectors!
    const query = sluice.addresses['query-api']!
    // A live page's socket, subscribed to the service before the connection exists.
    const ws = new WebSocket(`${sluice.addresses['ws-fanout']!.replace(/^http/, 'ws')}/v1/stream`)
    const live: Array<{ type: string; data?: { service: string; message: string; source: string } }> = []
    ws.on('message', (d) => live.push(JSON.parse(d.toString()) as (typeof live)[number]))
    onTestFinished(() => ws.terminate())
    await once(ws, 'open')
    ws.send(JSON.stringify({ type: 'subscribe', channels: ['logs'], filters: { services: ['payments-api'] } }))
    await waitFor('the subscription', async () => (live.some((f) => f.type === 'subscribed') ? true : undefined))

    const bad = await call(`${api}/v1/connections`, 'POST', { name: 'cw', provider: 'aws-cloudwatch', settings: { ...fake.settings({ logGroupName: group }), region: '' } })
    expect(bad.status).toBe(400)
    expect(bad.json.message).toMatch(/^settings\.region/)
    const created = await call(`${api}/v1/connections`, 'POST', { name: 'cw', provider: 'aws-cloudwatch', settings: fake.settings({ logGroupName: group }), poll_interval_ms: 1000 })
    expect(created.status).toBe(201)
    expect(created.json.connection.secrets_set).toContain('secretAccessKey')
    expect(JSON.stringify(created.json)).not.toContain(fake.settings({ logGroupName: group }).secretAccessKey)
    await waitFor('the events stored', async () => ((await stored(query, 'payments-api')).length === 6 ? true : undefined), 60_000)
    const rows = await stored(query, 'payments-api')
    expect(rows.find((r) => r.message.includes('card declined'))).toMatchObject({ attributes: { 'aws.log.group': group, 'aws.log.stream': 'task-1' } })
    await waitFor('the events on the live stream', async () => (live.filter((f) => f.type === 'log').length === 6 ? true : undefined))
    expect(live.filter((f) => f.type === 'log').every((f) => f.data!.service === 'payments-api' && f.data!.source === 'connector')).toBe(true)

    const missing = await call(`${api}/v1/connections`, 'POST', { name: 'missing', provider: 'aws-cloudwatch', settings: fake.settings({ logGroupName: '/ecs/nope' }) })
    const probe = (await call(`${api}/v1/connections/${missing.json.connection.id}/test`, 'POST')).json
    expect(probe).toMatchObject({ ok: false, error: { kind: 'bad_request' } })

    expect((await call(`${api}/v1/connections/${created.json.connection.id}`, 'DELETE')).status).toBe(204)
    expect((await call(`${api}/v1/connections/${created.json.connection.id}`, 'GET')).status).toBe(404)
  })
})
