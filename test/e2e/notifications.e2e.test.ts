// Notifications people manage, against the real stack: channels made through one alerter
// instance's API reach another instance through Kafka; an email channel for one service's critical
// alerts delivers through a real SMTP server (aiosmtpd, STARTTLS and AUTH) with nodemailer; the
// inbox shows every status change on either instance; a person resolves the alert on the instance
// that does not own it, and that is notified and kept in the alert's history.
import { describe, expect, it } from 'vitest'
import { enrichedLog, enrichedWriter, errorLog } from '../infra/enriched.js'
import { startReceiver } from '../infra/receiver.js'
import { isolation, startSluice, startSluiceProcess, waitFor } from '../infra/sluice.js'
import type { Isolation } from '../infra/sluice.js'
import { selfSignedCert, startSmtpReceiver } from '../smtp/receiver.js'
import { writeFileSync } from 'node:fs'
import path from 'node:path'

const RULES = [{ id: 'fatal', name: 'FATAL log', kind: 'level', severity: 'critical' }]
const ACME = { 'x-sluice-tenant': 'acme' }

/** The tests read answers loosely, as a client script would; the assertions check their shape. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

async function call(url: string, method: string, body?: unknown, headers: Record<string, string> = ACME): Promise<{ status: number; json: Json }> {
  const res = await fetch(url, { method, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await res.text()
  return { status: res.status, json: text === '' ? null : JSON.parse(text) }
}

/** An isolation whose alerter runs RULES (any FATAL fires). */
function withRules(env: Record<string, string>): Isolation {
  const iso = isolation(env)
  const file = path.join(iso.dataDir, 'rules.json')
  writeFileSync(file, JSON.stringify({ rules: RULES }))
  iso.env.ALERTER_RULES_FILE = file
  return iso
}

const fatal = (service: string) => enrichedLog({ service, atMs: Date.now(), level: 'FATAL', severity_text: 'FATAL', severity_number: 21, is_error: true, message: `${service} ledger corrupted` })

