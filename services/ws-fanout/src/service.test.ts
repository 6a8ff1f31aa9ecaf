// ws-fanout's doors without a broker: the HTTP app on a local port with real WebSocket clients,
// records handed to the stage's sink as the runner would. API keys and tokens, the tenant each
// connection is bound to, and the per-tenant connection limit.
import { once } from 'node:events'
import { describe, expect, it, onTestFinished } from 'vitest'
import WebSocket from 'ws'
import { createProcessSecurity, hashKey } from '@sluice/auth'
import type { AuditRow, TenantsFile } from '@sluice/auth'
import type { Kafka, Stage } from '@sluice/kafka'
import { createLogger, createRegistry } from '@sluice/observability'
import type { Codecs } from '@sluice/service'
import { alertFixture } from '../../../test/infra/alerts.js'
import { enrichedLog } from '../../../test/infra/enriched.js'
import { inboxItem } from '../../../test/infra/inbox.js'
import { mintToken } from './auth.js'
import { loadConfig } from './config.js'
import type { Delivery } from './fanout.js'
import { escapedJson, largestSubscribe } from './protocol-fixture.js'
import { createService } from './service.js'

const SECRET = 'a-test-secret-of-32-characters!!'
const KEYS = [
  { id: 'acme-reader', sha256: hashKey('k-acme'), tenants: ['acme'], scopes: ['query' as const] },
  { id: 'globex-reader', sha256: hashKey('k-globex'), tenants: ['globex'], scopes: ['query' as const] },
  { id: 'acme-shipper', sha256: hashKey('k-ingest'), tenants: ['acme'], scopes: ['ingest' as const] },
  { id: 'ops', sha256: hashKey('k-ops'), tenants: ['acme', 'globex'], scopes: ['query' as const] },
  { id: 'root', sha256: hashKey('k-root'), tenants: ['*'], scopes: ['admin' as const] },
]

interface Frame {
  type: string
  tenant?: string
  message?: string
  data?: { id?: string; tenant?: string; service?: string }
}

async function setup(opts: { auth?: boolean; tenants?: TenantsFile; env?: Record<string, string>; codecs?: Partial<Codecs>; clock?: () => number } = {}) {
  const auth = opts.auth ?? true
  const rows: AuditRow[] = []
  const logger = createLogger({ level: 'silent' })
  const registry = createRegistry({ defaultMetrics: false })
  const security = createProcessSecurity(
    { authEnabled: auth, keys: { keys: KEYS }, keysFile: undefined, keysReloadMs: 5000, tenants: opts.tenants },
    { log: logger, retentionDays: 30, auditWriter: async (batch) => void rows.push(...batch) },
  ).forService('ws-fanout')
  const config = loadConfig({ SLUICE_AUTH: String(auth), WS_AUTH_SECRET: SECRET, WS_STATS_INTERVAL_MS: '50', ...opts.env })
  const service = createService(config, {
    logger,
    registry,
    checks: {},
    clock: opts.clock ?? Date.now,
    security,
    kafka: undefined as unknown as Kafka,
    producer: { send: async () => undefined },
    codecs: (opts.codecs ?? {}) as Codecs,
    registryUrl: 'http://registry.invalid',
  })
  await service.start!()
  const base = await service.app.listen({ host: '127.0.0.1', port: 0 })
  onTestFinished(async () => {
    await service.close!()
    await service.app.close()
  })
  const stage = service.consumers![0]!.stage as Stage<unknown, Delivery>
  const send = async (d: Delivery | undefined) => d && (await stage.sink([d]))
  const f = service.fanout
  return {
    app: service.app,
    base,
    stage,
    config,
    /** A log, an alert and an inbox item of `tenant`, through the sink. */
    publish: async (tenant: string, id: string) => {
      await send(f.log(enrichedLog({ tenant, id, service: `${tenant}-svc` })))
      await send(f.alert(alertFixture({ tenant, id: `${id}-alert` })))
      await send(f.notification({ kind: 'item', tenant, id: `${id}-note`, item: inboxItem({ tenant, id: `${id}-note` }) }))
    },
    metrics: async () => registry.metrics(),
    audit: async () => (await security.audit.flush(), rows),
  }
}

