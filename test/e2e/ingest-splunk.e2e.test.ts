// Splunk HTTP Event Collector end to end, sent by real HEC clients: Splunk's own JavaScript library
// (splunk-logging, events batched into one request and joined with nothing between them, to
// /services/collector/event/1.0) and splunk_handler, a Python `logging` handler (the queue sent as
// one request to /services/collector/event on close; test/shippers/splunk-python, in a virtualenv of
// its own), both with their HEC token as the key (`Authorization: Splunk <key>`, SLUICE_AUTH=true).
// Then with plain requests, as curl sends them: /services/collector/raw lines, and a batch with a
// bad event among good ones (400 naming it as HEC does, the good ones stored). Each record's
// message, level, time, host, service and the com.splunk.* resource attributes are read back from
// ClickHouse through the query API.
import { execFile } from 'node:child_process'
import { createRequire } from 'node:module'
import path from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { hashKey } from '@sluice/auth'
import { isoNs, logsOf } from '../infra/logs.js'
import { REPO_ROOT } from '../infra/providers.js'
import { pythonVenv } from '../infra/python.js'
import { isolation, startSluice } from '../infra/sluice.js'

const run = promisify(execFile)
const TARGETS = ['gateway', 'enricher', 'clickhouse-sink', 'query-api'] as const

// splunk-logging ships no types: the part of its API used here.
interface SplunkContext {
  message: unknown
  severity?: string
  metadata?: { time?: Date; host?: string; source?: string; sourcetype?: string; index?: string }
}
type SplunkCallback = (err: Error | null, resp: { statusCode?: number } | undefined, body: unknown) => void
interface SplunkLogger {
  send(context: SplunkContext, callback?: SplunkCallback): void
  flush(callback: SplunkCallback): void
  /** Called with a request error, or with Splunk's answer as an Error carrying its `code`. */
  error: (err: Error & { code?: number }, context: unknown) => void
}
const { Logger: SplunkLoggerClass } = createRequire(import.meta.url)('splunk-logging') as { Logger: new (config: Record<string, unknown>) => SplunkLogger }

/** A logger of `token`, the errors it reports, and its flush as a promise. */
function splunkLogger(gateway: string, token: string, maxBatchCount: number) {
  const logger = new SplunkLoggerClass({ url: gateway, token, maxBatchCount })
  const errors: Array<Error & { code?: number }> = []
  logger.error = (err) => void errors.push(err)
  const flush = () => new Promise<{ err: Error | null; status: number | undefined; body: unknown }>((resolve) => logger.flush((err, resp, body) => resolve({ err, status: resp?.statusCode, body })))
  return { logger, errors, flush }
}

// With SLUICE_AUTH=true: the HEC token of the clients (ingest) and a key to read back with (query).
const TENANT = 'splunk-e2e'
const HEC_TOKEN = 'hec-token-0f3a9c'
const READ_KEY = 'splunk-read-key'
const KEYS = JSON.stringify({
  keys: [
    { id: 'hec', sha256: hashKey(HEC_TOKEN), tenants: [TENANT], scopes: ['ingest'] },
    { id: 'reader', sha256: hashKey(READ_KEY), tenants: [TENANT], scopes: ['query'] },
  ],
})

