// Real Loki clients → gateway's Loki push API → Kafka → enricher → ClickHouse → query API:
// winston-loki (snappy protobuf, its default, and its JSON mode with structured metadata) and
// pino-loki (a pino transport on a worker thread, JSON with structured metadata), each pointed at
// the gateway as at a Loki, with labels and a tenant. Asserted: every record as stored.
import { once } from 'node:events'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import winston from 'winston'
import LokiTransport from 'winston-loki'
import type { StoredLog } from '../infra/logs.js'
import { isolation, startSluice, waitFor } from '../infra/sluice.js'

/** The tenant's stored logs of `service`, oldest first, once there are `n` of them. */
function stored(q: string, tenant: string, service: string, n: number): Promise<StoredLog[]> {
  return waitFor(`${n} ${service} logs of ${tenant}`, async () => {
    const res = await fetch(`${q}/v1/logs?tenant=${tenant}&service=${service}&limit=100`)
    const { logs } = (await res.json()) as { logs: StoredLog[] }
    return logs.length >= n ? logs.reverse() : undefined
  })
}

// Recent event times (older ones would fall outside the table's TTL), whole milliseconds since
// both clients send millisecond clocks.
const BASE_MS = Math.floor(Date.now() / 1000) * 1000 - 3_600_000
const iso = (ms: number) => new Date(ms).toISOString().replace('Z', '000000Z')

function winstonLoki(host: string, json: boolean, labels: Record<string, string>) {
  const errors: unknown[] = []
  const transport = new LokiTransport({
    host,
    json,
    labels,
    headers: { 'X-Scope-OrgID': 'acme' },
    // Sent by close(): one push holding every stream.
    interval: 3600,
    replaceTimestamp: false,
    gracefulShutdown: false,
    format: winston.format.printf((info) => String(info.message)),
    onConnectionError: (err) => errors.push(err),
  })
  const logger = winston.createLogger({ level: 'debug', transports: [transport] })
  /** Every log handed to the transport, then its batch pushed. */
  const flush = async () => {
    logger.end()
    await once(logger, 'finish')
    await transport.close()
  }
  return { logger, flush, errors }
}

