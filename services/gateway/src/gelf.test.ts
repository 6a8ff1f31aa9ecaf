// GELF without a broker: a message read into a record, payloads inflated by their first bytes,
// chunks put together, and the three doors (UDP, TCP, POST /gelf) into the real accept path with a
// producer that keeps what Kafka would get. The real clients (go-gelf, Docker's; pygelf) are in
// test/e2e/ingest-gelf.e2e.test.ts.
import { once } from 'node:events'
import dgram from 'node:dgram'
import net from 'node:net'
import { deflateSync, gzipSync } from 'node:zlib'
import { pino } from 'pino'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createRegistry } from '@sluice/observability'
import { loadConfig } from './config.js'
import { GelfChunks } from './gelf-chunks.js'
import type { Incomplete } from './gelf-chunks.js'
import { gelfRecord, inflatePayload, payloadCoding, secondsToNs } from './gelf-message.js'
import { startGelf } from './gelf.js'
import { Validated, createIngest } from './ingest.js'
import type { EventDefaults } from './ingest.js'
import { tenantRule } from './protocol.js'
import { fakeProducer, jsonCodec, routeGateway, decoded } from './test-fakes.js'

const D: EventDefaults = { tenant: 'acme', source: 'gelf', observedNs: 1_764_504_999_000_000_000n }
const record = (m: Record<string, unknown>) => {
  const r = gelfRecord(JSON.stringify(m), 'id-1', D)
  if (!r.ok) throw new Error(r.reason)
  return (r.doc.event instanceof Validated ? r.doc.event.event : r.doc.record) as unknown as Record<string, unknown>
}

describe('GELF messages', () => {
  it('reads the specification fields, additional fields without their underscore, and the time to the nanosecond', () => {
    const r = record({
      version: '1.1',
      host: 'web-7',
      short_message: 'payment declined',
      full_message: 'payment declined\n  at Gateway.charge',
      timestamp: 1764504000.123456,
      level: 3,
      facility: 'payments',
      line: 42,
      file: 'charge.py',
      _service: 'checkout',
      _user_id: 'u-9',
      _amount: 12.5,
      _message: 'an additional field named as a specification one',
      static: 'a field the specification does not name',
      _user: 'u-1',
      user: 'u-2',
    })
    expect(r).toMatchObject({
      tenant: 'acme',
      source: 'gelf',
      message: 'payment declined',
      host: 'web-7',
      service: 'checkout',
      severity_text: 'ERROR',
      timestamp: 1_764_504_000_123_456_000n,
      attributes: { full_message: 'payment declined\n  at Gateway.charge', facility: 'payments', line: '42', file: 'charge.py', user_id: 'u-9', amount: '12.5', _message: 'an additional field named as a specification one', static: 'a field the specification does not name', user: 'u-1', _user: 'u-2' },
    })
    expect(Object.keys(r.attributes as object)).not.toContain('version')
    // A `message` beside short_message, as some clients send their static fields, is `_message`.
    expect(record({ short_message: 'the message', message: 'a static field' })).toMatchObject({ message: 'the message', attributes: { _message: 'a static field' } })
  })

  it("reads each syslog severity as its level, a level name too, and stores no level as INFO; Docker's fields name the service", () => {
    const levels = [0, 1, 2, 3, 4, 5, 6, 7].map((level) => record({ host: 'h', short_message: 'x', level }).severity_text)
    expect(levels).toEqual(['FATAL', 'FATAL', 'FATAL', 'ERROR', 'WARN', 'INFO', 'INFO', 'DEBUG'])
    expect(record({ host: 'h', short_message: 'x', level: '4' }).severity_text).toBe('WARN')
    expect(record({ host: 'h', short_message: 'x', level: 'warning' }).severity_text).toBe('WARN')
    expect(record({ host: 'h', short_message: 'x' })).toMatchObject({ severity_text: 'INFO', timestamp: D.observedNs })
    // What Docker's gelf driver adds to each line.
    const docker = record({ host: 'node-1', short_message: 'GET /health 200', level: 6, _container_name: 'api-1', _container_id: 'c0ffee', _image_name: 'shop/api:1.4', _command: 'node server.js', _tag: 'c0ffee', _created: '2026-12-07T10:00:00Z' })
    expect(docker).toMatchObject({ service: 'api-1', host: 'node-1', attributes: { container_id: 'c0ffee', image_name: 'shop/api:1.4', tag: 'c0ffee' } })
  })

  it('refuses what is no GELF message, naming why', () => {
    const reason = (text: string) => {
      const r = gelfRecord(text, 'id', D)
      return r.ok ? 'accepted' : r.reason
    }
    expect(reason('{"host":"h"}')).toBe('short_message: required, text that is not empty')
    expect(reason('{"host":"h","short_message":"  "}')).toBe('short_message: required, text that is not empty')
    expect(reason('{"host":"h","short_message":7}')).toBe('short_message: required, text that is not empty')
    expect(reason('[1]')).toBe('a GELF message is a JSON object, not an array')
    expect(reason('{"short_message":')).toMatch(/^not JSON: /)
    expect(reason('{"short_message":"x","timestamp":"noon"}')).toMatch(/^timestamp: expected seconds since the epoch/)
    expect(reason('{"short_message":"x","timestamp":-5}')).toMatch(/^timestamp: /)
    expect(reason('{"short_message":"x","timestamp":4102444800}')).toMatch(/^timestamp: .*before 2096/)
  })

  it('reads seconds as a number to the microsecond, as text to the nanosecond', () => {
    expect(secondsToNs(1764504000.123)).toBe(1_764_504_000_123_000_000n)
    // Python's time.time(): the double nearest to ….1234567, read to the microsecond.
    expect(secondsToNs(1764504000.1234567)).toBe(1_764_504_000_123_457_000n)
    expect(secondsToNs(-1)).toBeUndefined()
    expect(secondsToNs('1764504000.123456789')).toBe(1_764_504_000_123_456_789n)
    expect(secondsToNs('1764504000.1234567891')).toBe(1_764_504_000_123_456_789n)
    expect(secondsToNs(1764504000)).toBe(1_764_504_000_000_000_000n)
    expect([secondsToNs(1e21), secondsToNs(Number.NaN), secondsToNs(''), secondsToNs(true)]).toEqual([undefined, undefined, undefined, undefined])
  })

  it('inflates gzip and zlib by their first bytes, passes plain JSON, and bounds what they inflate to', () => {
    const json = Buffer.from('{"short_message":"x","host":"h"}')
    expect([payloadCoding(gzipSync(json)), payloadCoding(deflateSync(json)), payloadCoding(json)]).toEqual(['gzip', 'zlib', 'none'])
    for (const b of [gzipSync(json), deflateSync(json), json]) expect(inflatePayload(b, 1000)).toEqual({ ok: true, bytes: json })
    expect(inflatePayload(gzipSync(Buffer.alloc(5000)), 1000)).toEqual({ ok: false, reason: 'inflates to more than 1000 bytes (GATEWAY_MAX_RECORD_BYTES)' })
    expect(inflatePayload(Buffer.from([0x1f, 0x8b, 1, 2, 3]), 1000)).toMatchObject({ ok: false, reason: expect.stringMatching(/^gzip that does not inflate/) })
  })
})