/** A stream connection: its frames, and its close code once closed. */
async function connect(base: string, query = '', headers: Record<string, string> = {}) {
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/v1/stream${query}`, { headers })
  const frames: Frame[] = []
  ws.on('message', (d) => frames.push(JSON.parse(d.toString()) as Frame))
  const closed = once(ws, 'close').then(([code, reason]) => ({ code: code as number, reason: String(reason) }))
  onTestFinished(() => ws.terminate())
  await once(ws, 'open')
  const next = async (type: string, where: (f: Frame) => boolean = () => true): Promise<Frame> => {
    for (let i = 0; i < 400; i++) {
      const f = frames.find((x) => x.type === type && where(x))
      if (f) return f
      await new Promise((r) => setTimeout(r, 10))
    }
    throw new Error(`no ${type} frame; got ${JSON.stringify(frames)}`)
  }
  const send = (m: object) => ws.send(JSON.stringify(m))
  const subscribe = async (channels = ['logs', 'alerts', 'stats']) => {
    send({ type: 'subscribe', channels })
    await next('subscribed')
  }
  return { ws, frames, next, send, subscribe, closed }
}

/** The HTTP answer to a refused upgrade. */
async function refusal(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const ws = new WebSocket(url, { headers })
  return new Promise((resolve, reject) => {
    ws.on('unexpected-response', (req, res) => {
      let body = ''
      res.on('data', (d: Buffer) => (body += d.toString()))
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body })
        req.destroy()
      })
    })
    ws.on('open', () => {
      ws.terminate()
      reject(new Error('the upgrade was accepted'))
    })
  })
}

/** The HTTP status of a refused upgrade. */
async function refusedWith(base: string, query = '', headers: Record<string, string> = {}): Promise<number> {
  return (await refusal(`${base.replace(/^http/, 'ws')}/v1/stream${query}`, headers)).status
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` })
const ids = (frames: Frame[]) => frames.filter((f) => f.data?.id !== undefined).map((f) => f.data!.id)