describe('Loki push end to end', () => {
  it('stores what winston-loki sends as snappy protobuf and as JSON', async () => {
    const rt = await startSluice(['gateway', 'enricher', 'clickhouse-sink', 'query-api'], isolation())
    const gw = rt.addresses.gateway!
    const q = rt.addresses['query-api']!

    const proto = winstonLoki(gw, false, { app: 'checkout', job: 'shop', hostname: 'web-1' })
    proto.logger.info('order placed', { timestamp: new Date(BASE_MS + 1).toISOString() })
    proto.logger.warn('payment slow', { timestamp: new Date(BASE_MS + 2).toISOString(), labels: { region: 'eu-west-1' } })
    proto.logger.error('payment failed', { timestamp: new Date(BASE_MS + 3).toISOString() })
    await proto.flush()
    expect(proto.errors).toEqual([])

    const json = winstonLoki(gw, true, { app: 'cart', job: 'shop' })
    json.logger.debug('cart loaded', { timestamp: new Date(BASE_MS + 4).toISOString(), cart_id: 'c-9', items: 3 })
    json.logger.info('cart saved', { timestamp: new Date(BASE_MS + 5).toISOString(), trace_id: '4bf92f3577b34da6a3ce929d0e0e4736' })
    await json.flush()
    expect(json.errors).toEqual([])

    // No attributes: the protobuf path carries no structured metadata from winston-loki (its JSON
    // mode, and a silent fallback to it when snappy cannot load, would send winston's level there).
    const checkout = await stored(q, 'acme', 'checkout', 3)
    expect(checkout).toEqual([
      expect.objectContaining({ tenant: 'acme', service: 'checkout', host: 'web-1', severity_text: 'INFO', message: 'order placed', timestamp: iso(BASE_MS + 1), resource: { job: 'shop' }, attributes: {}, source: 'http' }),
      expect.objectContaining({ service: 'checkout', host: 'web-1', severity_text: 'WARN', message: 'payment slow', timestamp: iso(BASE_MS + 2), resource: { job: 'shop', region: 'eu-west-1' } }),
      expect.objectContaining({ service: 'checkout', severity_text: 'ERROR', message: 'payment failed', timestamp: iso(BASE_MS + 3), resource: { job: 'shop' } }),
    ])
    // winston-loki's JSON mode sends the rest of winston's info (level included) as structured metadata.
    const cart = await stored(q, 'acme', 'cart', 2)
    expect(cart).toEqual([
      expect.objectContaining({ tenant: 'acme', service: 'cart', host: null, severity_text: 'DEBUG', message: 'cart loaded', timestamp: iso(BASE_MS + 4), resource: { job: 'shop' }, attributes: { level: 'debug', cart_id: 'c-9', items: '3' } }),
      expect.objectContaining({ service: 'cart', severity_text: 'INFO', message: 'cart saved', timestamp: iso(BASE_MS + 5), trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', attributes: { level: 'info' } }),
    ])
    // Nothing went to the default tenant.
    const res = await fetch(`${q}/v1/logs?tenant=default`)
    expect(((await res.json()) as { logs: unknown[] }).logs).toEqual([])
  })

  it('stores what pino-loki sends from a pino transport', async () => {
    const rt = await startSluice(['gateway', 'enricher', 'clickhouse-sink', 'query-api'], isolation())
    const gw = rt.addresses.gateway!
    const q = rt.addresses['query-api']!

    let now = 0
    const transport = pino.transport({
      target: 'pino-loki',
      options: {
        host: gw,
        labels: { app: 'billing', job: 'workers' },
        headers: { 'X-Scope-OrgID': 'acme' },
        // Pushed every 200 ms, so all three go before the transport ends: ending blocks this thread
        // (pino's thread-stream waits for the worker), and the gateway answers from this thread too.
        batching: { interval: 0.2 },
        structuredMetaKey: 'meta',
      },
    })
    const logger = pino({ level: 'debug', base: { hostname: 'worker-7' }, timestamp: () => `,"time":${now}` }, transport)
    now = BASE_MS + 10
    logger.debug('invoice drafted')
    now = BASE_MS + 11
    logger.warn({ meta: { invoice: 'inv-1', amount: 12.5 } }, 'card declined')
    now = BASE_MS + 12
    logger.fatal('ledger unavailable')
    const billing = await stored(q, 'acme', 'billing', 3)
    transport.end()
    await once(transport, 'close')
    // pino-loki ships the JSON line (without hostname, which is a label) and names pino's levels.
    // (The enricher adds the line's JSON fields to the attributes: only the metadata is asserted.)
    const line = (time: number, level: number, msg: string, extra = '') => `{"level":${level},"time":${time}${extra},"msg":"${msg}"}`
    expect(billing).toEqual([
      expect.objectContaining({ tenant: 'acme', service: 'billing', host: 'worker-7', severity_text: 'DEBUG', message: line(BASE_MS + 10, 20, 'invoice drafted'), timestamp: iso(BASE_MS + 10), resource: { job: 'workers' }, source: 'http' }),
      expect.objectContaining({ severity_text: 'WARN', message: line(BASE_MS + 11, 40, 'card declined', ',"meta":{"invoice":"inv-1","amount":12.5}'), timestamp: iso(BASE_MS + 11), attributes: expect.objectContaining({ invoice: 'inv-1', amount: '12.5' }) }),
      expect.objectContaining({ severity_text: 'FATAL', message: line(BASE_MS + 12, 60, 'ledger unavailable'), timestamp: iso(BASE_MS + 12) }),
    ])
  })

  it('stores the good entries of a partly bad push and tells the client which were refused', async () => {
    const rt = await startSluice(['gateway', 'enricher', 'clickhouse-sink', 'query-api'], isolation())
    const q = rt.addresses['query-api']!
    const ns = (ms: number) => `${ms}000000`
    const res = await fetch(`${rt.addresses.gateway}/loki/api/v1/push`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-scope-orgid': 'acme' },
      body: JSON.stringify({
        streams: [
          { stream: { app: 'mixed', level: 'error' }, values: [[ns(BASE_MS + 20), 'kept'], ['yesterday', 'bad time']] },
          { stream: {}, values: [[ns(BASE_MS + 21), 'no labels']] },
        ],
      }),
    })
    expect(res.status).toBe(400)
    expect(await res.text()).toBe(
      [
        'stream 0 {app="mixed", level="error"}, entry 1: timestamp: expected a string of Unix epoch nanoseconds up to 3976214400000000000, got "yesterday"',
        'stream 1 {}: error at least one label pair is required per stream (1 entry refused)',
        '2 of 3 entries refused; 1 stored',
        '',
      ].join('\n'),
    )
    const [kept] = await stored(q, 'acme', 'mixed', 1)
    expect(kept).toMatchObject({ service: 'mixed', severity_text: 'ERROR', message: 'kept', timestamp: iso(BASE_MS + 20) })
    // Give a wrongly accepted entry time to arrive before asserting its absence.
    await new Promise((r) => setTimeout(r, 1000))
    expect(await stored(q, 'acme', 'mixed', 1)).toHaveLength(1)
  })
})