/** A message's chunks as the specification lays them out: magic, 8-byte id, sequence, count. */
function chunked(payload: Buffer, size: number, id = Buffer.from('0123456789abcdef', 'hex')): Buffer[] {
  const parts: Buffer[] = []
  for (let at = 0; at < payload.length; at += size) parts.push(payload.subarray(at, at + size))
  return parts.map((p, i) => Buffer.concat([Buffer.from([0x1e, 0x0f]), id, Buffer.from([i, parts.length]), p]))
}

describe('GELF chunks', () => {
  const opts = { waitMs: 1000, maxHeldBytes: 10_000, maxMessages: 4 }

  it('puts a message together from its chunks in any order, a chunk that came twice taken once', () => {
    const c = new GelfChunks(opts)
    const payload = Buffer.from('x'.repeat(250))
    const [a, b, d] = chunked(payload, 100)
    const dropped: Incomplete[] = []
    expect(c.take(d!, 'udp 1', (m) => void dropped.push(m))).toEqual({ held: true })
    expect(c.take(a!, 'udp 1', (m) => void dropped.push(m))).toEqual({ held: true })
    expect(c.take(a!, 'udp 1', (m) => void dropped.push(m))).toEqual({ held: true })
    // The same id from another sender is another message.
    expect(c.take(b!, 'udp 2', (m) => void dropped.push(m))).toEqual({ held: true })
    expect(c.take(b!, 'udp 1', (m) => void dropped.push(m))).toEqual({ whole: payload })
    expect(c.size).toBe(1)
    expect(dropped).toEqual([])
    const plain = Buffer.from('{"short_message":"x"}')
    expect(c.take(plain, 'udp 1', () => {})).toEqual({ whole: plain })
  })

  it('refuses chunks that cannot be read, drops a message whose chunks do not come in time, and bounds what waits', () => {
    let now = 0
    const c = new GelfChunks(opts, () => now)
    const head = (seq: number, count: number, id = 1) => Buffer.from([0x1e, 0x0f, 0, 0, 0, 0, 0, 0, 0, id, seq, count, 0x41])
    expect(c.take(Buffer.from([0x1e, 0x0f, 1, 2]), 'u', () => {})).toEqual({ problem: 'a chunk of 4 bytes: its header alone is 12' })
    expect(c.take(head(0, 0), 'u', () => {})).toEqual({ problem: 'message 0000000000000001: a chunk count of 0 (1 to 128)' })
    expect(c.take(head(0, 129), 'u', () => {})).toEqual({ problem: 'message 0000000000000001: a chunk count of 129 (1 to 128)' })
    expect(c.take(head(3, 3), 'u', () => {})).toEqual({ problem: 'message 0000000000000001: chunk 3 of 3 (numbered from 0)' })
    c.take(head(0, 3), 'u', () => {})
    expect(c.take(head(1, 4), 'u', () => {})).toEqual({ problem: 'message 0000000000000001: chunks say 3 and 4 chunks' })
    expect(c.size).toBe(0)

    c.take(head(0, 2, 1), 'u', () => {})
    now = 600
    c.take(head(0, 2, 2), 'u', () => {})
    now = 1000
    expect(c.expired()).toEqual([{ from: 'u', detail: 'message 0000000000000001: 1 of 2 chunks came within 1000 ms' }])
    expect(c.size).toBe(1)
    const dropped: Incomplete[] = []
    for (let id = 3; id <= 6; id++) c.take(head(0, 2, id), 'u', (m) => void dropped.push(m))
    expect(dropped.map((m) => m.detail)).toEqual([expect.stringMatching(/^message 0000000000000002: 1 of 2 chunks came before 4 messages/)])
    expect(c.expired(true)).toHaveLength(4)
  })
})

