// Notifier against real local HTTP receivers (node:http on port 0) through the real global fetch.
// Timing assertions are lower bounds or far-apart orderings only, so a loaded machine cannot fail them.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { pino } from 'pino'
import { describe, expect, it, onTestFinished, vi } from 'vitest'
import type { Alert } from '@sluice/core'
import { parseTimestampNs } from '@sluice/core'
import { createLogger, createRegistry } from '@sluice/observability'
import type { Logger } from '@sluice/observability'
import { channelSchema } from './channels.js'
import { Notifier, parseChannels } from './notify.js'
import type { ChannelConfig, NotifierOptions } from './notify.js'
import { alertFixture } from '../../../test/infra/alerts.js'

interface Reply {
  status: number
  body?: string
  headers?: Record<string, string>
  /** Answer this late (the timer is dropped when the client gives up first). */
  delayMs?: number
}

interface Received {
  headers: http.IncomingHttpHeaders
  body: string
  /** performance.now() when the request body had arrived. */
  at: number
}

/** A receiver answering its n-th request (1-based) with reply(n); closed when the test ends. */
async function receiver(reply: (n: number) => Reply = () => ({ status: 200 })): Promise<{ url: string; requests: Received[] }> {
  const requests: Received[] = []
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      requests.push({ headers: req.headers, body, at: performance.now() })
      const r = reply(requests.length)
      const send = () => res.writeHead(r.status, { 'content-type': 'text/plain', ...r.headers }).end(r.body ?? '')
      if (r.delayMs === undefined) return send()
      const timer = setTimeout(send, r.delayMs)
      res.on('close', () => clearTimeout(timer))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, requests }
}

const webhook = (url: string, name = 'webhook-1', maxPerMinute = 600): ChannelConfig => ({ name, kind: 'webhook', url, maxPerMinute })
const slack = (url: string, name = 'slack-1'): ChannelConfig => ({ name, kind: 'slack', url, maxPerMinute: 600 })

function make(channels: ChannelConfig[], over: Partial<NotifierOptions> = {}) {
  const registry = createRegistry({ defaultMetrics: false })
  const notifier = new Notifier({
    channels,
    retries: 5,
    initialBackoffMs: 10,
    maxBackoffMs: 50,
    timeoutMs: 2000,
    registry,
    logger: createLogger({ level: 'silent' }),
    ...over,
  })
  onTestFinished(() => notifier.close())
  return { notifier, registry }
}

/** A debug-level logger whose JSON lines land in `lines`. */
function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = []
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) })
  return { logger, lines }
}

const ns = (iso: string): bigint => parseTimestampNs(iso)!

// The fixture with the values the expected bodies below spell out.
function alert(over: Partial<Alert> = {}): Alert {
  return alertFixture({
    id: 'f3a9c1d2e4b50617',
    value: 0.125,
    threshold: 0.05,
    window_start: ns('2026-11-23T12:00:00.123456789Z'),
    window_end: ns('2026-11-23T12:05:00.123456789Z'),
    started_at: ns('2026-11-23T12:05:01Z'),
    updated_at: ns('2026-11-23T12:05:02.5Z'),
    summary: 'error rate 12.5% over 5 min (25 of 200 records): payment took <*> ms',
    version: 3,
    ...over,
  })
}

