// The alerter against the real stack: records with known event times on logs.enriched, alerts on
// the compacted alerts topic, notifications to local webhook receivers. Restarts — graceful and
// SIGKILL — in the middle of a firing alert neither lose it nor fire it twice.
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { createKafka } from '@sluice/kafka'
import { createLogger } from '@sluice/observability'
import { enrichedLog, enrichedWriter, errorLog } from '../infra/enriched.js'
import type { EnrichedWriter } from '../infra/enriched.js'
import { startReceiver } from '../infra/receiver.js'
import type { Receiver } from '../infra/receiver.js'
import { isolation, startSluice, startSluiceProcess, waitFor } from '../infra/sluice.js'
import type { Isolation } from '../infra/sluice.js'

const S = 1000
const MIN = 60 * S
// Event time: a minute-aligned hour ago, so windows have round boundaries relative to T0.
const T0 = Math.floor(Date.now() / MIN) * MIN - 60 * MIN

interface Notification {
  idempotency_key: string
  alert: { id: string; status: string; version: number; rule_id: string; service: string; resolved_at: string | null; acknowledged_by: string | null; summary: string }
}
const notes = (r: Receiver) => r.requests.map((q) => q.body as Notification)
const brief = (r: Receiver) => notes(r).map((n) => `${n.alert.rule_id}:${n.alert.service}:${n.alert.status}:v${n.alert.version}`)

function alerterIsolation(rules: object[], receiver: Receiver, extra: Record<string, string> = {}): Isolation {
  const iso = isolation({
    ALERTER_CHECKPOINT_INTERVAL_MS: '300',
    ALERTER_ALLOWED_LATENESS_MS: '1000',
    ALERTER_ABSENCE_CHECK_INTERVAL_MS: '200',
    ALERTER_WEBHOOK_URLS: receiver.url,
    ALERTER_NOTIFY_BACKOFF_MS: '50',
    ...extra,
  })
  const file = path.join(iso.dataDir, 'alert-rules.json')
  writeFileSync(file, JSON.stringify({ rules }))
  iso.env.ALERTER_RULES_FILE = file
  return iso
}

async function alertsOnTopic(iso: Isolation): Promise<number> {
  const admin = createKafka({ brokers: iso.env.KAFKA_BROKERS!.split(','), clientId: 'test-admin', logger: createLogger({ level: 'warn' }) }).admin()
  await admin.connect()
  try {
    const offsets = await admin.fetchTopicOffsets(iso.env.TOPIC_ALERTS!)
    return offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0)
  } finally {
    await admin.disconnect()
  }
}

// Tumbling one-minute windows, at least 3 errors; resolved after a minute without a breach.
const errorCount = { id: 'errors', name: 'Checkout errors', kind: 'error_count', windowMs: MIN, slideMs: MIN, threshold: 3, resolveHoldMs: MIN, updateIntervalMs: MIN, cooldownMs: MIN }

/** Minute [0, 1 min): 4 errors among 11 records, then a record at 62 s moves the watermark (61 s) past the window. */
async function breachFirstMinute(w: EnrichedWriter): Promise<void> {
  const records = Array.from({ length: 11 }, (_, i) => (i >= 2 && i <= 5 ? errorLog({ atMs: T0 + i * 5 * S }) : enrichedLog({ atMs: T0 + i * 5 * S })))
  await w.send([...records, enrichedLog({ atMs: T0 + 62 * S })])
}

/** Quiet minutes: the watermark reaches 1 min (last breach) + 1 min hold at the record at 121 s. */
async function quietUntilResolved(w: EnrichedWriter): Promise<void> {
  await w.send(Array.from({ length: 7 }, (_, i) => enrichedLog({ atMs: T0 + (70 + i * 10) * S })))
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
  return line === undefined ? 0 : Number(line.split(' ').at(-1))
}