/** The GELF listeners on free ports into the real accept path; `stored()`: what Kafka would hold. */
async function listeners(env: Record<string, string> = {}, chunkWaitMs = 5000) {
  const probe = net.createServer().listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const port = (probe.address() as net.AddressInfo).port
  probe.close()
  await once(probe, 'close')
  const config = loadConfig({ TOPIC_LOGS_RAW: 'raw', HOST: '127.0.0.1', GELF_TCP_PORT: String(port), GELF_UDP_PORT: String(port), ...env })
  const producer = fakeProducer()
  const registry = createRegistry({ defaultMetrics: false })
  const ingest = createIngest(config, { producer, codec: jsonCodec, registry })
  const lines: Array<Record<string, unknown>> = []
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) })
  const l = await startGelf({ config, ingest, log, registry, tenantOf: tenantRule(config) }, { chunkWaitMs })
  onTestFinished(() => l.close())
  return { l, port, lines, registry, stored: () => producer.sent.flatMap((s) => s.messages.map(decoded)) }
}

async function until(what: string, ok: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

describe('GELF listeners', () => {
  const msg = (short: string, extra: Record<string, unknown> = {}) => Buffer.from(JSON.stringify({ version: '1.1', host: 'h1', short_message: short, timestamp: 1764504000.5, level: 6, ...extra }))

  it('stores UDP datagrams plain, gzip and zlib, and a chunked message, under GELF_TENANT; drops what does not read, counted', async () => {
    const { l, port, stored, registry } = await listeners({ GELF_TENANT: 'docker' })
    const client = dgram.createSocket('udp4')
    onTestFinished(() => void client.close())
    const send = (b: Buffer) => new Promise<void>((resolve, reject) => client.send(b, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())))
    await send(msg('plain'))
    await send(gzipSync(msg('gzip')))
    await send(deflateSync(msg('zlib')))
    const big = gzipSync(msg('chunked', { _payload: Array.from({ length: 3000 }, (_, i) => i.toString(36)).join(',') }))
    const parts = chunked(big, 1000)
    expect(parts.length).toBeGreaterThan(3)
    for (const p of parts.reverse()) await send(p)
    await send(Buffer.from('{"host":"h1"}'))
    await send(Buffer.from([0x78, 0x9c, 0, 0]))
    await until('four records', () => stored().length === 4)
    expect(stored().map((r) => r.message).sort()).toEqual(['chunked', 'gzip', 'plain', 'zlib'])
    expect(stored()[0]).toMatchObject({ tenant: 'docker', source: 'gelf', host: 'h1', timestamp: '1764504000500000000' })
    await until('two drops', () => l.counts().dropped.invalid === 2)
    expect(l.counts()).toMatchObject({ received: { udp: 6 }, accepted: 4 })
    expect(await registry.metrics()).toContain('sluice_gateway_gelf_messages_dropped_total{reason="invalid"} 2')
  })

  it('drops a chunked message whose chunks do not all come in time', async () => {
    const { l, port, stored, lines } = await listeners({}, 100)
    const client = dgram.createSocket('udp4')
    onTestFinished(() => void client.close())
    const [first] = chunked(msg('never whole'), 10)
    client.send(first!, port, '127.0.0.1')
    await until('the drop', () => l.counts().dropped.incomplete === 1, 3000)
    expect(stored()).toEqual([])
    expect(lines.some((x) => String(x.msg).startsWith('gelf: 1 dropped (incomplete)') && String(x.msg).includes('1 of'))).toBe(true)
  })

  it('stores TCP frames ended by NUL bytes, in order, and drops a frame that is no GELF alone', async () => {
    const { l, port, stored } = await listeners()
    const socket = net.connect(port, '127.0.0.1')
    await once(socket, 'connect')
    onTestFinished(() => void socket.destroy())
    socket.end(Buffer.concat([msg('one'), Buffer.from([0]), Buffer.from('not json'), Buffer.from([0]), msg('two'), Buffer.from([0]), msg('three'), Buffer.from([0])]))
    await until('three records', () => stored().length === 3)
    expect(stored().map((r) => r.message)).toEqual(['one', 'two', 'three'])
    expect(l.counts()).toMatchObject({ received: { tcp: 4 }, dropped: { invalid: 1 } })
  })
})

