// Tenants kept apart at the alerter's, ws-fanout's and the connectors' doors with SLUICE_AUTH=true,
// through real runtimes on the real stack: two alerter instances (an acknowledgement arriving at
// the one that does not own the alert travels over the command bus, after the door checked the
// tenant), ws-fanout's live stream opened with a key and with a token minted for a key, each
// connection seeing only its tenant's logs, alerts and notifications, the per-tenant connection
// limit, and the connections API.
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import WebSocket from 'ws'
import { hashKey } from '@sluice/auth'
import { enrichedLog, enrichedWriter } from '../infra/enriched.js'
import { isolation, startSluice, waitFor } from '../infra/sluice.js'
import type { Isolation } from '../infra/sluice.js'

const KEYS = {
  keys: [
    { id: 'acme-ops', sha256: hashKey('acme-ops-key'), tenants: ['acme'], scopes: ['query', 'alerts'] },
    { id: 'globex-ops', sha256: hashKey('globex-ops-key'), tenants: ['globex'], scopes: ['query', 'alerts'] },
    { id: 'acme-admin', sha256: hashKey('acme-admin-key'), tenants: ['acme'], scopes: ['admin'] },
    { id: 'globex-admin', sha256: hashKey('globex-admin-key'), tenants: ['globex'], scopes: ['admin'] },
    { id: 'acme-ship', sha256: hashKey('acme-ingest-key'), tenants: ['acme'], scopes: ['ingest'] },
  ],
}
const ACME = { authorization: 'Bearer acme-ops-key' }
const GLOBEX = { authorization: 'Bearer globex-ops-key' }

/** The tests read answers loosely, as a client script would; the assertions check their shape. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

async function call(url: string, method: string, headers: Record<string, string>, body?: unknown): Promise<{ status: number; json: Json }> {
  const res = await fetch(url, { method, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await res.text()
  return { status: res.status, json: text === '' ? null : JSON.parse(text) }
}

/** Keys required everywhere; acme may hold two live streams; alerts fire on any FATAL. */
function secured(extra: Record<string, string> = {}): Isolation {
  const iso = isolation({ SLUICE_AUTH: 'true', SLUICE_API_KEYS: JSON.stringify(KEYS), WS_AUTH_SECRET: 'a-test-secret-of-32-characters!!', ...extra })
  const tenants = path.join(iso.dataDir, 'tenants.json')
  writeFileSync(tenants, JSON.stringify({ tenants: { acme: { ws_max_connections: 2 } } }))
  const rules = path.join(iso.dataDir, 'rules.json')
  writeFileSync(rules, JSON.stringify({ rules: [{ id: 'fatal', name: 'FATAL log', kind: 'level', severity: 'critical' }] }))
  iso.env.SLUICE_TENANTS_FILE = tenants
  iso.env.ALERTER_RULES_FILE = rules
  return iso
}

interface Frame {
  type: string
  data?: { id?: string; tenant?: string; service?: string; alert_id?: string }
}