describe('ws-fanout with API keys (SLUICE_AUTH=true)', () => {
  it('refuses a bad key (401) or a key without the query scope or of another tenant (403) before the upgrade; without credentials it waits for a token', async () => {
    const { base, audit } = await setup()
    expect(await refusedWith(base, '', bearer('k-nobody'))).toBe(401)
    expect(await refusedWith(base, '', { authorization: 'Digest abc' })).toBe(401)
    expect(await refusedWith(base, '', bearer('k-ingest'))).toBe(403)
    expect(await refusedWith(base, '', { ...bearer('k-acme'), 'x-scope-orgid': 'globex' })).toBe(403)
    expect(await refusedWith(base, '?tenant=globex', bearer('k-acme'))).toBe(403)
    expect((await audit()).filter((r) => r.action === 'auth.refused').map((r) => r.target)).toEqual(Array(5).fill('GET /v1/stream'))

    const anonymous = await connect(base)
    expect(await anonymous.next('auth_required')).toMatchObject({ message: expect.stringContaining('/v1/tokens') })
    anonymous.send({ type: 'subscribe', channels: ['logs'] })
    expect((await anonymous.next('error')).message).toMatch(/authenticate first/)
    anonymous.send({ type: 'auth', token: mintToken('not-the-secret-not-the-secret', 'acme') })
    expect(await anonymous.closed).toEqual({ code: 4001, reason: 'bad token signature' })
    // The page and its script stay public.
    expect((await fetch(`${base}/`)).status).toBe(200)
  })

  it("binds a key's connection to its tenant: acme never receives globex's logs, alerts, notifications or rates", async () => {
    const { base, publish } = await setup()
    const acme = await connect(base, '', bearer('k-acme'))
    const globex = await connect(base, '', { 'x-api-key': 'k-globex' })
    // A key of several tenants chooses one; Basic auth carries the key as the password.
    const opsGlobex = await connect(base, '', { authorization: `Basic ${Buffer.from('ops:k-ops').toString('base64')}`, 'x-scope-orgid': 'globex' })
    const opsAcme = await connect(base, '?tenant=acme', bearer('k-ops'))
    const root = await connect(base, '', bearer('k-root'))
    for (const c of [acme, globex, opsGlobex, opsAcme, root]) {
      expect(c.frames.some((f) => f.type === 'auth_required')).toBe(false)
      await c.subscribe()
    }
    await publish('globex', 'g1')
    await publish('acme', 'a1')
    await acme.next('notification', (f) => f.data?.id === 'a1-note')
    await opsAcme.next('notification', (f) => f.data?.id === 'a1-note')
    await globex.next('notification', (f) => f.data?.id === 'g1-note')
    await opsGlobex.next('notification', (f) => f.data?.id === 'g1-note')
    await root.next('notification', (f) => f.data?.id === 'a1-note')
    for (const c of [acme, opsAcme]) expect(ids(c.frames)).toEqual(['a1', 'a1-alert', 'a1-note'])
    for (const c of [globex, opsGlobex]) expect(ids(c.frames)).toEqual(['g1', 'g1-alert', 'g1-note'])
    expect(ids(root.frames)).toEqual(['g1', 'g1-alert', 'g1-note', 'a1', 'a1-alert', 'a1-note'])

    // Rates: each tenant its own services (the globex service counted first, so a leak would come first).
    await acme.next('stats', (f) => (f.data as { service?: string }).service === 'acme-svc')
    await globex.next('stats', (f) => (f.data as { service?: string }).service === 'globex-svc')
    expect(acme.frames.filter((f) => f.type === 'stats').map((f) => f.data?.service)).toEqual(['acme-svc'])
    expect(globex.frames.filter((f) => f.type === 'stats').map((f) => f.data?.service)).toEqual(['globex-svc'])
  })

  it("mints tokens for the key's tenant only, which open the stream as that tenant (?token= or an auth message), and audits them", async () => {
    const { app, base, publish, audit } = await setup()
    const mint = (headers: Record<string, string>, payload?: object) =>
      app.inject({ method: 'POST', url: '/v1/tokens', headers: { ...headers, ...(payload && { 'content-type': 'application/json' }) }, ...(payload && { payload }) })
    const none = await mint({})
    expect(none.statusCode).toBe(401)
    expect(none.headers['www-authenticate']).toBeDefined()
    expect((await mint(bearer('k-ingest'))).statusCode).toBe(403)
    expect((await mint(bearer('k-acme'), { tenant: 'globex' })).statusCode).toBe(403)
    const tooLong = await mint(bearer('k-acme'), { ttl_seconds: 86_400 })
    expect(tooLong.statusCode).toBe(400)
    expect(tooLong.json().message).toMatch(/ttl_seconds/)
    const everyTenant = await mint(bearer('k-root'))
    expect(everyTenant.statusCode).toBe(400)
    expect(everyTenant.json().message).toMatch(/name one/)
    expect((await mint(bearer('k-acme'), { tenant: 'not a tenant!' })).statusCode).toBe(400)

    const before = Date.now()
    const minted = await mint(bearer('k-acme'), { ttl_seconds: 120 })
    expect(minted.statusCode).toBe(200)
    const { token, tenant, expires_at } = minted.json() as { token: string; tenant: string; expires_at: string }
    expect(tenant).toBe('acme')
    expect(Date.parse(expires_at) - before).toBeGreaterThan(110_000)
    expect(Date.parse(expires_at) - before).toBeLessThanOrEqual(121_000)
    // A key of several tenants names one; no body at all gets the key's first tenant.
    expect((await mint({ ...bearer('k-ops'), 'x-scope-orgid': 'globex' })).json().tenant).toBe('globex')
    expect((await mint(bearer('k-ops'))).json().tenant).toBe('acme')

    const byQuery = await connect(base, `?token=${encodeURIComponent(token)}`)
    await byQuery.subscribe()
    const byMessage = await connect(base)
    await byMessage.next('auth_required')
    byMessage.send({ type: 'auth', token })
    expect(await byMessage.next('authenticated')).toEqual({ type: 'authenticated', tenant: 'acme' })
    await byMessage.subscribe()
    await publish('globex', 'g1')
    await publish('acme', 'a1')
    for (const c of [byQuery, byMessage]) {
      await c.next('notification', (f) => f.data?.id === 'a1-note')
      expect(ids(c.frames)).toEqual(['a1', 'a1-alert', 'a1-note'])
    }

    const rows = (await audit()).filter((r) => r.action === 'stream_token.create')
    expect(rows.map((r) => [r.tenant, r.key_id, r.outcome])).toEqual([
      ['acme', 'acme-reader', 'ok'],
      ['globex', 'ops', 'ok'],
      ['acme', 'ops', 'ok'],
    ])
    expect(JSON.stringify(rows)).not.toContain(token)
  })

  it("closes a tenant's connections past ws_max_connections with 4029, leaves other tenants be, and frees the slot on close", async () => {
    const { base, metrics } = await setup({ tenants: { defaults: { ws_max_connections: 10 }, tenants: { acme: { ws_max_connections: 2 } } } })
    const first = await connect(base, '', bearer('k-acme'))
    await connect(base, `?token=${mintToken(SECRET, 'acme')}`)
    const third = await connect(base, '', bearer('k-acme'))
    expect(await third.closed).toEqual({ code: 4029, reason: 'tenant acme has 2 live connections (ws_max_connections); retry later' })
    // Through an auth message as well.
    const late = await connect(base)
    late.send({ type: 'auth', token: mintToken(SECRET, 'acme') })
    expect((await late.closed).code).toBe(4029)
    const globex = await connect(base, '', bearer('k-globex'))
    await globex.subscribe()
    expect(await metrics()).toContain('sluice_ws_connections_refused_total{reason="tenant_limit"} 2')

    first.ws.close()
    await first.closed
    for (let i = 0; i < 200 && !(await metrics()).includes('sluice_ws_clients 2'); i++) await new Promise((r) => setTimeout(r, 10))
    const again = await connect(base, '', bearer('k-acme'))
    await again.subscribe()
    expect(again.ws.readyState).toBe(WebSocket.OPEN)
  })

  it('answers POST /v1/tokens with 403 while API keys are off, and keeps the stream open as before', async () => {
    const { app, base, publish } = await setup({ auth: false, env: { WS_AUTH_SECRET: '' } })
    expect((await app.inject({ method: 'POST', url: '/v1/tokens' })).statusCode).toBe(403)
    const c = await connect(base)
    await c.subscribe()
    await publish('globex', 'g1')
    await c.next('log')
    expect(c.frames.some((f) => f.type === 'auth_required')).toBe(false)
  })

  it('measures the Kafka hop: the age of each enriched record it reads, from its Kafka timestamp', async () => {
    const NOW = 1_800_000_000_000
    const decoded = enrichedLog({ tenant: 'acme', service: 'api' })
    const codec = { decodeSync: () => decoded, decode: async () => decoded }
    const { base, stage, config, metrics } = await setup({ auth: false, env: { WS_AUTH_SECRET: '' }, codecs: { enriched: codec as unknown as Codecs['enriched'] }, clock: () => NOW })
    const c = await connect(base)
    await c.subscribe(['logs'])
    // Produced 30 ms, 30 ms and 700 ms before it is read; a record without a timestamp is not counted.
    const record = (ageMs: number | undefined, offset: number) => ({ key: null, value: Buffer.from('x'), offset: String(offset), timestamp: ageMs === undefined ? '-1' : String(NOW - ageMs), attributes: 0, headers: {} })
    const records = [record(30, 0), record(30, 1), record(700, 2), record(undefined, 3)]
    const out = await stage.transform({ topic: config.topicEnriched, partition: 0, records, values: records.map((r) => r.value) } as never)
    expect(out.outputs).toHaveLength(4)
    const text = await metrics()
    expect(text).toContain('sluice_ws_enriched_age_seconds_count 3')
    expect(text).toContain('sluice_ws_enriched_age_seconds_bucket{le="0.03"} 2')
    expect(text).toContain('sluice_ws_enriched_age_seconds_bucket{le="0.5"} 2')
    expect(text).toContain('sluice_ws_enriched_age_seconds_bucket{le="1"} 3')
  })

  it('refuses SLUICE_AUTH=true without WS_AUTH_SECRET at boot, naming the variable', () => {
    expect(() => loadConfig({ SLUICE_AUTH: 'true' })).toThrow(/WS_AUTH_SECRET.*SLUICE_AUTH=true need WS_AUTH_SECRET/s)
    expect(() => loadConfig({ SLUICE_AUTH: 'true', WS_AUTH_SECRET: '' })).toThrow(/WS_AUTH_SECRET/)
    expect(loadConfig({ SLUICE_AUTH: 'true', WS_AUTH_SECRET: SECRET }).authSecret).toBe(SECRET)
    expect(loadConfig({}).authSecret).toBeUndefined()
  })
})