describe('POST /gelf', () => {
  const body = (short: string, extra: Record<string, unknown> = {}) => JSON.stringify({ version: '1.1', host: 'h2', short_message: short, level: 4, ...extra })

  it('stores a message, plain or compressed whatever Content-Encoding says, 202 with no body', async () => {
    const g = routeGateway()
    const plain = await g.app.inject({ method: 'POST', url: '/gelf', payload: body('plain') })
    expect([plain.statusCode, plain.body]).toEqual([202, ''])
    // pygelf's GelfHttpHandler: a zlib body labelled `gzip,deflate`, no Content-Type.
    const zlib = await g.app.inject({ method: 'POST', url: '/gelf', payload: deflateSync(body('zlib')), headers: { 'content-encoding': 'gzip,deflate' } })
    expect(zlib.statusCode).toBe(202)
    const gz = await g.app.inject({ method: 'POST', url: '/gelf', payload: gzipSync(body('gzip')), headers: { 'content-encoding': 'gzip', 'content-type': 'application/json' } })
    expect(gz.statusCode).toBe(202)
    expect(g.events().map((e) => [e.message, e.severity_text, e.host, e.source, e.tenant])).toEqual([
      ['plain', 'WARN', 'h2', 'http', 'default'],
      ['zlib', 'WARN', 'h2', 'http', 'default'],
      ['gzip', 'WARN', 'h2', 'http', 'default'],
    ])
  })

  it('stores messages one per line, and answers 400 naming each refused one while the others are stored', async () => {
    const g = routeGateway()
    const res = await g.app.inject({ method: 'POST', url: '/gelf', headers: { 'x-scope-orgid': 'team-a' }, payload: [body('first'), '{"host":"h2"}', '', body('third', { timestamp: 'noon' }), body('fourth')].join('\n') })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toMatchObject({
      error: 'VALIDATION_FAILED',
      message: 'message 1: short_message: required, text that is not empty (and 1 more)',
      accepted: 2,
      rejected: 2,
      errors: [
        { index: 1, message: 'short_message: required, text that is not empty' },
        { index: 2, message: expect.stringMatching(/^timestamp: expected seconds/) },
      ],
    })
    expect(g.events().map((e) => [e.message, e.tenant])).toEqual([['first', 'team-a'], ['fourth', 'team-a']])
  })

  it('answers 400 to a body that is empty, does not inflate or is no UTF-8', async () => {
    const g = routeGateway()
    const ask = async (payload: Buffer | string) => {
      const r = await g.app.inject({ method: 'POST', url: '/gelf', payload })
      return [r.statusCode, (r.json() as { message: string }).message]
    }
    expect(await ask('')).toEqual([400, 'empty body: send a GELF message (JSON)'])
    expect(await ask(Buffer.from([0x1f, 0x8b, 0, 1]))).toEqual([400, expect.stringMatching(/^the body is gzip that does not inflate/)])
    expect(await ask(Buffer.from([0x7b, 0xff, 0x7d]))).toEqual([400, expect.stringMatching(/^the body is .*UTF-8/)])
    expect(await ask('\n\n')).toEqual([400, 'no GELF message in the body'])
    expect(g.events()).toEqual([])
    const get = await g.app.inject({ method: 'GET', url: '/gelf' })
    expect([get.statusCode, get.headers.allow]).toEqual([405, 'POST'])
  })
})