describe('notifications', () => {
  it('delivers an API-made email channel by SMTP, fills the inbox on every instance, and resolves by hand on a non-owner', async () => {
    const cert = await selfSignedCert()
    const smtp = await startSmtpReceiver({ auth: { user: 'alerts', password: 'mail-pass-42' }, starttls: cert })
    const iso = withRules({ ALERTER_CHECKPOINT_INTERVAL_MS: '300', ALERTER_COMMAND_TIMEOUT_MS: '5000' })
    const [a, b] = await Promise.all([startSluiceProcess('alerter', 'alerter', iso.env), startSluiceProcess('alerter', 'alerter', iso.env)])

    // An on-call person adds an email channel for critical alerts of payments, on instance A.
    const channel = {
      name: 'oncall-email',
      kind: 'email',
      to: ['oncall@example.com'],
      from: 'sluice@example.com',
      smtp: { host: '127.0.0.1', port: smtp.port, security: 'starttls', user: 'alerts', password: 'mail-pass-42', verify_certificate: false },
      filter: { severities: ['critical'], services: ['payments'] },
    }
    const created = await call(`${a.url}/v1/notification-channels`, 'POST', channel)
    expect(created.status).toBe(201)
    expect(created.json.channel).toMatchObject({ name: 'oncall-email', kind: 'email', tenant: 'acme', source: 'api', smtp: { user: 'alerts', password_set: true } })
    expect(JSON.stringify(created.json)).not.toContain('mail-pass-42')
    expect((await call(`${a.url}/v1/notification-channels`, 'POST', channel)).status).toBe(409)

    // Instance B sees it through the channels topic; another tenant does not.
    const onB = await waitFor('the channel on instance B', async () => {
      const r = await call(`${b.url}/v1/notification-channels/oncall-email`, 'GET')
      return r.status === 200 ? r.json.channel : undefined
    })
    expect(onB).toMatchObject({ to: ['oncall@example.com'], filter: { severities: ['critical'], services: ['payments'] } })
    expect((await call(`${b.url}/v1/notification-channels/oncall-email`, 'GET', undefined, { 'x-sluice-tenant': 'globex' })).status).toBe(404)

    // A test message through it, from instance B.
    const tested = await call(`${b.url}/v1/notification-channels/oncall-email/test`, 'POST')
    expect(tested.json).toMatchObject({ channel: 'oncall-email', delivered: true, smtp_code: 250, error: null })
    const [testMail] = await smtp.waitFor(1)
    expect(testMail).toMatchObject({ auth_user: 'alerts', tls: true, rcpt_tos: ['oncall@example.com'] })
    expect(testMail!.subject).toContain('Sluice test notification')

    // payments and search both log FATAL: only payments matches the channel.
    const w = await enrichedWriter(iso)
    await w.send([fatal('payments'), fatal('search')])
    const [, fired] = await smtp.waitFor(2, 30_000)
    expect(fired!.subject).toBe('[FIRING] FATAL log — acme/payments')
    expect(fired!.text).toContain('payments ledger corrupted')
    expect(fired!.html).toContain('payments')
    expect(fired!.message_id).toMatch(/@sluice>$/)

    // The inbox, on both instances: both status changes, with the channels they went to.
    type Item = { id: string; alert_id: string; service: string; status: string; channels: Array<{ name: string; result: string }>; read_at: string | null }
    const inbox = async (url: string, query = ''): Promise<{ notifications: Item[]; unread: number }> => (await call(`${url}/v1/notifications${query}`, 'GET')).json
    for (const url of [a.url, b.url]) {
      await waitFor('both alerts in the inbox, deliveries done', async () => {
        const got = await inbox(url)
        const payments = got.notifications.find((n) => n.service === 'payments')
        return got.notifications.length === 2 && payments?.channels[0]?.result === 'delivered' ? got : undefined
      })
    }
    const items = (await inbox(a.url)).notifications
    const payments = items.find((n) => n.service === 'payments')!
    expect(payments).toMatchObject({ status: 'firing', channels: [{ name: 'oncall-email', result: 'delivered' }], read_at: null })
    expect(items.find((n) => n.service === 'search')).toMatchObject({ status: 'firing', channels: [] })
    expect(smtp.messages).toHaveLength(2)

    // Resolve by hand on the instance that does not own the alert.
    const owns = async (url: string) => ((await call(`${url}/v1/alerts`, 'GET')).json.alerts as Array<{ id: string }>).some((x) => x.id === payments.alert_id)
    const [ownerA, ownerB] = [await owns(a.url), await owns(b.url)]
    expect(ownerA !== ownerB).toBe(true)
    const other = ownerA ? b.url : a.url
    const resolved = await call(`${other}/v1/alerts/${payments.alert_id}/resolve`, 'POST', { by: 'dana@example.com', reason: 'rolled back the deploy' })
    expect(resolved.status).toBe(200)
    expect(resolved.json.alert).toMatchObject({ status: 'resolved', resolved_by: 'dana@example.com', resolve_reason: 'rolled back the deploy', version: 2 })
    expect(resolved.json.history.map((h: { action: string; by: string | null }) => [h.action, h.by])).toEqual([
      ['fired', null],
      ['resolved', 'dana@example.com'],
    ])
    expect((await call(`${other}/v1/alerts/${payments.alert_id}/resolve`, 'POST', {})).status).toBe(409)
    expect((await call(`${other}/v1/alerts/0000000000000000/resolve`, 'POST', {})).status).toBe(404)
    const [, , resolvedMail] = await smtp.waitFor(3, 30_000)
    expect(resolvedMail!.subject).toBe('[RESOLVED] FATAL log — acme/payments')
    expect(resolvedMail!.text).toContain('dana@example.com')
    expect(resolvedMail!.text).toContain('rolled back the deploy')
    const history = await call(`${other}/v1/alerts/${payments.alert_id}`, 'GET')
    expect(history.json.alert.status).toBe('resolved')
    expect(history.json.history.at(-1)).toMatchObject({ action: 'resolved', by: 'dana@example.com', reason: 'rolled back the deploy' })

    // Mark everything read on B; A's inbox shows it. Delete one on A; B's inbox loses it.
    const all = await waitFor('three inbox items', async () => ((await inbox(b.url)).notifications.length === 3 ? (await inbox(b.url)).notifications : undefined))
    expect((await call(`${b.url}/v1/notifications/mark-read`, 'POST', { all: true, by: 'dana@example.com' })).json).toEqual({ marked: 3 })
    await waitFor('read on A', async () => ((await inbox(a.url)).unread === 0 ? true : undefined))
    expect((await inbox(a.url, '?read=true&status=resolved')).notifications.map((n) => n.alert_id)).toEqual([payments.alert_id])
    // An empty filter filters nothing.
    expect((await inbox(a.url, '?severity=&status=')).notifications).toHaveLength(3)
    const searchItem = all.find((n) => n.service === 'search')!
    expect((await call(`${a.url}/v1/notifications/${encodeURIComponent(searchItem.id)}`, 'DELETE')).status).toBe(204)
    await waitFor('deleted on B', async () => ((await inbox(b.url)).notifications.length === 2 ? true : undefined))
    // One item named twice is one change; a paging cursor that names a deleted item is refused, not page one again.
    const [first] = (await inbox(a.url)).notifications
    expect((await call(`${a.url}/v1/notifications/mark-unread`, 'POST', { ids: [first!.id, first!.id] })).json).toEqual({ marked: 1 })
    const stale = await call(`${a.url}/v1/notifications?limit=1&before=${encodeURIComponent(searchItem.id)}`, 'GET')
    expect(stale.status).toBe(400)
    expect(stale.json.message).toMatch(/^parameter before: no notification .* \(deleted or trimmed since it was answered\)/)

    // Update the filter without the password (kept), then delete the channel from the other instance.
    const updated = await call(`${b.url}/v1/notification-channels/oncall-email`, 'PUT', { ...channel, smtp: { ...channel.smtp, password: undefined }, filter: { severities: ['critical', 'warning'] } })
    expect(updated.status).toBe(200)
    expect(updated.json.channel.smtp.password_set).toBe(true)
    await waitFor('the update on A', async () => ((await call(`${a.url}/v1/notification-channels/oncall-email`, 'GET')).json.channel.filter.severities.length === 2 ? true : undefined))
    expect((await call(`${a.url}/v1/notification-channels/oncall-email/test`, 'POST')).json.delivered).toBe(true)
    expect((await call(`${a.url}/v1/notification-channels/oncall-email`, 'DELETE')).status).toBe(204)
    await waitFor('the deletion on B', async () => ((await call(`${b.url}/v1/notification-channels/oncall-email`, 'GET')).status === 404 ? true : undefined))

    // Delete everything while a mark of everything is under way: nothing comes back, here or on B.
    const [deleted, marked] = await Promise.all([call(`${a.url}/v1/notifications/delete`, 'POST', { all: true }), call(`${a.url}/v1/notifications/mark-read`, 'POST', { all: true, by: 'dana@example.com' })])
    expect(deleted.json.deleted + marked.json.marked).toBeLessThanOrEqual(3)
    expect((await inbox(a.url)).notifications).toEqual([])
    await waitFor('the deletion of every item on B', async () => ((await inbox(b.url)).notifications.length === 0 ? true : undefined))
  })

  it('names what is wrong in a channel, keeps environment channels read-only and tenants apart, and acknowledges on the owner', async () => {
    const receiver = await startReceiver()
    const iso = withRules({ ALERTER_WEBHOOK_URLS: receiver.url })
    const runtime = await startSluice(['alerter'], iso)
    const url = runtime.addresses.alerter!

    const bad = await call(`${url}/v1/notification-channels`, 'POST', { name: 'ops', kind: 'webhook', url: 'ftp://example.com/x', filter: { severities: ['urgent'] } })
    expect(bad.status).toBe(400)
    expect(bad.json.message).toContain('url: expected an http(s) URL')
    expect(bad.json.message).toContain('filter.severities.0:')
    expect((await call(`${url}/v1/notification-channels`, 'POST', { name: 'ops', kind: 'webhook', url: 'https://x.example' }, { 'x-sluice-tenant': 'not a tenant!' })).status).toBe(400)
    expect((await call(`${url}/v1/notification-channels/webhook-1`, 'DELETE')).status).toBe(409)
    expect((await call(`${url}/v1/notification-channels/webhook-1`, 'PUT', { kind: 'webhook', url: 'https://x.example' })).status).toBe(409)

    const made = await call(`${url}/v1/notification-channels/team-hook`, 'PUT', { kind: 'webhook', url: `${receiver.url}?token=abc123`, filter: { services: ['nothing-logs-here'] } })
    expect(made.status).toBe(201)
    expect(made.json.channel.url).toBe(`${new URL(receiver.url).origin}/…`)
    const acme = (await call(`${url}/v1/notification-channels`, 'GET')).json.channels.map((c: { name: string; read_only: boolean }) => [c.name, c.read_only])
    expect(acme).toEqual([
      ['webhook-1', true],
      ['team-hook', false],
    ])
    const globex = (await call(`${url}/v1/notification-channels`, 'GET', undefined, { 'X-Scope-OrgID': 'globex' })).json.channels.map((c: { name: string }) => c.name)
    expect(globex).toEqual(['webhook-1'])

    const w = await enrichedWriter(iso)
    await w.send([fatal('payments')])
    await waitFor('the environment channel notified', async () => (receiver.requests.length >= 1 ? true : undefined))
    const id = (receiver.requests[0]!.body as { alert: { id: string } }).alert.id
    const ack = await call(`${url}/v1/alerts/${id}/ack`, 'POST', { by: 'oncall@example.com' })
    expect(ack.json.alert).toMatchObject({ status: 'acknowledged', acknowledged_by: 'oncall@example.com' })
    expect(ack.json.history.map((h: { action: string }) => h.action)).toEqual(['fired', 'acknowledged'])
    // The filtered-out channel got nothing; the inbox records where each change went.
    await waitFor('the acknowledgement delivered', async () => (receiver.requests.length >= 2 ? true : undefined))
    expect(receiver.requests.every((r) => !String(r.headers['idempotency-key']).startsWith('test-'))).toBe(true)
    const inbox = await waitFor('two inbox items', async () => {
      const r = (await call(`${url}/v1/notifications?alert_id=${id}`, 'GET')).json as { notifications: Array<{ status: string; by: string | null; channels: unknown }> }
      return r.notifications.length === 2 && JSON.stringify(r.notifications).includes('"delivered"') && !JSON.stringify(r.notifications).includes('"pending"') ? r.notifications : undefined
    })
    expect(inbox.map((n) => [n.status, n.by, n.channels])).toEqual([
      ['acknowledged', 'oncall@example.com', [{ name: 'webhook-1', result: 'delivered' }]],
      ['firing', null, [{ name: 'webhook-1', result: 'delivered' }]],
    ])
  })

  it('explains a firing alert from the stored data before notifying, and keeps the explanation on the alert', async () => {
    const receiver = await startReceiver()
    const iso = withRules({ ALERTER_WEBHOOK_URLS: receiver.url })
    // The query API (with the sink filling its store) first: the alerter asks it why.
    const store = await startSluice(['clickhouse-sink', 'query-api'], iso)
    const query = store.addresses['query-api']!
    iso.env.ALERTER_EXPLAIN_URL = query
    const alerter = await startSluice(['alerter'], iso)

    // A burst of declined payments is stored; then a FATAL in payments fires the alert.
    const w = await enrichedWriter(iso)
    const burst = Array.from({ length: 12 }, (_, i) => errorLog({ service: 'payments', atMs: Date.now() - 60_000 + i * 1000, user_id: `u${i % 5}` }))
    await w.send(burst)
    await waitFor('the burst stored', async () => {
      const r = await call(`${query}/v1/logs?service=payments&limit=100`, 'GET')
      return r.json.logs?.length === burst.length ? true : undefined
    })
    await w.send([fatal('payments')])
    await waitFor('the firing notification', async () => (receiver.requests.length >= 1 ? true : undefined), 30_000)
    const fired = (receiver.requests[0]!.body as { alert: { id: string; status: string; explanation: string | null; runbook: string[]; version: number } }).alert
    expect(fired.status).toBe('firing')
    // The explanation is the query API's answer from the stored data: the burst's pattern and its users.
    expect(fired.explanation).toContain('payment declined: gateway timeout')
    expect(fired.explanation).toContain('affecting 5 users')
    expect(fired.runbook.join(' ')).toMatch(/payment provider/)
    expect(fired.version).toBe(2)
    // The stored alert (alerts topic → ClickHouse) carries it too, and so does the alerter's view.
    const stored = await waitFor('the explained alert stored', async () => {
      const r = await call(`${query}/v1/alerts?service=payments`, 'GET')
      const a = r.json.alerts?.[0]
      return a?.explanation ? a : undefined
    })
    expect(stored).toMatchObject({ id: fired.id, explanation: fired.explanation, runbook: fired.runbook })
    const metrics = await (await fetch(`${alerter.addresses.alerter!}/metrics`)).text()
    expect(metrics).toContain('sluice_alerter_explanations_total{result="ok"} 1')
  })
})