describe('Splunk HEC end to end', () => {
  it("stores a batch of splunk-logging's events, each with its own metadata, severity and time, under the HEC token's tenant", async () => {
    const rt = await startSluice([...TARGETS], isolation({ SLUICE_AUTH: 'true', SLUICE_API_KEYS: KEYS }))
    const gateway = rt.addresses.gateway!
    const baseMs = Math.floor(Date.now() / 1000) * 1000 - 60_000
    const metadata = { source: 'js-checkout', sourcetype: 'node:checkout', index: 'payments', host: 'js-host-1' }
    const sent = [
      { message: 'cart loaded', severity: 'debug', ms: baseMs + 250 },
      { message: 'order paid', severity: 'info', ms: baseMs + 1_500 },
      { message: 'payment slow', severity: 'warn', ms: baseMs + 2_750 },
      { message: 'card declined', severity: 'error', ms: baseMs + 3_001 },
    ]

    // A batch of 10, more than the four sent: nothing goes until the flush, which posts them in one body.
    const { logger, errors, flush } = splunkLogger(gateway, HEC_TOKEN, 10)
    for (const e of sent) logger.send({ message: e.message, severity: e.severity, metadata: { ...metadata, ...(e.severity === 'error' && { index: 'alerts' }), time: new Date(e.ms) } })
    expect(await flush()).toEqual({ err: null, status: 200, body: { text: 'Success', code: 0 } })
    expect(errors).toEqual([])

    // A token the gateway does not know: HEC's "Invalid token", which the library reports as an error.
    const stranger = splunkLogger(gateway, 'not-a-hec-token', 10)
    stranger.logger.send({ message: 'from a stranger', metadata: { source: 'js-checkout' } })
    expect(await stranger.flush()).toMatchObject({ err: null, status: 401, body: { code: 4 } })
    expect(stranger.errors.map((e) => e.code)).toEqual([4])

    const logs = await logsOf(rt.addresses['query-api']!, 'js-checkout', 4, READ_KEY)
    expect([...logs.values()].map((l) => [l.message, l.severity_text]).sort()).toEqual([
      ['card declined', 'ERROR'],
      ['cart loaded', 'DEBUG'],
      ['order paid', 'INFO'],
      ['payment slow', 'WARN'],
    ])
    for (const e of sent) {
      const stored = logs.get(e.message)!
      expect(stored).toMatchObject({ tenant: TENANT, service: 'js-checkout', host: 'js-host-1', timestamp: isoNs(e.ms) })
      expect(stored.resource).toEqual({ 'com.splunk.source': 'js-checkout', 'com.splunk.sourcetype': 'node:checkout', 'com.splunk.index': e.severity === 'error' ? 'alerts' : 'payments' })
      // The library's {message, severity} event: both read, neither left behind as an attribute.
      expect(stored.attributes).toEqual({})
    }

    // The library's README example: a message that is an object, stored as its JSON text.
    const farm = splunkLogger(gateway, HEC_TOKEN, 10)
    farm.logger.send({ message: { temperature: '70F', chickenCount: 500 }, severity: 'info', metadata: { source: 'js-farm', host: 'farm.local' } })
    expect(await farm.flush()).toEqual({ err: null, status: 200, body: { text: 'Success', code: 0 } })
    expect(farm.errors).toEqual([])
    const [stored] = [...(await logsOf(rt.addresses['query-api']!, 'js-farm', 1, READ_KEY)).values()]
    expect(JSON.parse(stored!.message)).toEqual({ temperature: '70F', chickenCount: 500 })
    expect(stored).toMatchObject({ service: 'js-farm', host: 'farm.local', severity_text: 'INFO' })
  })

  it('stores what a Python service logs through splunk_handler, the level read from the formatted line', async () => {
    const python = await pythonVenv('splunk-python', 'test/shippers/splunk-python/requirements.txt')
    const rt = await startSluice([...TARGETS], isolation({ SLUICE_AUTH: 'true', SLUICE_API_KEYS: KEYS }))
    const { hostname, port } = new URL(rt.addresses.gateway!)
    const base = Math.floor(Date.now() / 1000) - 60
    const before = Date.now()
    // Exits 1 when the handler reported any failure (it only prints them).
    const { stdout, stderr } = await run(python, [path.join(REPO_ROOT, 'test/shippers/splunk-python/send_logs.py'), hostname, port, HEC_TOKEN, 'py-billing', String(base)], { timeout: 60_000 })
    const after = Date.now()
    expect(stdout + stderr).toBe('')

    const logs = await logsOf(rt.addresses['query-api']!, 'py-billing', 4, READ_KEY)
    // splunk_handler sends `event` as the formatted line (a string, no severity field): the level
    // is the one the line starts with, read by the enricher.
    expect([...logs.values()].map((l) => [l.message, l.severity_text]).sort()).toEqual([
      ['DEBUG billing.worker: cache warmed with 12 plans', 'DEBUG'],
      ['ERROR billing.worker: payment failed for order o-17', 'ERROR'],
      ['INFO billing.worker: invoice sent', 'INFO'],
      ['WARNING billing.worker: card declined for order o-17', 'WARN'],
    ])
    const resource = { 'com.splunk.source': 'py-billing', 'com.splunk.sourcetype': 'python:app', 'com.splunk.index': 'payments' }
    for (const l of logs.values()) {
      expect(l).toMatchObject({ tenant: TENANT, service: 'py-billing', host: 'py-host-1' })
      // The logger's name, from the line's header (the enricher's): splunk_handler sends no fields.
      expect(l.attributes).toEqual({ component: 'billing.worker' })
      if (!l.message.startsWith('ERROR')) expect(l.resource).toEqual(resource)
    }
    // Per-record overrides (allow_overrides: `_time`, `_sourcetype`), and the handler's own time.time().
    expect(logs.get('DEBUG billing.worker: cache warmed with 12 plans')!.timestamp).toBe(isoNs(base * 1000 + 250))
    expect(logs.get('WARNING billing.worker: card declined for order o-17')!.timestamp).toBe(isoNs(base * 1000 + 1_500))
    const failed = logs.get('ERROR billing.worker: payment failed for order o-17')!
    expect(failed.timestamp).toBe(isoNs(base * 1000 + 2_750))
    expect(failed.resource).toEqual({ ...resource, 'com.splunk.sourcetype': 'python:error' })
    const own = logs.get('INFO billing.worker: invoice sent')!.timestamp
    expect(own >= isoNs(before - 1) && own <= isoNs(after + 1), `${own} within the script's run`).toBe(true)
  })

  it('stores each line of /services/collector/raw with the metadata of the query string', async () => {
    const rt = await startSluice([...TARGETS], isolation())
    const gateway = rt.addresses.gateway!
    expect(await (await fetch(`${gateway}/services/collector/health`)).json()).toEqual({ text: 'HEC is healthy', code: 17 })

    const params = new URLSearchParams({ source: 'raw-nginx', host: 'web-7', sourcetype: 'nginx:error', index: 'web' })
    const lines = ['upstream timed out while reading response header', 'worker process 42 exited on signal 9', 'client closed connection while waiting for request']
    const res = await fetch(`${gateway}/services/collector/raw?${params}`, { method: 'POST', headers: { authorization: 'Splunk any-token' }, body: `${lines[0]}\r\n\n${lines[1]}\n  \n${lines[2]}` })
    expect(await res.json()).toEqual({ text: 'Success', code: 0 })
    expect(res.status).toBe(200)

    const logs = await logsOf(rt.addresses['query-api']!, 'raw-nginx', 3)
    expect([...logs.keys()].sort()).toEqual([...lines].sort())
    for (const l of logs.values()) {
      expect(l).toMatchObject({ service: 'raw-nginx', host: 'web-7', attributes: {} })
      expect(l.resource).toEqual({ 'com.splunk.source': 'raw-nginx', 'com.splunk.sourcetype': 'nginx:error', 'com.splunk.index': 'web' })
    }
  })

  it('answers a batch with an event lacking `event` 400 with code 12 and its number, and stores the others', async () => {
    const rt = await startSluice([...TARGETS], isolation())
    const gateway = rt.addresses.gateway!
    const t = Math.floor(Date.now() / 1000) - 30
    const events = [
      { time: t, host: 'api-1', source: 'hec-mixed', sourcetype: '_json', event: 'first good event' },
      { time: t + 1, host: 'api-1', source: 'hec-mixed' },
      // An object event, read like a /v1/logs record; `fields` are attributes, service.name the service.
      { time: `${t + 2}.125`, host: 'api-2', source: 'orders.log', index: 'main', event: { msg: 'second good event', level: 'warn', order: 'o-9' }, fields: { 'service.name': 'hec-mixed', region: 'eu', tags: ['a', 'b'] } },
    ]
    const res = await fetch(`${gateway}/services/collector/event`, { method: 'POST', body: events.map((e) => JSON.stringify(e)).join('\n') })
    expect(res.status).toBe(400)
    const body = (await res.json()) as Record<string, unknown>
    expect(body).toMatchObject({ code: 12, 'invalid-event-number': 1, accepted: 2, rejected: 1, errors: [{ index: 1, field: 'event' }] })
    expect(body.text).toMatch(/^Event field is required/)

    const logs = await logsOf(rt.addresses['query-api']!, 'hec-mixed', 2)
    const first = logs.get('first good event')!
    expect(first).toMatchObject({ host: 'api-1', severity_text: 'INFO', timestamp: isoNs(t * 1000), attributes: {} })
    expect(first.resource).toEqual({ 'com.splunk.source': 'hec-mixed', 'com.splunk.sourcetype': '_json' })
    const second = logs.get('second good event')!
    expect(second).toMatchObject({ host: 'api-2', severity_text: 'WARN', timestamp: isoNs((t + 2) * 1000 + 125) })
    // fields' service.name is the service (not an attribute), its source only com.splunk.source.
    expect(second.attributes).toEqual({ order: 'o-9', region: 'eu', tags: '["a","b"]' })
    expect(second.resource).toEqual({ 'com.splunk.source': 'orders.log', 'com.splunk.index': 'main' })
  })
})