describe('alerter', () => {
  it('fires once, keeps the firing alert across a graceful restart, resolves after the hold and notifies each change once', async () => {
    const receiver = await startReceiver()
    const iso = alerterIsolation([errorCount], receiver)
    const first = await startSluice(['alerter'], iso)
    const url = first.addresses.alerter!
    const rules = (await (await fetch(`${url}/v1/alert-rules`)).json()) as { rules: Array<{ id: string; threshold: number }> }
    expect(rules.rules).toMatchObject([{ id: 'errors', threshold: 3 }])

    const w = await enrichedWriter(iso)
    await breachFirstMinute(w)
    await waitFor('the firing notification', async () => (receiver.requests.length >= 1 ? true : undefined))
    const open = (await (await fetch(`${url}/v1/alerts`)).json()) as { alerts: Array<{ id: string; status: string; value: number; window_start: string }> }
    expect(open.alerts).toMatchObject([{ status: 'firing', value: 4, window_start: new Date(T0).toISOString().replace('.000Z', '.000000000Z') }])
    // A record for the already-closed minute is late: counted in a metric, not in the window.
    await w.send([errorLog({ atMs: T0 + 5 * S })])
    await waitFor('the late record counted', async () => ((await metric(url, 'sluice_alerter_late_records_total')) === 1 ? true : undefined))

    await first.close()
    const second = await startSluice(['alerter'], iso)
    await quietUntilResolved(w)
    await waitFor('the resolved notification', async () => (receiver.requests.length >= 2 ? true : undefined))
    await new Promise((r) => setTimeout(r, 1000)) // room for a duplicate to show up
    expect(brief(receiver)).toEqual(['errors:checkout:firing:v1', 'errors:checkout:resolved:v2'])
    const [fired, resolved] = notes(receiver)
    expect(resolved!.alert.id).toBe(fired!.alert.id)
    expect(resolved!.alert.resolved_at).toBe(new Date(T0 + 2 * MIN).toISOString().replace('.000Z', '.000000000Z'))
    expect(receiver.requests.map((q) => q.headers['idempotency-key'])).toEqual([`${fired!.alert.id}:1`, `${fired!.alert.id}:2`])
    expect(await alertsOnTopic(iso)).toBe(2)
    const after = (await (await fetch(`${second.addresses.alerter!}/v1/alerts?status=resolved`)).json()) as { alerts: unknown[] }
    expect(after.alerts).toHaveLength(1)
  })

  it('recovers from SIGKILL mid-incident from its checkpoint: no second fire, one notification per change', async () => {
    const receiver = await startReceiver()
    // A short session, so the group hands the killed member's partitions on quickly.
    const iso = alerterIsolation([errorCount], receiver, { ALERTER_SESSION_TIMEOUT_MS: '6000' })
    const w = await enrichedWriter(iso)
    const first = await startSluiceProcess('alerter', 'alerter', iso.env)
    await breachFirstMinute(w)
    await waitFor('the firing notification', async () => (receiver.requests.length >= 1 ? true : undefined))
    // Let a checkpoint record the delivery (the open alert, nothing left to notify), then kill
    // without any shutdown.
    await waitFor('a checkpoint after the delivery', async () =>
      (await metric(first.url, 'sluice_alerter_checkpoint_open_alerts')) === 1 && (await metric(first.url, 'sluice_alerter_checkpoint_undelivered_notifications')) === 0 ? true : undefined,
    )
    first.child.kill('SIGKILL')
    await once(first.child, 'exit')

    await quietUntilResolved(w)
    await startSluiceProcess('alerter', 'alerter', iso.env)
    await waitFor('the resolved notification', async () => (receiver.requests.length >= 2 ? true : undefined))
    await new Promise((r) => setTimeout(r, 1000))
    expect(brief(receiver)).toEqual(['errors:checkout:firing:v1', 'errors:checkout:resolved:v2'])
    expect(await alertsOnTopic(iso)).toBe(2)
  })

  it('alerts at once on FATAL, accepts an acknowledgement, detects a silent service and resolves it when it speaks again', async () => {
    const receiver = await startReceiver([500]) // the first delivery fails and is retried
    const iso = alerterIsolation(
      [
        { id: 'fatal', name: 'FATAL log', kind: 'level', severity: 'critical' },
        { id: 'silent', name: 'Service unavailable', kind: 'absence', silentMs: 1500 },
      ],
      receiver,
    )
    const runtime = await startSluice(['alerter'], iso)
    const url = runtime.addresses.alerter!
    const w = await enrichedWriter(iso)
    const now = Date.now()
    await w.send([enrichedLog({ service: 'search', atMs: now }), enrichedLog({ service: 'payments', atMs: now, level: 'FATAL', severity_text: 'FATAL', severity_number: 21, is_error: true, message: 'ledger corrupted' })])
    await waitFor('the FATAL notification', async () => (receiver.requests.length >= 1 ? true : undefined))
    const fatal = notes(receiver)[0]!.alert
    expect(fatal).toMatchObject({ rule_id: 'fatal', service: 'payments', status: 'firing' })
    // No rule reads every record's text: the summary's message was decoded from the record's bytes.
    expect(fatal.summary).toContain('ledger corrupted')
    const attempts = (await (await fetch(`${url}/v1/alerts/${fatal.id}/notifications`)).json()) as { attempts: Array<{ ok: boolean; http_status: number }> }
    expect(attempts.attempts.map((a) => [a.ok, a.http_status])).toEqual([
      [true, 200],
      [false, 500],
    ])

    const ack = await fetch(`${url}/v1/alerts/${fatal.id}/ack`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ by: 'oncall@example.com' }) })
    expect(ack.status).toBe(200)
    expect(((await ack.json()) as { alert: { status: string } }).alert.status).toBe('acknowledged')
    expect((await fetch(`${url}/v1/alerts/${fatal.id}/ack`, { method: 'POST' })).status).toBe(409)
    expect((await fetch(`${url}/v1/alerts/0000000000000000/ack`, { method: 'POST' })).status).toBe(404)

    // Both services fall silent for longer than 1.5 s of processing time.
    await waitFor('both absence alerts', async () => (brief(receiver).filter((b) => b.startsWith('silent:')).length >= 2 ? true : undefined), 20_000)
    await w.send([enrichedLog({ service: 'search' })])
    await waitFor('search resolved', async () => (brief(receiver).includes('silent:search:resolved:v2') ? true : undefined), 20_000)
    expect(brief(receiver).sort()).toEqual(['fatal:payments:acknowledged:v2', 'fatal:payments:firing:v1', 'silent:payments:firing:v1', 'silent:search:firing:v1', 'silent:search:resolved:v2'])
    expect(notes(receiver).find((n) => n.alert.status === 'acknowledged')!.alert.acknowledged_by).toBe('oncall@example.com')
  })
})
