// Gateway → enricher → ws-fanout → a real WebSocket client: subscriptions, server-side filters,
// pause/resume, bad messages, and bounded queues with `dropped` notices for a client that stalls;
// and the alerter's notification inbox topic → ws-fanout → clients of the item's tenant.
import { once } from 'node:events'
import { describe, expect, it, onTestFinished } from 'vitest'
import WebSocket from 'ws'
import { createKafka } from '@sluice/kafka'
import { createLogger } from '@sluice/observability'
import { loadConfig, mintToken } from '@sluice/ws-fanout'
import { inboxItem } from '../infra/inbox.js'
import { isolation, startSluice, waitFor } from '../infra/sluice.js'

interface Frame {
  type: string
  data?: { id?: string; tenant?: string; service?: string; message?: string }
  count?: number
  message?: string
}

async function connect(base: string, query = '') {
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/v1/stream${query}`)
  const frames: Frame[] = []
  ws.on('message', (d) => frames.push(JSON.parse(d.toString()) as Frame))
  onTestFinished(() => ws.terminate())
  await once(ws, 'open')
  const send = (m: object) => ws.send(JSON.stringify(m))
  const next = (type: string) => waitFor(`a ${type} frame`, async () => frames.find((f) => f.type === type), 20_000, 20)
  return { ws, frames, send, next }
}

async function post(gw: string, records: object[], tenant = 'default') {
  const res = await fetch(`${gw}/v1/logs`, {
    method: 'POST',
    body: records.map((r) => JSON.stringify(r)).join('\n'),
    headers: { 'content-type': 'application/x-ndjson', 'x-sluice-tenant': tenant },
  })
  expect(res.status).toBe(200)
}

describe('live stream', () => {
  it('delivers posted logs that match the subscription, and answers bad messages without closing', async () => {
    const rt = await startSluice(['gateway', 'enricher', 'ws-fanout'], isolation({ ENRICHER_FLUSH_INTERVAL_MS: '20' }))
    const gw = rt.addresses.gateway!
    const c = await connect(rt.addresses['ws-fanout']!)

    c.send({ type: 'subscribe', channels: ['tv'] })
    expect((await c.next('error')).message).toMatch(/channels\.0/)
    c.send({ type: 'subscribe', channels: ['logs', 'stats'], filters: { services: ['checkout'], minLevel: 'WARN' } })
    await c.next('subscribed')

    await post(gw, [
      { id: 'skip-service', service: 'search', level: 'error', message: 'other service' },
      { id: 'skip-level', service: 'checkout', level: 'info', message: 'too quiet' },
      { id: 'want', service: 'checkout', level: 'error', message: 'payment declined for order 42' },
    ])
    const log = await c.next('log')
    expect(log.data).toMatchObject({ id: 'want', service: 'checkout', message: 'payment declined for order 42' })
    const stats = await c.next('stats')
    expect(stats.data).toHaveProperty('ratePerS')
    await new Promise((r) => setTimeout(r, 500))
    expect(c.frames.filter((f) => f.type === 'log').map((f) => f.data?.id)).toEqual(['want'])

    // Paused: nothing is written; resumed: what was queued meanwhile arrives.
    c.send({ type: 'pause' })
    await c.next('paused')
    await post(gw, [{ id: 'while-paused', service: 'checkout', level: 'error', message: 'queued' }])
    await new Promise((r) => setTimeout(r, 1500))
    expect(c.frames.some((f) => f.data?.id === 'while-paused')).toBe(false)
    c.send({ type: 'resume' })
    await waitFor('the queued log', async () => c.frames.find((f) => f.data?.id === 'while-paused'), 20_000, 20)
    expect(c.ws.readyState).toBe(WebSocket.OPEN)
  })

  it('keeps a stalled client to its queue bound and tells it how many messages it missed', async () => {
    const rt = await startSluice(['gateway', 'enricher', 'ws-fanout'], isolation({ WS_CLIENT_QUEUE_MESSAGES: '50', ENRICHER_FLUSH_INTERVAL_MS: '20' }))
    const c = await connect(rt.addresses['ws-fanout']!)
    c.send({ type: 'subscribe', channels: ['logs'] })
    await c.next('subscribed')
    c.send({ type: 'pause' })
    await c.next('paused')
    await post(rt.addresses.gateway!, Array.from({ length: 400 }, (_, i) => ({ id: `burst-${i}`, service: 'burst', message: `event ${i}` })))
    await new Promise((r) => setTimeout(r, 2000))
    const metrics = await (await fetch(`${rt.addresses['ws-fanout']}/metrics`)).text()
    expect(Number(/sluice_ws_messages_dropped_total (\d+)/.exec(metrics)?.[1])).toBe(350)
    c.send({ type: 'resume' })
    const dropped = await c.next('dropped')
    expect(dropped.count).toBe(350)
    await waitFor('the 50 newest logs', async () => (c.frames.filter((f) => f.type === 'log').length >= 50 ? true : undefined), 20_000, 20)
    const ids = c.frames.filter((f) => f.type === 'log').map((f) => f.data?.id)
    expect(ids).toHaveLength(50)
    expect(ids[49]).toBe('burst-399')
  })

  it('with auth on, needs a valid token and shows only the token tenant; refuses connections past the limit', async () => {
    const secret = 'a-test-secret-of-32-characters!!'
    const rt = await startSluice(['gateway', 'enricher', 'ws-fanout'], isolation({ WS_AUTH: 'true', WS_AUTH_SECRET: secret, WS_MAX_CLIENTS: '2', ENRICHER_FLUSH_INTERVAL_MS: '20' }))
    const base = rt.addresses['ws-fanout']!

    const anonymous = await connect(base)
    anonymous.send({ type: 'subscribe', channels: ['logs'] })
    expect((await anonymous.next('error')).message).toMatch(/authenticate first/)
    anonymous.send({ type: 'auth', token: mintToken('wrong-secret-wrong-secret', 'acme') })
    const [code] = (await once(anonymous.ws, 'close')) as [number]
    expect(code).toBe(4001)

    const acme = await connect(base, `?token=${mintToken(secret, 'acme')}`)
    acme.send({ type: 'subscribe', channels: ['logs'] })
    await acme.next('subscribed')
    const viaMessage = await connect(base)
    viaMessage.send({ type: 'auth', token: mintToken(secret, 'globex') })
    expect(await viaMessage.next('authenticated')).toMatchObject({ tenant: 'globex' })

    const third = await connect(base)
    const [limitCode] = (await once(third.ws, 'close')) as [number]
    expect(limitCode).toBe(1013)

    await post(rt.addresses.gateway!, [{ id: 'other-tenant', service: 's', message: 'not for acme' }], 'globex')
    await post(rt.addresses.gateway!, [{ id: 'acme-log', service: 's', message: 'for acme' }], 'acme')
    expect((await acme.next('log')).data?.id).toBe('acme-log')
    await new Promise((r) => setTimeout(r, 500))
    expect(acme.frames.filter((f) => f.type === 'log').map((f) => f.data?.id)).toEqual(['acme-log'])
  })

  it('streams the alert a FATAL log raises, stores it for the query API, and closes connections that subscribe to nothing', async () => {
    const rt = await startSluice(['gateway', 'enricher', 'alerter', 'clickhouse-sink', 'query-api', 'ws-fanout'], isolation({ ENRICHER_FLUSH_INTERVAL_MS: '20', WS_IDLE_TIMEOUT_MS: '1500' }))
    const watcher = await connect(rt.addresses['ws-fanout']!)
    watcher.send({ type: 'subscribe', channels: ['alerts'] })
    await watcher.next('subscribed')
    const idle = await connect(rt.addresses['ws-fanout']!)

    await post(rt.addresses.gateway!, [{ id: 'fatal-1', service: 'ledger', level: 'fatal', message: 'ledger corrupted at block 7' }])
    // The default rules: any FATAL, and a template never seen before at ERROR or above.
    type AlertFrame = { id: string; rule_id: string; service: string; status: string; sample_log_ids: string[] }
    const alerts = await waitFor('two alerts', async () => {
      const got = watcher.frames.filter((f) => f.type === 'alert').map((f) => f.data as AlertFrame)
      return got.length >= 2 ? got : undefined
    })
    expect(alerts.map((a) => a.rule_id).sort()).toEqual(['fatal', 'new-error-pattern'])
    for (const a of alerts) expect(a).toMatchObject({ service: 'ledger', status: 'firing', sample_log_ids: ['fatal-1'] })

    const stored = await waitFor('the alerts in ClickHouse', async () => {
      const res = (await (await fetch(`${rt.addresses['query-api']!}/v1/alerts?service=ledger`)).json()) as { alerts: Array<{ id: string; status: string }> }
      return res.alerts.length >= 2 ? res.alerts : undefined
    })
    expect(stored.map((a) => a.id).sort()).toEqual(alerts.map((a) => a.id).sort())

    const [code, reason] = (await once(idle.ws, 'close')) as [number, Buffer]
    expect(code).toBe(4002)
    expect(reason.toString()).toMatch(/idle/)
    expect(watcher.ws.readyState).toBe(WebSocket.OPEN)
  })

  it('pushes notification inbox items and deletions to alert subscribers of their tenant only, skipping undecodable records', async () => {
    const secret = 'a-test-secret-of-32-characters!!'
    const iso = isolation({ WS_AUTH: 'true', WS_AUTH_SECRET: secret })
    // ws-fanout alone: it declares the inbox topic itself, so no alerter has to have created it.
    const rt = await startSluice(['ws-fanout'], iso)
    const base = rt.addresses['ws-fanout']!
    const topic = loadConfig(iso.env).topicNotifications
    expect(topic).toBe(`${iso.env.TOPIC_ALERTS}.notifications`)

    const kafka = createKafka({ brokers: iso.env.KAFKA_BROKERS!.split(','), clientId: 'inbox-test', logger: createLogger({ level: 'warn' }) })
    const admin = kafka.admin()
    await admin.connect()
    onTestFinished(() => admin.disconnect())
    const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2 /* TOPIC */, name: topic, configNames: ['cleanup.policy'] }] })
    expect(resources[0]?.configEntries).toMatchObject([{ configName: 'cleanup.policy', configValue: 'compact' }])
    const producer = kafka.producer()
    await producer.connect()
    onTestFinished(() => producer.disconnect())
    const send = (...messages: Array<{ key: string | null; value: string | null }>) => producer.send({ topic, messages })
    const item = (over: Record<string, unknown>) => JSON.stringify(inboxItem(over))

    const acme = await connect(base, `?token=${mintToken(secret, 'acme')}`)
    const globex = await connect(base, `?token=${mintToken(secret, 'globex')}`)
    for (const c of [acme, globex]) {
      c.send({ type: 'subscribe', channels: ['alerts'] })
      await c.next('subscribed')
    }
    // Probes aside (a late one may still arrive).
    const notifications = (c: Awaited<ReturnType<typeof connect>>) => c.frames.filter((f) => f.type.startsWith('notification') && f.data?.id !== 'probe:1')
    // The stage reads from the latest offsets once someone subscribed: probe until it does.
    await waitFor('the fan-out reading the inbox', async () => {
      await send({ key: 'acme|probe:1', value: item({ tenant: 'acme', id: 'probe:1' }) })
      return acme.frames.some((f) => f.type === 'notification') ? true : undefined
    }, 30_000, 300)

    await send(
      { key: 'acme|broken:1', value: '{"tenant":"acme",' },
      { key: 'acme|no-tenant:1', value: JSON.stringify({ id: 'no-tenant:1' }) },
      { key: 'no-separator', value: null },
      { key: 'acme|fp-1:2', value: item({ tenant: 'acme', id: 'fp-1:2', read_at: '2025-11-23T12:05:00.000Z', read_by: 'ops@acme' }) },
      { key: 'acme|fp-1:2', value: null },
      // Last, on the same (single) partition: once globex has it, it has seen everything before.
      { key: 'globex|fp-7:1', value: item({ tenant: 'globex', id: 'fp-7:1', alert_id: 'fp-7', version: 1 }) },
    )
    await waitFor('the globex item', async () => globex.frames.find((f) => f.data?.id === 'fp-7:1'), 20_000, 20)
    await waitFor('the acme deletion', async () => acme.frames.find((f) => f.type === 'notification_deleted'), 20_000, 20)
    expect(notifications(acme)).toEqual([
      { type: 'notification', data: inboxItem({ tenant: 'acme', id: 'fp-1:2', read_at: '2025-11-23T12:05:00.000Z', read_by: 'ops@acme' }) },
      { type: 'notification_deleted', data: { tenant: 'acme', id: 'fp-1:2' } },
    ])
    expect(notifications(globex)).toEqual([{ type: 'notification', data: inboxItem({ tenant: 'globex', id: 'fp-7:1', alert_id: 'fp-7', version: 1 }) }])

    // The bad records were skipped and counted; the connections stay up.
    const metrics = await (await fetch(`${base}/metrics`)).text()
    expect(metrics).toMatch(/^sluice_ws_fanout_events_errors_total\{code="DECODE_FAILED"\} 3$/m)
    for (const c of [acme, globex]) expect(c.ws.readyState).toBe(WebSocket.OPEN)
  })
})