describe('Notifier', () => {
  it('POSTs the alert once to a healthy webhook with the idempotency key and ISO timestamps', async () => {
    const hook = await receiver()
    const { notifier, registry } = make([webhook(hook.url)])

    expect(await notifier.notify(alert())).toEqual([{ channel: 'webhook-1', delivered: true, attempts: 1 }])

    expect(hook.requests).toHaveLength(1)
    const req = hook.requests[0]!
    expect(req.headers['content-type']).toBe('application/json')
    expect(req.headers['idempotency-key']).toBe('f3a9c1d2e4b50617:3')
    expect(req.headers['user-agent']).toBe('sluice-alerter')
    expect(JSON.parse(req.body)).toEqual({
      idempotency_key: 'f3a9c1d2e4b50617:3',
      alert: {
        id: 'f3a9c1d2e4b50617',
        tenant: 'acme',
        rule_id: 'checkout-errors',
        rule_name: 'Checkout error rate',
        rule_kind: 'error_rate',
        service: 'checkout',
        pattern_id: null,
        severity: 'critical',
        status: 'firing',
        value: 0.125,
        threshold: 0.05,
        window_start: '2026-11-23T12:00:00.123456789Z',
        window_end: '2026-11-23T12:05:00.123456789Z',
        started_at: '2026-11-23T12:05:01.000000000Z',
        updated_at: '2026-11-23T12:05:02.500000000Z',
        resolved_at: null,
        acknowledged_by: null,
        resolved_by: null,
        resolve_reason: null,
        explanation: null,
        runbook: [],
        summary: 'error rate 12.5% over 5 min (25 of 200 records): payment took <*> ms',
        sample_log_ids: ['log-1', 'log-2'],
        version: 3,
      },
    })
    expect(notifier.attempts()).toEqual([
      expect.objectContaining({ channel: 'webhook-1', alert_id: 'f3a9c1d2e4b50617', version: 3, status: 'firing', attempt: 1, ok: true, http_status: 200, error: null }),
    ])
    expect(Date.parse(notifier.attempts()[0]!.at)).not.toBeNaN()
    const metrics = await registry.metrics()
    expect(metrics).toContain('sluice_alerter_notifications_total{channel="webhook-1",result="delivered"} 1')
    expect(metrics).toContain('sluice_alerter_notification_attempts_total{channel="webhook-1",result="ok"} 1')
    expect(metrics).toContain('sluice_alerter_notification_seconds_count{channel="webhook-1"} 1')
  })

  it('renders resolved_at as an ISO string once the alert resolves', async () => {
    const hook = await receiver()
    const { notifier } = make([webhook(hook.url)])
    await notifier.notify(alert({ status: 'resolved', resolved_at: ns('2026-11-23T12:20:00Z'), version: 4 }))
    const body = JSON.parse(hook.requests[0]!.body) as { idempotency_key: string; alert: Record<string, unknown> }
    expect(body.idempotency_key).toBe('f3a9c1d2e4b50617:4')
    expect(body.alert).toMatchObject({ status: 'resolved', resolved_at: '2026-11-23T12:20:00.000000000Z', version: 4 })
  })

  it('sends a Slack-compatible receiver text and mrkdwn section blocks naming the rule and service', async () => {
    const hook = await receiver(() => ({ status: 200, body: 'ok' }))
    const { notifier } = make([slack(hook.url)])

    expect(await notifier.notify(alert())).toEqual([{ channel: 'slack-1', delivered: true, attempts: 1 }])

    const body = JSON.parse(hook.requests[0]!.body) as { text: string; blocks: { type: string; text?: { type: string; text: string }; fields?: { type: string; text: string }[] }[] }
    expect(body.text).toContain('[FIRING]')
    expect(body.text).toContain('Checkout error rate')
    expect(body.text).toContain('acme/checkout')
    const sections = body.blocks.filter((b) => b.type === 'section')
    expect(sections.length).toBeGreaterThanOrEqual(2)
    const texts = sections.flatMap((b) => [...(b.text ? [b.text] : []), ...(b.fields ?? [])])
    expect(texts.every((t) => t.type === 'mrkdwn')).toBe(true)
    const all = texts.map((t) => t.text).join('\n')
    expect(all).toContain(':rotating_light: *[FIRING] Checkout error rate*')
    expect(all).toContain('acme / checkout')
    expect(all).toContain('0.125 (threshold 0.05)')
    // Template placeholders must not read as Slack links.
    expect(all).toContain('payment took &lt;*&gt; ms')

    await notifier.notify(alert({ status: 'resolved', resolved_at: ns('2026-11-23T12:20:00Z'), version: 4 }))
    const resolved = JSON.parse(hook.requests[1]!.body) as { text: string; blocks: unknown[] }
    expect(resolved.text).toContain('[RESOLVED] Checkout error rate')
    expect(JSON.stringify(resolved.blocks)).toContain(':white_check_mark: *[RESOLVED] Checkout error rate*')
    expect(JSON.stringify(resolved.blocks)).toContain('2026-11-23T12:20:00.000Z')

    await notifier.notify(alert({ status: 'acknowledged', acknowledged_by: 'dana', version: 5 }))
    expect((JSON.parse(hook.requests[2]!.body) as { text: string }).text).toContain('[ACKNOWLEDGED]')
  })

  it('retries 500s and delivers on the third attempt, recording and logging every attempt', async () => {
    const hook = await receiver((n) => (n <= 2 ? { status: 500, body: 'upstream down' } : { status: 200 }))
    const { logger, lines } = capturingLogger()
    const { notifier, registry } = make([webhook(hook.url)], { logger })

    expect(await notifier.notify(alert())).toEqual([{ channel: 'webhook-1', delivered: true, attempts: 3 }])

    expect(hook.requests).toHaveLength(3)
    expect(new Set(hook.requests.map((r) => r.headers['idempotency-key']))).toEqual(new Set(['f3a9c1d2e4b50617:3']))
    // Newest first: the success, then the two failures.
    expect(notifier.attempts({ alertId: 'f3a9c1d2e4b50617' }).map((a) => [a.attempt, a.ok, a.http_status, a.error])).toEqual([
      [3, true, 200, null],
      [2, false, 500, 'HTTP 500: upstream down'],
      [1, false, 500, 'HTTP 500: upstream down'],
    ])
    expect(notifier.attempts({ alertId: 'another-alert' })).toEqual([])

    const warns = lines.filter((l) => l.level === 40)
    expect(warns).toHaveLength(2)
    expect(warns[0]).toMatchObject({ component: 'notifier', channel: 'webhook-1', alert_id: 'f3a9c1d2e4b50617', version: 3, attempt: 1, http_status: 500, error: 'HTTP 500: upstream down' })
    expect(lines.filter((l) => l.level === 20)).toEqual([expect.objectContaining({ channel: 'webhook-1', attempt: 3, http_status: 200 })])
    // The URL may carry a secret (Slack webhooks): it is never logged.
    expect(JSON.stringify(lines)).not.toContain(hook.url)

    const metrics = await registry.metrics()
    expect(metrics).toContain('sluice_alerter_notification_attempts_total{channel="webhook-1",result="error"} 2')
    expect(metrics).toContain('sluice_alerter_notification_attempts_total{channel="webhook-1",result="ok"} 1')
    expect(metrics).toContain('sluice_alerter_notifications_total{channel="webhook-1",result="delivered"} 1')
  })

  it('waits for Retry-After on 429 instead of the backoff', async () => {
    const hook = await receiver((n) => (n === 1 ? { status: 429, headers: { 'retry-after': '0' }, body: 'slow down' } : { status: 200 }))
    // A backoff of 5 s (at least 2.5 s with jitter) would be used if Retry-After were ignored.
    const { notifier } = make([webhook(hook.url)], { initialBackoffMs: 5000, maxBackoffMs: 5000 })
    const t0 = performance.now()
    expect(await notifier.notify(alert())).toEqual([{ channel: 'webhook-1', delivered: true, attempts: 2 }])
    expect(performance.now() - t0).toBeLessThan(2000)
    expect(notifier.attempts().map((a) => a.http_status)).toEqual([200, 429])
  })

  it('caps a long Retry-After on 503 at maxBackoffMs', async () => {
    const hook = await receiver((n) => (n === 1 ? { status: 503, headers: { 'retry-after': '120' } } : { status: 200 }))
    const { notifier } = make([webhook(hook.url)], { maxBackoffMs: 50 })
    const t0 = performance.now()
    expect(await notifier.notify(alert())).toEqual([{ channel: 'webhook-1', delivered: true, attempts: 2 }])
    expect(performance.now() - t0).toBeLessThan(2000)
  })

  it('does not retry a 400 and keeps the answer in the error', async () => {
    const hook = await receiver(() => ({ status: 400, body: 'invalid_payload: missing field "text"' }))
    const { notifier, registry } = make([webhook(hook.url)])

    expect(await notifier.notify(alert())).toEqual([{ channel: 'webhook-1', delivered: false, attempts: 1 }])

    expect(hook.requests).toHaveLength(1)
    const [a] = notifier.attempts()
    expect(a).toMatchObject({ ok: false, http_status: 400, attempt: 1 })
    expect(a!.error).toContain('invalid_payload: missing field "text"')
    expect(await registry.metrics()).toContain('sluice_alerter_notifications_total{channel="webhook-1",result="failed"} 1')
  })

  it('retries network errors and gives up after retries + 1 attempts', async () => {
    const server = http.createServer()
    // A port that was free a moment ago: nothing listens there once this server closes.
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const deadUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`
    await new Promise<void>((r) => server.close(() => r()))
    const { notifier } = make([webhook(deadUrl)], { retries: 2 })

    expect(await notifier.notify(alert())).toEqual([{ channel: 'webhook-1', delivered: false, attempts: 3 }])
    expect(notifier.attempts().every((a) => a.http_status === null && /ECONNREFUSED/.test(a.error ?? ''))).toBe(true)
  })

  it('times out every attempt to a slow receiver without delaying a healthy channel', async () => {
    const slow = await receiver(() => ({ status: 200, delayMs: 10_000 }))
    const healthy = await receiver()
    // The slow channel is listed first: were channels served one after another, the healthy
    // receiver would only hear of the alert after all three slow attempts.
    const { notifier } = make([webhook(slow.url, 'slow'), webhook(healthy.url, 'healthy')], { retries: 2, timeoutMs: 300 })

    const results = await notifier.notify(alert())

    expect(results).toEqual([
      { channel: 'slow', delivered: false, attempts: 3 },
      { channel: 'healthy', delivered: true, attempts: 1 },
    ])
    expect(slow.requests).toHaveLength(3)
    const slowAttempts = notifier.attempts().filter((a) => a.channel === 'slow')
    expect(slowAttempts).toHaveLength(3)
    for (const a of slowAttempts) expect(a).toMatchObject({ ok: false, http_status: null, error: 'timed out after 300 ms' })
    expect(healthy.requests).toHaveLength(1)
    expect(healthy.requests[0]!.at).toBeLessThan(slow.requests[2]!.at)
  })

  it('delays deliveries over the rate limit instead of dropping them', async () => {
    const hook = await receiver()
    // 2 per 1000 ms: the bucket starts full, then refills one token every 500 ms.
    const { notifier } = make([webhook(hook.url, 'webhook-1', 2)], { rateWindowMs: 1000 })
    const t0 = performance.now()

    const results = await Promise.all([1, 2, 3].map((version) => notifier.notify(alert({ version }))))

    expect(results.flat()).toEqual([1, 2, 3].map(() => ({ channel: 'webhook-1', delivered: true, attempts: 1 })))
    expect(hook.requests.map((r) => r.headers['idempotency-key'])).toEqual(['f3a9c1d2e4b50617:1', 'f3a9c1d2e4b50617:2', 'f3a9c1d2e4b50617:3'])
    expect(hook.requests[2]!.at - t0).toBeGreaterThanOrEqual(480)
  })

  it('close() ends a waiting retry at once and resolves it as not delivered', async () => {
    const hook = await receiver(() => ({ status: 500 }))
    const { notifier } = make([webhook(hook.url)], { initialBackoffMs: 20_000, maxBackoffMs: 20_000 })
    const pending = notifier.notify(alert())
    await vi.waitFor(() => expect(notifier.attempts()).toHaveLength(1), { timeout: 5000 })

    const t0 = performance.now()
    notifier.close()
    expect(await pending).toEqual([{ channel: 'webhook-1', delivered: false, attempts: 1 }])
    // The backoff would have been at least 10 s.
    expect(performance.now() - t0).toBeLessThan(2000)

    expect(await notifier.notify(alert())).toEqual([{ channel: 'webhook-1', delivered: false, attempts: 0 }])
    expect(hook.requests).toHaveLength(1)
  })

  it('close() ends a rate-limit wait', async () => {
    const hook = await receiver()
    const { notifier } = make([webhook(hook.url, 'webhook-1', 1)])
    expect(await notifier.notify(alert({ version: 1 }))).toEqual([{ channel: 'webhook-1', delivered: true, attempts: 1 }])
    // The next token is a minute away.
    const pending = notifier.notify(alert({ version: 2 }))
    notifier.close()
    expect(await pending).toEqual([{ channel: 'webhook-1', delivered: false, attempts: 0 }])
    expect(hook.requests).toHaveLength(1)
  })

  it('keeps only the newest historySize attempts, newest first', async () => {
    const hook = await receiver()
    const { notifier } = make([webhook(hook.url)], { historySize: 2 })
    for (const version of [1, 2, 3]) await notifier.notify(alert({ version }))
    expect(notifier.attempts().map((a) => a.version)).toEqual([3, 2])
  })

  it('can be built twice on one registry, and rejects duplicate names and non-HTTP URLs', async () => {
    const hook = await receiver()
    const registry = createRegistry({ defaultMetrics: false })
    const logger = createLogger({ level: 'silent' })
    const opts = { retries: 0, initialBackoffMs: 10, maxBackoffMs: 10, timeoutMs: 1000, registry, logger }
    const a = new Notifier({ ...opts, channels: [webhook(hook.url)] })
    const b = new Notifier({ ...opts, channels: [webhook(hook.url)] })
    await a.notify(alert())
    await b.notify(alert())
    expect(await registry.metrics()).toContain('sluice_alerter_notifications_total{channel="webhook-1",result="delivered"} 2')
    expect(() => new Notifier({ ...opts, channels: [webhook(hook.url), webhook(hook.url)] })).toThrow(/duplicate/)
    expect(() => new Notifier({ ...opts, channels: [webhook('ftp://example.com/hook')] })).toThrow(/http/)
    expect(() => new Notifier({ ...opts, channels: [webhook(hook.url, 'w', 0)] })).toThrow(/maxPerMinute/)
  })
})

describe('parseChannels', () => {
  it('names channels by kind and position and skips blank entries', () => {
    expect(parseChannels({ webhookUrls: ['https://a.example/hook', ' ', 'https://b.example/hook '], slackUrls: ['https://hooks.slack.com/services/T/B/x'], maxPerMinute: 30 })).toEqual([
      { name: 'webhook-1', kind: 'webhook', url: 'https://a.example/hook', maxPerMinute: 30 },
      { name: 'webhook-2', kind: 'webhook', url: 'https://b.example/hook', maxPerMinute: 30 },
      { name: 'slack-1', kind: 'slack', url: 'https://hooks.slack.com/services/T/B/x', maxPerMinute: 30 },
    ])
  })
})

describe('Notifier channels from the API', () => {
  const spec = (doc: Record<string, unknown>) => channelSchema.parse(doc)

  it("routes an alert to its tenant's channels that match, not to other tenants' or filtered-out ones", async () => {
    const critical = await receiver()
    const everything = await receiver()
    const otherTenant = await receiver()
    const { notifier } = make([])
    notifier.set({ tenant: 'acme', source: 'api', spec: spec({ name: 'pager', kind: 'webhook', url: critical.url, filter: { severities: ['critical'], services: ['checkout'] } }) })
    notifier.set({ tenant: 'acme', source: 'api', spec: spec({ name: 'all', kind: 'webhook', url: everything.url }) })
    notifier.set({ tenant: 'globex', source: 'api', spec: spec({ name: 'all', kind: 'webhook', url: otherTenant.url }) })

    expect(await notifier.notify(alert())).toEqual([
      { channel: 'pager', delivered: true, attempts: 1 },
      { channel: 'all', delivered: true, attempts: 1 },
    ])
    expect(await notifier.notify(alert({ id: 'cart-warning', service: 'cart', severity: 'warning' }))).toEqual([{ channel: 'all', delivered: true, attempts: 1 }])
    expect(critical.requests).toHaveLength(1)
    expect(everything.requests).toHaveLength(2)
    expect(otherTenant.requests).toHaveLength(0)
    expect(notifier.attempts({ tenant: 'globex' })).toEqual([])
    expect(notifier.attempts({ tenant: 'acme' })).toHaveLength(3)
  })

  it("shows a tenant the attempts for its own alerts only, on environment channels too (they carry every tenant's)", async () => {
    const hook = await receiver()
    const { notifier } = make([webhook(hook.url)])
    await notifier.notify(alert({ id: 'acme-alert' }))
    await notifier.notify(alert({ id: 'globex-alert', tenant: 'globex' }))
    expect(notifier.attempts({ tenant: 'acme' }).map((a) => [a.alert_id, a.alert_tenant, a.tenant])).toEqual([['acme-alert', 'acme', null]])
    expect(notifier.attempts({ tenant: 'globex' }).map((a) => a.alert_id)).toEqual(['globex-alert'])
    expect(notifier.attempts()).toHaveLength(2)
  })

  it('changes and removes channels while running; a disabled channel gets nothing', async () => {
    const first = await receiver()
    const second = await receiver()
    const { notifier } = make([])
    notifier.set({ tenant: 'acme', source: 'api', spec: spec({ name: 'ops', kind: 'webhook', url: first.url }) })
    await notifier.notify(alert({ version: 1 }))
    notifier.set({ tenant: 'acme', source: 'api', spec: spec({ name: 'ops', kind: 'webhook', url: second.url }) })
    await notifier.notify(alert({ version: 2 }))
    notifier.set({ tenant: 'acme', source: 'api', spec: spec({ name: 'ops', kind: 'webhook', url: second.url, enabled: false }) })
    expect(await notifier.notify(alert({ version: 3 }))).toEqual([])
    notifier.set({ tenant: 'acme', source: 'api', spec: spec({ name: 'ops', kind: 'webhook', url: second.url }) })
    notifier.remove('acme', 'ops')
    expect(await notifier.notify(alert({ version: 4 }))).toEqual([])
    expect([first.requests.length, second.requests.length]).toEqual([1, 1])
  })

  it('mutes a channel in its quiet hours and says so, while another channel still delivers', async () => {
    const quiet = await receiver()
    const loud = await receiver()
    const { notifier, registry } = make([])
    // Quiet all day, every day.
    notifier.set({ tenant: 'acme', source: 'api', spec: spec({ name: 'quiet', kind: 'webhook', url: quiet.url, quiet_hours: [{ start: '00:00', end: '00:00' }] }) })
    notifier.set({ tenant: 'acme', source: 'api', spec: spec({ name: 'loud', kind: 'webhook', url: loud.url }) })
    expect(notifier.route(alert())).toEqual([
      { channel: 'quiet', muted: true },
      { channel: 'loud', muted: false },
    ])
    expect(await notifier.notify(alert())).toEqual([
      { channel: 'quiet', delivered: false, attempts: 0, muted: true },
      { channel: 'loud', delivered: true, attempts: 1 },
    ])
    expect(quiet.requests).toHaveLength(0)
    expect(await registry.metrics()).toContain('sluice_alerter_notifications_total{channel="acme/quiet",result="muted"} 1')
  })

  it('groups alerts of one service firing together into one message, and a later one into the next after the interval', async () => {
    const hook = await receiver()
    const { notifier } = make([])
    notifier.set({ tenant: 'acme', source: 'api', spec: spec({ name: 'grouped', kind: 'webhook', url: hook.url, group: { by: ['service'], wait_ms: 300, interval_ms: 600 } }) })
    const t0 = performance.now()
    const together = [
      notifier.notify(alert({ id: 'a1', rule_id: 'r1' })),
      notifier.notify(alert({ id: 'a2', rule_id: 'r2' })),
      notifier.notify(alert({ id: 'c1', service: 'cart' })),
      // The same alert again at a newer version: the message shows its latest state once.
      notifier.notify(alert({ id: 'a1', rule_id: 'r1', status: 'resolved', resolved_at: ns('2026-11-23T12:20:00Z'), version: 4 })),
    ]
    const results = await Promise.all(together)
    expect(results.flat().every((r) => r.delivered && r.channel === 'grouped')).toBe(true)
    expect(hook.requests).toHaveLength(2)
    expect(hook.requests[0]!.at - t0).toBeGreaterThanOrEqual(290)
    const bodies = hook.requests.map((r) => JSON.parse(r.body) as { idempotency_key: string; alerts?: Array<{ id: string; version: number; status: string }>; alert?: { id: string } })
    const checkout = bodies.find((b) => b.alerts !== undefined)!
    expect(checkout.alerts!.map((a) => [a.id, a.version, a.status])).toEqual([
      ['a1', 4, 'resolved'],
      ['a2', 3, 'firing'],
    ])
    expect(checkout.idempotency_key).toMatch(/^group:[0-9a-f]{32}$/)
    expect(hook.requests.find((r) => r.body.includes('"c1"'))!.headers['idempotency-key']).toBe('c1:3')
    // Within the interval after the checkout message (sent ≥ 300 ms after t0), the next checkout
    // alert waits for the interval to end: ≥ 300 + 600 ms after t0.
    await notifier.notify(alert({ id: 'a3', rule_id: 'r3' }))
    expect(hook.requests).toHaveLength(3)
    expect(hook.requests[2]!.at - t0).toBeGreaterThanOrEqual(890)
  })

  it('flushGroups() sends waiting groups at once', async () => {
    const hook = await receiver()
    const { notifier } = make([])
    notifier.set({ tenant: 'acme', source: 'api', spec: spec({ name: 'slow', kind: 'webhook', url: hook.url, group: { wait_ms: 600_000 } }) })
    const pending = notifier.notify(alert())
    notifier.flushGroups()
    expect(await pending).toEqual([{ channel: 'slow', delivered: true, attempts: 1 }])
  })

  it('sends a templated body with values as JSON values and extra headers (an issue tracker)', async () => {
    const hook = await receiver(() => ({ status: 201, body: '{"key":"OPS-1"}' }))
    const { notifier } = make([])
    const template = { fields: { project: { key: 'OPS' }, summary: '{{title}} on {{alert.service}}', description: '{{text}}', labels: ['sluice', '{{alert.severity}}'], priority: { value: '{{alert.value}}' } } }
    notifier.set({ tenant: 'acme', source: 'api', spec: spec({ name: 'jira', kind: 'webhook', url: hook.url, headers: { Authorization: 'Basic dXNlcjp0b2tlbg==' }, template }) })
    const hostile = alert({ summary: 'payment failed: "}, "injected": {"x": 1' })
    expect(await notifier.notify(hostile)).toEqual([{ channel: 'jira', delivered: true, attempts: 1 }])
    const req = hook.requests[0]!
    expect(req.headers.authorization).toBe('Basic dXNlcjp0b2tlbg==')
    const body = JSON.parse(req.body) as { fields: Record<string, unknown> }
    expect(Object.keys(body)).toEqual(['fields'])
    expect(body.fields.summary).toBe('[FIRING] Checkout error rate on checkout')
    expect(body.fields.labels).toEqual(['sluice', 'critical'])
    expect(body.fields.priority).toEqual({ value: 0.125 })
    expect(body.fields.description).toContain('payment failed: "}, "injected": {"x": 1')
  })

  it('sends Microsoft Teams an Adaptive Card message', async () => {
    const hook = await receiver(() => ({ status: 202 }))
    const { notifier } = make([])
    notifier.set({ tenant: 'acme', source: 'api', spec: spec({ name: 'teams', kind: 'teams', url: hook.url }) })
    expect(await notifier.notify(alert({ status: 'resolved', resolved_at: ns('2026-11-23T12:20:00Z'), resolved_by: 'dana', resolve_reason: 'rolled back', version: 4 }))).toEqual([
      { channel: 'teams', delivered: true, attempts: 1 },
    ])
    const body = JSON.parse(hook.requests[0]!.body) as { type: string; attachments: Array<{ contentType: string; content: { type: string; body: Array<{ type: string; text?: string; facts?: Array<{ title: string; value: string }> }> } }> }
    expect(body.type).toBe('message')
    expect(body.attachments[0]!.contentType).toBe('application/vnd.microsoft.card.adaptive')
    const card = body.attachments[0]!.content
    expect(card.type).toBe('AdaptiveCard')
    expect(card.body[0]!.text).toBe('[RESOLVED] Checkout error rate')
    expect(card.body.find((b) => b.type === 'FactSet')!.facts).toContainEqual({ title: 'Resolved by', value: 'dana' })
    expect(JSON.stringify(card.body)).toContain('Reason: rolled back')
  })

  it('sends user:password in a URL as Basic authentication, never showing it, and lets a channel set its own Content-Type', async () => {
    const hook = await receiver()
    const { notifier } = make([])
    const url = hook.url.replace('http://', 'http://ops%40acme:pa%3Ass@')
    notifier.set({ tenant: 'acme', source: 'api', spec: spec({ name: 'basic', kind: 'webhook', url, headers: { 'Content-Type': 'application/vnd.api+json' } }) })
    expect(await notifier.notify(alert())).toEqual([{ channel: 'basic', delivered: true, attempts: 1 }])
    const req = hook.requests[0]!
    expect(Buffer.from(req.headers.authorization!.replace(/^Basic /, ''), 'base64').toString()).toBe('ops@acme:pa:ss')
    expect(req.headers['content-type']).toBe('application/vnd.api+json')
    expect(req.headers['idempotency-key']).toMatch(/^f3a9c1d2e4b50617:3/)
    // A receiver that is down: what is recorded says so, without the password or the path.
    const closed = http.createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise((resolve) => closed.close(resolve))
    notifier.set({ tenant: 'acme', source: 'api', spec: spec({ name: 'basic', kind: 'webhook', url: `http://ops:s3cr3t@127.0.0.1:${port}/hook/t0ken` }) })
    const refused = await notifier.test('acme', 'basic', alert())
    expect(refused).toMatchObject({ delivered: false, error: expect.stringContaining('ECONNREFUSED') })
    expect(JSON.stringify(notifier.attempts())).not.toMatch(/s3cr3t|t0ken/)
  })

  it('answers a channel test over its rate limit at once, with the wait, rather than holding the request', async () => {
    const hook = await receiver()
    const { notifier } = make([])
    notifier.set({ tenant: 'acme', source: 'api', spec: spec({ name: 'slow', kind: 'webhook', url: hook.url, max_per_minute: 1 }) })
    expect((await notifier.test('acme', 'slow', alert()))?.delivered).toBe(true)
    const t0 = performance.now()
    const refused = await notifier.test('acme', 'slow', alert()).catch((err: unknown) => err)
    expect(performance.now() - t0).toBeLessThan(1000)
    expect(refused).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 60, message: 'channel slow is at its limit of 1 messages a minute; test again in 60 s' })
    expect(hook.requests).toHaveLength(1)
  })

  it("tests a channel with one attempt and reports the receiver's answer", async () => {
    const hook = await receiver(() => ({ status: 403, body: 'invalid token' }))
    const { notifier } = make([])
    notifier.set({ tenant: 'acme', source: 'api', spec: spec({ name: 'ops', kind: 'slack', url: hook.url }) })
    const result = await notifier.test('acme', 'ops', alert())
    expect(result).toMatchObject({ delivered: false, http_status: 403, smtp_code: null, error: 'HTTP 403: invalid token', response: 'invalid token' })
    expect(hook.requests).toHaveLength(1)
    expect(await notifier.test('acme', 'missing', alert())).toBeUndefined()
  })
})