describe('ws-fanout connections: the tenant named without keys, bounds, closes and routes', () => {
  it('binds a connection to the tenant it names (X-Scope-OrgID, x-sluice-tenant or ?tenant=) while API keys are off; one naming none sees every tenant', async () => {
    const { base, publish } = await setup({ auth: false, env: { WS_AUTH_SECRET: '' } })
    const byQuery = await connect(base, '?tenant=acme')
    const byScope = await connect(base, '', { 'x-scope-orgid': 'acme' })
    const bySluice = await connect(base, '', { 'x-sluice-tenant': 'acme' })
    const everyone = await connect(base)
    for (const c of [byQuery, byScope, bySluice, everyone]) await c.subscribe()
    await publish('globex', 'g1')
    await publish('acme', 'a1')
    for (const c of [byQuery, byScope, bySluice]) {
      await c.next('notification', (f) => f.data?.id === 'a1-note')
      expect(ids(c.frames)).toEqual(['a1', 'a1-alert', 'a1-note'])
      await c.next('stats')
      expect(c.frames.filter((f) => f.type === 'stats').map((f) => f.data?.service)).toEqual(['acme-svc'])
    }
    await everyone.next('notification', (f) => f.data?.id === 'a1-note')
    expect(ids(everyone.frames)).toEqual(['g1', 'g1-alert', 'g1-note', 'a1', 'a1-alert', 'a1-note'])
    // A header naming two tenants is refused before the upgrade, as at the other doors.
    expect(await refusedWith(base, '', { 'x-scope-orgid': 'acme, globex' })).toBe(400)
  })

  it('answers a frame of thousands of faults with one short error, and keeps the connection', async () => {
    const { base } = await setup({ auth: false, env: { WS_AUTH_SECRET: '' } })
    const c = await connect(base)
    let largest = 0
    c.ws.on('message', (d: Buffer) => (largest = Math.max(largest, d.length)))
    c.send({ type: 'subscribe', channels: Array(30_000).fill(1) })
    expect(await c.next('error')).toEqual({ type: 'error', message: 'channels: Too big: expected array to have <=3 items' })
    await c.subscribe()
    expect(largest).toBeLessThan(1024)
  })

  it('takes the largest valid subscribe in one frame, every character escaped', async () => {
    const { base } = await setup({ auth: false, env: { WS_AUTH_SECRET: '' } })
    const c = await connect(base)
    c.ws.send(escapedJson(largestSubscribe()))
    expect(await c.next('subscribed')).toEqual({ type: 'subscribed', channels: ['alerts'] })
  })

  it("closes past the limit of a tenant with a 64-character name with 4029, the reason cut to a close frame's 123 bytes", async () => {
    const long = 't'.repeat(64)
    const { base } = await setup({ tenants: { defaults: { ws_max_connections: 1 }, tenants: {} } })
    await connect(base, `?token=${mintToken(SECRET, long)}`)
    const second = await connect(base, `?token=${mintToken(SECRET, long)}`)
    const { code, reason } = await second.closed
    expect(code).toBe(4029)
    expect(reason).toMatch(new RegExp(`^tenant ${long} has 1 live connections .*…$`))
    expect(Buffer.byteLength(reason)).toBe(123)
  })

  it('closes its clients with 1001 when the app closes before the service, as the runtime closes them', async () => {
    const { app, base } = await setup()
    const c = await connect(base, '', bearer('k-acme'))
    await c.subscribe()
    await app.close()
    expect(await c.closed).toEqual({ code: 1001, reason: 'server shutting down' })
  })

  it('pings every client once per WS_HEARTBEAT_MS and drops one that stopped answering, keeping the others', async () => {
    const { base } = await setup({ auth: false, env: { WS_AUTH_SECRET: '', WS_HEARTBEAT_MS: '320' } })
    const url = `${base.replace(/^http/, 'ws')}/v1/stream`
    const open = (autoPong: boolean) => {
      const ws = new WebSocket(url, { autoPong })
      onTestFinished(() => ws.terminate())
      let pings = 0
      ws.on('ping', () => pings++)
      const closed = once(ws, 'close').then(([code]) => ({ code: code as number, at: performance.now() }))
      return { ws, closed, pings: () => pings, opened: once(ws, 'open') }
    }
    const [live, silent] = [open(true), open(false)]
    await Promise.all([live.opened, silent.opened])
    const t0 = performance.now()
    // Pinged within one interval, terminated (no close frame: 1006) when the next turn finds no pong.
    const { code, at } = await silent.closed
    expect(code).toBe(1006)
    expect(at - t0).toBeLessThan(10 * 320)
    expect(silent.pings()).toBe(1)
    await new Promise((r) => setTimeout(r, 3 * 320))
    expect(live.ws.readyState).toBe(WebSocket.OPEN)
    expect(live.pings()).toBeGreaterThanOrEqual(3)
  })

  it('refuses a WebSocket upgrade to any other route with a 404 naming the stream, before upgrading', async () => {
    const { base } = await setup({ auth: false, env: { WS_AUTH_SECRET: '' } })
    const ws = base.replace(/^http/, 'ws')
    for (const path of ['/', '/app.js', '/healthz', '/nowhere']) {
      const { status, body } = await refusal(`${ws}${path}`)
      expect([path, status]).toEqual([path, 404])
      if (path !== '/nowhere') expect(JSON.parse(body)).toEqual({ error: 'NOT_FOUND', message: `no WebSocket at ${path}: the live stream is /v1/stream` })
    }
    // Plain HTTP on those routes is untouched.
    expect((await fetch(`${base}/app.js`)).status).toBe(200)
  })
})