async function stream(base: string, query = '', headers: Record<string, string> = {}) {
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/v1/stream${query}`, { headers })
  const frames: Frame[] = []
  ws.on('message', (d) => frames.push(JSON.parse(d.toString()) as Frame))
  const closed = once(ws, 'close').then(([code]) => code as number)
  onTestFinished(() => ws.terminate())
  await once(ws, 'open')
  const send = (m: object) => ws.send(JSON.stringify(m))
  const next = (what: string, fn: (f: Frame) => boolean) => waitFor(what, async () => frames.find(fn), 30_000, 20)
  return { ws, frames, send, next, closed }
}

const fatal = (tenant: string, service: string) => enrichedLog({ tenant, service, atMs: Date.now(), level: 'FATAL', severity_text: 'FATAL', severity_number: 21, is_error: true, message: `${service} ledger corrupted` })

describe('tenancy with SLUICE_AUTH=true', () => {
  it("keeps alerts, acknowledgements and the live stream to the key's tenant, on any alerter instance", async () => {
    const iso = secured({ ALERTER_CHECKPOINT_INTERVAL_MS: '300', ALERTER_COMMAND_TIMEOUT_MS: '5000' })
    const [one, two] = await Promise.all([startSluice(['alerter', 'ws-fanout'], iso), startSluice(['alerter'], iso)])
    const alerters = [one.addresses.alerter!, two.addresses.alerter!]
    const ws = one.addresses['ws-fanout']!

    // The doors: no key, a key without the scope, another tenant named.
    expect((await call(`${alerters[0]}/v1/alerts`, 'GET', {})).status).toBe(401)
    expect((await call(`${alerters[0]}/v1/alerts`, 'GET', { authorization: 'Bearer acme-ingest-key' })).status).toBe(403)
    expect((await call(`${alerters[0]}/v1/alerts`, 'GET', { ...ACME, 'x-scope-orgid': 'globex' })).status).toBe(403)

    // acme streams with its key; globex the way a browser does, with a token minted for its key.
    const acme = await stream(ws, '', ACME)
    const minted = await call(`${ws}/v1/tokens`, 'POST', GLOBEX, { ttl_seconds: 600 })
    expect(minted.json).toMatchObject({ tenant: 'globex', token: expect.any(String) })
    const globex = await stream(ws)
    globex.send({ type: 'auth', token: minted.json.token })
    await globex.next('authenticated', (f) => f.type === 'authenticated')
    for (const c of [acme, globex]) c.send({ type: 'subscribe', channels: ['logs', 'alerts'] })
    for (const c of [acme, globex]) await c.next('subscribed', (f) => f.type === 'subscribed')

    // The fan-out reads from the latest offsets once someone subscribed: probe until it does.
    const w = await enrichedWriter(iso)
    await waitFor('the fan-out reading', async () => {
      await w.send([enrichedLog({ tenant: 'acme', service: 'probe' }), enrichedLog({ tenant: 'globex', service: 'probe' })])
      return acme.frames.some((f) => f.type === 'log') && globex.frames.some((f) => f.type === 'log') ? true : undefined
    }, 30_000, 500)
    await w.send([fatal('globex', 'billing'), fatal('acme', 'payments')])

    const alertOf = async (c: typeof acme, service: string) => (await c.next(`the ${service} alert`, (f) => f.type === 'alert' && f.data?.service === service)).data!.id!
    const acmeAlert = await alertOf(acme, 'payments')
    const globexAlert = await alertOf(globex, 'billing')
    // Inbox items (the alerter's notifications) reach their tenant's stream too.
    await acme.next('the acme notification', (f) => f.type === 'notification' && f.data?.alert_id === acmeAlert)
    await globex.next('the globex notification', (f) => f.type === 'notification' && f.data?.alert_id === globexAlert)

    // Each alerter instance lists only the key's tenant's alerts (of the partitions it owns).
    const owned = async (url: string, key: Record<string, string>) => ((await call(`${url}/v1/alerts`, 'GET', key)).json.alerts as Array<{ id: string; tenant: string }>)
    for (const url of alerters) {
      expect((await owned(url, ACME)).every((a) => a.tenant === 'acme')).toBe(true)
      expect((await owned(url, GLOBEX)).every((a) => a.tenant === 'globex')).toBe(true)
    }
    // At the instance that does not own the globex alert (the request would be forwarded): acme's key gets a 404.
    const owner = await waitFor('the owner of the globex alert', async () => {
      for (const url of alerters) if ((await owned(url, GLOBEX)).some((a) => a.id === globexAlert)) return url
      return undefined
    })
    const other = alerters.find((u) => u !== owner)!
    for (const url of [owner, other]) {
      expect((await call(`${url}/v1/alerts/${globexAlert}`, 'GET', ACME)).status).toBe(404)
      expect((await call(`${url}/v1/alerts/${globexAlert}/ack`, 'POST', ACME, { by: 'mallory@acme' })).status).toBe(404)
      expect((await call(`${url}/v1/alerts/${globexAlert}/resolve`, 'POST', ACME, { by: 'mallory@acme' })).status).toBe(404)
    }
    // globex's own key acknowledges it through the other instance; still firing until then.
    const ack = await call(`${other}/v1/alerts/${globexAlert}/ack`, 'POST', GLOBEX, { by: 'ops@globex' })
    expect(ack.status).toBe(200)
    expect(ack.json.alert).toMatchObject({ id: globexAlert, tenant: 'globex', status: 'acknowledged', acknowledged_by: 'ops@globex', version: 2 })
    expect((await call(`${other}/v1/alerts/${acmeAlert}/ack`, 'POST', ACME, { by: 'jo@acme' })).json.alert).toMatchObject({ tenant: 'acme', status: 'acknowledged' })
    await globex.next('the acknowledged globex alert', (f) => f.type === 'alert' && f.data?.id === globexAlert && (f.data as { status?: string }).status === 'acknowledged')
    await acme.next('the acknowledged acme alert', (f) => f.type === 'alert' && f.data?.id === acmeAlert && (f.data as { status?: string }).status === 'acknowledged')

    // Nothing of globex ever reached acme's stream, and the other way round.
    const tenantsSeen = (c: typeof acme) => new Set(c.frames.filter((f) => f.data?.tenant !== undefined).map((f) => f.data!.tenant))
    expect(tenantsSeen(acme)).toEqual(new Set(['acme']))
    expect(tenantsSeen(globex)).toEqual(new Set(['globex']))
    // Notifications and attempts through the API: the key's tenant only.
    const inbox = (await call(`${alerters[0]}/v1/notifications`, 'GET', ACME)).json.notifications as Array<{ tenant: string; alert_id: string }>
    expect(inbox.every((n) => n.tenant === 'acme')).toBe(true)
    expect((await call(`${alerters[0]}/v1/notifications?tenant=globex`, 'GET', ACME)).status).toBe(403)

    // acme may hold two live streams: the third is closed with 4029, globex is not affected.
    const second = await stream(ws, '', ACME)
    const third = await stream(ws, '', ACME)
    expect(await third.closed).toBe(4029)
    second.send({ type: 'subscribe', channels: ['logs'] })
    await second.next('subscribed', (f) => f.type === 'subscribed')
    const metrics = await (await fetch(`${ws}/metrics`)).text()
    expect(metrics).toContain('sluice_ws_connections_refused_total{reason="tenant_limit"} 1')
  })

  it("keeps each tenant's cloud connections to its own keys", async () => {
    const iso = secured()
    const rt = await startSluice(['connectors'], iso)
    const api = rt.addresses.connectors!
    const acme = { authorization: 'Bearer acme-admin-key' }
    const globex = { authorization: 'Bearer globex-admin-key' }
    const settings = { region: 'eu-west-1', logGroupName: '/ecs/payments', accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' }

    expect((await call(`${api}/v1/connections`, 'GET', {})).status).toBe(401)
    expect((await call(`${api}/v1/connections`, 'GET', ACME)).status).toBe(403)
    const made = await call(`${api}/v1/connections`, 'POST', globex, { name: 'cw', provider: 'aws-cloudwatch', settings, enabled: false })
    expect(made.status).toBe(201)
    expect(made.json.connection.tenant).toBe('globex')
    const id = made.json.connection.id as string

    expect((await call(`${api}/v1/connections`, 'GET', acme)).json.connections).toEqual([])
    expect((await call(`${api}/v1/connections/${id}`, 'GET', acme)).status).toBe(404)
    expect((await call(`${api}/v1/connections/${id}/start`, 'POST', acme)).status).toBe(404)
    expect((await call(`${api}/v1/connections/${id}`, 'DELETE', acme)).status).toBe(404)
    expect((await call(`${api}/v1/connections?tenant=globex`, 'GET', acme)).status).toBe(403)
    expect((await call(`${api}/v1/connections`, 'POST', acme, { name: 'cw', provider: 'aws-cloudwatch', settings, enabled: false }, )).status).toBe(201)
    // Still there, untouched, for its own tenant.
    const listed = (await call(`${api}/v1/connections`, 'GET', globex)).json.connections as Array<{ id: string; enabled: boolean; tenant: string }>
    expect(listed.map((c) => [c.id, c.tenant, c.enabled])).toEqual([[id, 'globex', false]])
  })
})
