// The Fluentd forward protocol without a broker: the stream cut into messages wherever it is cut,
// the four message modes read as the specification writes them, and the listener on a real socket
// with a fake accept path (to see acknowledgements wait for Kafka and the handshake) and with the
// real one (to see records as stored), sent to by fluent-logger, the protocol's Node client, in each
// of its modes.
import { once } from 'node:events'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import { Decoder, encode } from '@msgpack/msgpack'
import fluent from 'fluent-logger'
import { pino } from 'pino'
import { describe, expect, it, onTestFinished } from 'vitest'
import { SluiceError } from '@sluice/core'
import { createRegistry } from '@sluice/observability'
import { loadConfig } from './config.js'
import { startForward } from './forward.js'
import { ForwardFramer } from './forward-framing.js'
import type { ForwardFrameRefusal } from './forward-framing.js'
import { eventTimeBytes, readMessage } from './forward-messages.js'
import { createIngest } from './ingest.js'
import type { Ingest } from './ingest.js'
import { tenantRule } from './protocol.js'
import { decoded, fakeIngest, fakeProducer, jsonCodec } from './test-fakes.js'

/** An EventTime as MessagePack writes it: fixext 8, type 0. */
const eventTime = (ns: bigint) => Buffer.concat([Buffer.from([0xd7, 0x00]), eventTimeBytes(ns)])
/** MessagePack of `v`, with Raw pieces spliced in as they are (for EventTimes). */
class Raw {
  constructor(readonly bytes: Buffer) {}
}
function pack(v: unknown): Buffer {
  if (v instanceof Raw) return v.bytes
  if (Array.isArray(v)) {
    const head = v.length < 16 ? Buffer.from([0x90 + v.length]) : Buffer.from([0xdc, v.length >> 8, v.length & 0xff])
    return Buffer.concat([head, ...v.map(pack)])
  }
  return Buffer.from(encode(v))
}
const T0 = 1_764_504_000_123_456_789n

// ---------------------------------------------------------------------------------------------
// Framing

function framer(max = 1000) {
  const messages: Buffer[] = []
  const refused: ForwardFrameRefusal[] = []
  const f = new ForwardFramer(max, { message: (b) => void messages.push(Buffer.from(b)), refused: (r) => void refused.push(r) })
  return { f, messages, refused }
}

function feed(stream: Buffer, cuts: number[], max?: number) {
  const t = framer(max)
  let from = 0
  for (const at of [...cuts, stream.length]) {
    if (at > from) t.f.push(stream.subarray(from, at))
    from = at
  }
  return t
}

describe('forward framing', () => {
  const a = pack(['app.web', Buffer.alloc(300, 0x90), { chunk: 'c1' }])
  const b = pack(['app.db', new Raw(eventTime(T0)), { message: 'x'.repeat(40), n: 70_000, f: 1.5, neg: -3, nil: null, yes: true }])
  const c = pack(['app.web', [[1, { log: 'a' }], [2, { log: 'b' }]]])

  it('cuts messages back to back wherever the stream is cut', () => {
    const stream = Buffer.concat([a, b, c])
    const results = [feed(stream, Array.from({ length: stream.length }, (_, i) => i + 1))]
    for (let i = 0; i <= stream.length; i++) results.push(feed(stream, [i]))
    for (const r of results) {
      expect(r.messages).toEqual([a, b, c])
      expect(r.refused).toEqual([])
      expect(r.f.buffered).toBe(0)
    }
  })

  it('drops a message over the limit as its bytes come, and reads the next one', () => {
    const big = pack(['app.web', Buffer.alloc(5000, 1), { chunk: 'c2' }])
    const stream = Buffer.concat([b, big, c])
    for (const cut of [1, 7, 64, 1000]) {
      const r = feed(stream, Array.from({ length: Math.ceil(stream.length / cut) }, (_, i) => (i + 1) * cut).filter((x) => x < stream.length), 1000)
      expect(r.messages).toEqual([b, c])
      expect(r.refused).toEqual(['too_large'])
      expect(r.f.buffered).toBe(0)
    }
  })

  it('drops a message whose header claims more objects than the limit has bytes', () => {
    const claim = Buffer.from([0xdd, 0x00, 0x10, 0x00, 0x00]) // an array of 1 Mi elements, none sent
    const r = feed(Buffer.concat([claim, Buffer.alloc(50, 0x01)]), [], 1000)
    expect(r.refused).toEqual(['too_large'])
    expect(r.messages).toEqual([])
  })

  it('stops at a byte that is no MessagePack, having handed on what came before', () => {
    const r = feed(Buffer.concat([c, Buffer.from([0xc1]), c]), [])
    expect(r.messages).toEqual([c])
    expect(r.refused).toEqual(['malformed'])
    expect(r.f.broken).toBe(true)
  })
})

// ---------------------------------------------------------------------------------------------
// Messages

const LIMITS = { maxEntriesBytes: 1 << 20 }
const read = (v: unknown) => readMessage(pack(v), LIMITS)

describe('forward messages', () => {
  it('reads the Message mode, its time as EventTime or seconds, options only after the record', () => {
    expect(read(['a', new Raw(eventTime(T0)), { log: 'x' }, { chunk: 'k' }])).toEqual({ ok: true, tag: 'a', events: [{ timeNs: T0, record: { log: 'x' } }], refused: [], option: { chunk: 'k' } })
    // A record with a `chunk` field is a record, not options.
    expect(read(['a', 1_764_504_000, { chunk: 'mine' }])).toEqual({ ok: true, tag: 'a', events: [{ timeNs: 1_764_504_000_000_000_000n, record: { chunk: 'mine' } }], refused: [], option: {} })
    expect(read(['a', 1_764_504_000.25, { m: 1 }])).toMatchObject({ events: [{ timeNs: 1_764_504_000_250_000_000n }] })
  })

  it('reads the Forward mode, refusing only the entries that are no [time, record]', () => {
    const m = read(['a', [[1, { m: 1 }], ['noon', { m: 2 }], [3, 'text'], 4, [new Raw(eventTime(T0)), { m: 5 }]], { chunk: 'k', size: 5 }])
    expect(m).toEqual({
      ok: true,
      tag: 'a',
      events: [
        { timeNs: 1_000_000_000n, record: { m: 1 } },
        { timeNs: T0, record: { m: 5 } },
      ],
      refused: ['entry 1: the time is no EventTime or whole seconds', 'entry 2: the record is no map', 'entry 3 is no [time, record] array'],
      option: { chunk: 'k' },
    })
  })

  it("reads Fluent Bit's entries with metadata, [[time, metadata], record], and refuses its metrics and traces", () => {
    const traceId = Buffer.from('5b8efff798038103d269b633813fc60c', 'hex')
    const entries = Buffer.concat([
      pack([[new Raw(eventTime(T0)), {}], { log: 'plain' }]),
      pack([[new Raw(eventTime(T0)), { otlp: { trace_id: traceId, severity_text: 'WARN' } }], { log: 'with metadata' }]),
    ])
    expect(read(['fb', entries, { chunk: 'k', size: 2, fluent_signal: 0 }])).toMatchObject({
      ok: true,
      events: [
        { timeNs: T0, record: { log: 'plain' } },
        { timeNs: T0, record: { log: 'with metadata', 'fluent.metadata': { otlp: { trace_id: '5b8efff798038103d269b633813fc60c', severity_text: 'WARN' } } } },
      ],
      refused: [],
    })
    const m = read(['fb', entries, { chunk: 'k' }])
    // Empty metadata adds nothing.
    expect(m.ok && m.events[0]!.record).toEqual({ log: 'plain' })
    expect(read(['fb', entries, { chunk: 'm', fluent_signal: 1 }])).toEqual({ ok: false, reason: "a message of Fluent Bit's signal 1 (metrics): Sluice stores logs", option: { chunk: 'm', signal: 1 } })
  })

  it('reads PackedForward entries as bin or str, and CompressedPackedForward of several gzip members', () => {
    const entries = [pack([new Raw(eventTime(T0)), { log: 'one' }]), pack([5, { log: 'two', nested: { k: new Uint8Array([104, 105]) } }])]
    const expected = [
      { timeNs: T0, record: { log: 'one' } },
      { timeNs: 5_000_000_000n, record: { log: 'two', nested: { k: 'hi' } } },
    ]
    expect(read(['a', Buffer.concat(entries), { chunk: 'k' }])).toMatchObject({ ok: true, events: expected, refused: [] })
    expect(readMessage(Buffer.concat([Buffer.from([0x93, 0xa1, 0x61, 0xd9, Buffer.concat(entries).length]), Buffer.concat(entries), pack({})]), LIMITS)).toMatchObject({ ok: true, events: expected })
    const gz = Buffer.concat(entries.map((e) => gzipSync(e)))
    expect(read(['a', gz, { compressed: 'gzip', chunk: 'z' }])).toMatchObject({ ok: true, events: expected, option: { chunk: 'z', compressed: 'gzip' } })
  })

  it('reads a `__proto__` key as `__proto_`, a field, never a prototype', () => {
    const record = JSON.parse('{"log":"x","__proto__":{"polluted":1}}') as Record<string, unknown>
    const m = read(['a', 1, record])
    expect(m).toMatchObject({ ok: true, events: [{ record: { log: 'x', __proto_: { polluted: 1 } } }] })
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('keeps the entries before bytes that do not read, and refuses what cannot be read', () => {
    const good = pack([1, { log: 'one' }])
    // An entry cut short: an array of two with one element.
    expect(read(['a', Buffer.concat([good, Buffer.from([0x92, 0x01])])])).toMatchObject({ ok: true, events: [{ record: { log: 'one' } }], refused: [expect.stringMatching(/^entry 1 and after: not MessagePack/)] })
    expect(read(['a', Buffer.from('not gzip'), { compressed: 'gzip', chunk: 'k' }])).toEqual({ ok: false, reason: expect.stringMatching(/^the entries are no gzip/), option: { chunk: 'k', compressed: 'gzip' } })
    expect(readMessage(pack(['a', gzipSync(Buffer.alloc(10_000)), { compressed: 'gzip' }]), { maxEntriesBytes: 1000 })).toMatchObject({ ok: false, reason: 'the entries inflate to more than 1000 bytes (GATEWAY_MAX_BODY_BYTES)' })
    expect(read(['a', Buffer.alloc(1), { compressed: 'zstd' }])).toMatchObject({ ok: false, reason: 'entries compressed as "zstd": Sluice reads gzip' })
    expect(read({ tag: 'a' })).toMatchObject({ ok: false, reason: 'a message is an array [tag, …]' })
    expect(read([7, [], { chunk: 'k' }])).toEqual({ ok: false, reason: 'a message starts with its tag, a string', option: { chunk: 'k' } })
    expect(read(['a', 5])).toMatchObject({ ok: false, reason: 'a Message is [tag, time, record, option?]' })
    expect(readMessage(Buffer.from([0xd7, 0x00, 1, 2]), LIMITS)).toMatchObject({ ok: false, reason: expect.stringMatching(/^not MessagePack/) })
  })
})

// ---------------------------------------------------------------------------------------------
// The listener

/** The real accept path into a producer that keeps what Kafka would get (JSON instead of Avro). */
function realIngest() {
  const producer = fakeProducer()
  const ingest = createIngest(loadConfig({ TOPIC_LOGS_RAW: 'raw' }), { producer, codec: jsonCodec, registry: createRegistry({ defaultMetrics: false }) })
  return { ingest, stored: () => producer.sent.flatMap((s) => s.messages.map(decoded)) }
}

async function listener(ingest: Ingest, env: Record<string, string> = {}, opts?: { handshakeTimeoutMs: number }) {
  const config = loadConfig({ TOPIC_LOGS_RAW: 'raw', HOST: '127.0.0.1', FORWARD_PORT: '0', ...env })
  const lines: Array<Record<string, unknown>> = []
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) })
  // Port 0 switches the listener off: the tests take a free port first, unless they set it 0.
  let port = 0
  if (env.FORWARD_PORT !== '0') {
    const probe = net.createServer().listen(0, '127.0.0.1')
    await once(probe, 'listening')
    port = (probe.address() as net.AddressInfo).port
    probe.close()
    await once(probe, 'close')
  }
  const l = (await startForward({ config: { ...config, forwardPort: port }, ingest, log, registry: createRegistry({ defaultMetrics: false }), tenantOf: tenantRule(config) }, opts))!
  onTestFinished(() => l.close())
  return { l, port, lines }
}

/** A raw connection, and the MessagePack objects the listener wrote back on it. */
async function connect(port: number) {
  const socket = net.connect(port, '127.0.0.1')
  await once(socket, 'connect')
  onTestFinished(() => void socket.destroy())
  const replies: unknown[] = []
  const decoder = new Decoder()
  void (async () => {
    for await (const r of decoder.decodeStream(socket as AsyncIterable<Uint8Array>)) replies.push(r)
  })().catch(() => {})
  let closed = false
  socket.on('close', () => (closed = true))
  return { socket, replies, closed: () => closed }
}

async function until(what: string, ok: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

type FluentSender = ReturnType<typeof fluent.createFluentSender>
// fluent-logger's types miss these two: EventTime's constructor and end() without arguments.
const EventTime = fluent.EventTime as unknown as new (seconds: number, nanoseconds: number) => object
const ended = (s: FluentSender) => onTestFinished(() => (s as unknown as { end(): void }).end())
const emit = (s: FluentSender, label: string, data: Record<string, unknown>, time?: unknown) =>
  new Promise<void>((resolve, reject) => (time === undefined ? s.emit(label, data, (err?: Error) => (err ? reject(err) : resolve())) : s.emit(label, data, time as number, (err?: Error) => (err ? reject(err) : resolve()))))

describe('forward listener', () => {
  it('answers {ack: chunk} once Kafka took the events, in the order the messages came', async () => {
    const f = fakeIngest()
    const { l, port } = await listener(f.ingest)
    const c = await connect(port)
    f.hold()
    c.socket.write(pack(['a', 1, { log: 'one' }, { chunk: 'c1' }]))
    c.socket.write(pack(['a', [[2, { log: 'two' }], [3, { log: 'three' }]], { chunk: 'c2' }]))
    await new Promise((r) => setTimeout(r, 100))
    expect(c.replies).toEqual([])
    f.release()
    await until('two acks', () => c.replies.length === 2)
    expect(c.replies).toEqual([{ ack: 'c1' }, { ack: 'c2' }])
    expect(f.batches.flatMap((b) => b.events.map((e) => e.message))).toEqual(['one', 'two', 'three'])
    expect(l.counts()).toMatchObject({ messages: 2, events: 3, accepted: 3 })
  })

  it('acknowledges what a sender sent before ending its side, then ends the connection', async () => {
    const f = fakeIngest()
    const { port } = await listener(f.ingest)
    const c = await connect(port)
    f.hold()
    c.socket.end(Buffer.concat([pack(['a', 1, { log: 'one' }, { chunk: 'e1' }]), pack(['a', 2, { log: 'two' }, { chunk: 'e2' }])]))
    await new Promise((r) => setTimeout(r, 50))
    f.release()
    await until('the connection closed', c.closed)
    expect(c.replies).toEqual([{ ack: 'e1' }, { ack: 'e2' }])
  })

  it('retries while Kafka refuses for now, and leaves a message Kafka failed unacknowledged', async () => {
    const f = fakeIngest()
    const { l, port } = await listener(f.ingest)
    const c = await connect(port)
    f.failNext.push(new SluiceError('KAFKA_UNAVAILABLE', 'broker down', { canRetry: true }))
    c.socket.write(pack(['a', 1, { log: 'retried' }, { chunk: 'r1' }]))
    await until('ack after a retry', () => c.replies.length === 1)
    expect(c.replies).toEqual([{ ack: 'r1' }])
    f.failNext.push(new Error('topic deleted'))
    c.socket.write(pack(['a', 1, { log: 'lost' }, { chunk: 'r2' }]))
    await until('the failure counted', () => l.counts().dropped.kafka_failed === 1)
    c.socket.write(pack(['a', 1, { log: 'next' }, { chunk: 'r3' }]))
    await until('the next ack', () => c.replies.length === 2)
    expect(c.replies).toEqual([{ ack: 'r1' }, { ack: 'r3' }])
  })

  it('answers a message it cannot read, drops its bad events alone, and closes on bytes that are no MessagePack', async () => {
    const f = fakeIngest()
    const { l, port, lines } = await listener(f.ingest)
    const c = await connect(port)
    c.socket.write(pack(['a', Buffer.from('not gzip'), { compressed: 'gzip', chunk: 'bad' }]))
    c.socket.write(pack(['a', [[1, { log: 'kept' }], [2, 'no map']], { chunk: 'mixed' }]))
    await until('two acks', () => c.replies.length === 2)
    expect(c.replies).toEqual([{ ack: 'bad' }, { ack: 'mixed' }])
    expect(l.counts().dropped).toMatchObject({ invalid_message: 1, invalid: 1 })
    expect(lines.some((x) => String(x.msg).startsWith('forward: 1 dropped (invalid_message)') && String(x.msg).includes('the entries are no gzip'))).toBe(true)
    c.socket.write(Buffer.concat([pack(['a', 1, { log: 'before' }, { chunk: 'last' }]), Buffer.from([0xc1]), pack(['a', 1, { log: 'after' }])]))
    await until('the connection closed', c.closed)
    // The message before the bad bytes is still answered, then the connection ends.
    expect(c.replies).toEqual([{ ack: 'bad' }, { ack: 'mixed' }, { ack: 'last' }])
    await until('the message before delivered', () => f.batches.flatMap((b) => b.events).length === 2)
    expect(f.batches.flatMap((b) => b.events.map((e) => e.message))).toEqual(['kept', 'before'])
    expect(l.counts().dropped.malformed).toBe(1)
  })

  it('stores what fluent-logger sends in each of its modes, acknowledged, as records of the tag', async () => {
    const r = realIngest()
    const { l, port } = await listener(r.ingest, { FORWARD_TENANT: 'fleet' })
    const modes = ['Message', 'PackedForward', 'CompressedPackedForward'] as const
    for (const [i, eventMode] of modes.entries()) {
      const s = fluent.createFluentSender('docker', { host: '127.0.0.1', port, eventMode, requireAckResponse: true, ackResponseTimeout: 5000, flushInterval: 10 })
      ended(s)
      const time = new EventTime(1_764_504_000 + i, 123_456_789)
      await emit(s, 'abc123', { container_id: 'abc123', container_name: '/web-1', source: 'stdout', log: `GET /cart ${i} 200` }, time)
    }
    await until('three records', () => r.stored().length === 3)
    expect(r.stored()[0]).toMatchObject({
      tenant: 'fleet',
      source: 'forward',
      service: 'web-1',
      message: 'GET /cart 0 200',
      timestamp: '1764504000123456789',
      attributes: { container_id: 'abc123', container_name: '/web-1', source: 'stdout' },
      resource: { 'fluent.tag': 'docker.abc123' },
    })
    expect(r.stored().map((x) => [x.message, x.timestamp])).toEqual(modes.map((_, i) => [`GET /cart ${i} 200`, `${1_764_504_000 + i}123456789`]))
    expect(l.counts()).toMatchObject({ messages: 3, events: 3, accepted: 3 })
  })

  it('reads a record as an Elasticsearch document would, and one without a message as its JSON text', async () => {
    const r = realIngest()
    const { port } = await listener(r.ingest)
    const c = await connect(port)
    c.socket.write(pack(['kube.var.log', [
      [1_764_504_000, { log: 'payment declined', level: 'error', kubernetes: { container_name: 'payments', namespace_name: 'shop', labels: { app: 'pay' } }, hostname: 'node-7' }],
      [1_764_504_001, { cpu_p: 12.5, mem: { used: 1024 } }],
    ], { chunk: 'k' }]))
    await until('an ack', () => c.replies.length === 1)
    const [declined, metrics] = r.stored()
    expect(declined).toMatchObject({ tenant: 'default', service: 'payments', host: 'node-7', severity_text: 'ERROR', message: 'payment declined', attributes: { 'kubernetes.container_name': 'payments', 'kubernetes.namespace_name': 'shop', 'kubernetes.labels.app': 'pay' }, resource: { 'fluent.tag': 'kube.var.log' } })
    expect(metrics).toMatchObject({ message: '{"cpu_p":12.5,"mem":{"used":1024}}', service: 'unknown', attributes: { cpu_p: '12.5', 'mem.used': '1024' } })
  })

  it('with FORWARD_SHARED_KEY, takes events only after the handshake, from a sender with the key', async () => {
    const r = realIngest()
    const { l, port } = await listener(r.ingest, { FORWARD_SHARED_KEY: 'fleet-secret' })
    const good = fluent.createFluentSender('app', { host: '127.0.0.1', port, requireAckResponse: true, ackResponseTimeout: 5000, security: { clientHostname: 'client-1', sharedKey: 'fleet-secret' } })
    ended(good)
    await emit(good, 'web', { message: 'with the key' })
    await until('one record', () => r.stored().length === 1)
    expect(r.stored()[0]).toMatchObject({ message: 'with the key', resource: { 'fluent.tag': 'app.web' } })

    // A wrong key: PONG false, the connection closed, nothing stored.
    const c = await connect(port)
    await until('HELO', () => c.replies.length === 1)
    const [helo, opts] = c.replies[0] as [string, { nonce: Uint8Array; auth: string; keepalive: boolean }]
    expect(helo).toBe('HELO')
    expect(opts.nonce).toHaveLength(16)
    c.socket.write(pack(['PING', 'client-2', 'salt', 'f'.repeat(128), '', '']))
    await until('PONG and close', () => c.replies.length === 2 && c.closed())
    expect(c.replies[1]).toEqual(['PONG', false, 'shared_key mismatch', '', ''])
    // Events before the handshake are not read either.
    const d = await connect(port)
    d.socket.write(pack(['a', 1, { log: 'no handshake' }, { chunk: 'x' }]))
    await until('closed', d.closed)
    expect(l.counts().dropped.unauthenticated).toBe(2)
    expect(r.stored()).toHaveLength(1)
  })

  it('closes a connection that does not answer HELO in time', async () => {
    const { l, port } = await listener(fakeIngest().ingest, { FORWARD_SHARED_KEY: 'k' }, { handshakeTimeoutMs: 100 })
    const c = await connect(port)
    await until('closed', c.closed, 2000)
    expect(c.replies).toMatchObject([['HELO', { auth: '', keepalive: true }]])
    expect(l.counts().dropped.unauthenticated).toBe(1)
  })

  it('serves a Unix socket too (FORWARD_SOCKET_PATH), replacing one a crashed process left, and removes it on close', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-forward-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const socketPath = path.join(dir, 'forward.sock')
    // A socket file nothing listens on any more, as a killed gateway leaves it.
    const crashed = spawn(process.execPath, ['-e', "require('net').createServer().listen(process.argv[1], () => console.log('up'))", socketPath])
    await once(crashed.stdout, 'data')
    crashed.kill('SIGKILL')
    await once(crashed, 'exit')
    expect(statSync(socketPath).isSocket()).toBe(true)
    const r = realIngest()
    const { l } = await listener(r.ingest, { FORWARD_SOCKET_PATH: socketPath, FORWARD_ALLOWED_SOURCES: '10.0.0.0/8' })
    expect(l.addresses).toEqual({ tcp: expect.stringMatching(/^127\.0\.0\.1:\d+$/), unix: socketPath })
    // Over the socket the file's permissions guard it: the address list is for TCP.
    const s = fluent.createFluentSender('docker', { path: socketPath, requireAckResponse: true, ackResponseTimeout: 5000 } as Parameters<typeof fluent.createFluentSender>[1])
    ended(s)
    await emit(s, 'web-1', { container_name: '/web-1', source: 'stdout', log: 'over the socket' })
    expect(r.stored()).toMatchObject([{ message: 'over the socket', service: 'web-1', resource: { 'fluent.tag': 'docker.web-1' } }])
    await l.close()
    expect(existsSync(socketPath)).toBe(false)
  })

  it('fails to start on a Unix socket path another listener holds, or a file that is none', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-forward-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const held = path.join(dir, 'held.sock')
    const other = net.createServer().listen(held)
    await once(other, 'listening')
    onTestFinished(() => void other.close())
    await expect(listener(fakeIngest().ingest, { FORWARD_PORT: '0', FORWARD_SOCKET_PATH: held })).rejects.toThrow(/EADDRINUSE/)
    const file = path.join(dir, 'file')
    writeFileSync(file, 'not a socket')
    await expect(listener(fakeIngest().ingest, { FORWARD_PORT: '0', FORWARD_SOCKET_PATH: file })).rejects.toThrow(/EADDRINUSE/)
  })

  it('closes a connection from outside FORWARD_ALLOWED_SOURCES unread', async () => {
    const f = fakeIngest()
    const { l, port } = await listener(f.ingest, { FORWARD_ALLOWED_SOURCES: '10.0.0.0/8' })
    const c = await connect(port)
    c.socket.write(pack(['a', 1, { log: 'x' }]))
    await until('closed', c.closed)
    expect(l.counts().dropped.source_not_allowed).toBe(1)
    expect(f.batches).toEqual([])
  })

  // Docker's fluentd log driver: a line over its 16 KiB buffer goes out in parts, each an event of
  // its own with partial_message, partial_id, partial_ordinal and partial_last (moby's fluentd.go).
  const dockerPart = (log: string, id: string, ordinal: number, last: boolean, source = 'stdout') => ({ container_id: 'c0ffee', container_name: '/api-1', source, log, partial_message: 'true', partial_id: id, partial_ordinal: String(ordinal), partial_last: String(last) })

  it("stores a line Docker cut into parts as one record, each part's message acknowledged as it came", async () => {
    const r = realIngest()
    const { l, port } = await listener(r.ingest)
    // Acknowledgements on: each emit waits for its ack, so a part held for the next would never come.
    const s = fluent.createFluentSender('docker', { host: '127.0.0.1', port, eventMode: 'Message', requireAckResponse: true, ackResponseTimeout: 5000 })
    ended(s)
    const line = `{"level":"info","msg":"cart","items":"${'x'.repeat(40_000)}"}`
    const [p1, p2, p3] = [line.slice(0, 16_384), line.slice(16_384, 32_768), line.slice(32_768)]
    await emit(s, 'c0ffee', dockerPart(p1!, 'line-1', 1, false), new EventTime(1_764_504_000, 5))
    await emit(s, 'c0ffee', { container_id: 'c0ffee', container_name: '/api-1', source: 'stderr', log: 'warn: slow disk' }, new EventTime(1_764_504_000, 6))
    await emit(s, 'c0ffee', dockerPart(p2!, 'line-1', 2, false), new EventTime(1_764_504_000, 7))
    await emit(s, 'c0ffee', dockerPart(p3!, 'line-1', 3, true), new EventTime(1_764_504_000, 8))
    await until('two records', () => r.stored().length === 2)
    const [stderr, joined] = r.stored()
    expect(stderr).toMatchObject({ message: 'warn: slow disk' })
    // The first part's time and fields, the line whole (compared apart: a diff of 40 KB is no help).
    expect(joined).toMatchObject({ service: 'api-1', timestamp: '1764504000000000005', attributes: { container_id: 'c0ffee', source: 'stdout' } })
    expect(joined!.message === line).toBe(true)
    expect(Object.keys(joined!.attributes as object).filter((k) => k.startsWith('partial_'))).toEqual([])
    expect(l.counts()).toMatchObject({ events: 4, accepted: 2, partialLines: { whole: 1, cut: 0 } })
  })

  it('stores a line whose last part does not come as far as it came, marked, after FORWARD_PARTIAL_WAIT_MS or at the end of its connection', async () => {
    const r = realIngest()
    const { l, port } = await listener(r.ingest, { FORWARD_PARTIAL_WAIT_MS: '150' })
    const c = await connect(port)
    c.socket.write(pack(['docker.c0ffee', 1_764_504_000, dockerPart('first half of a line ', 'line-2', 1, false), { chunk: 'k1' }]))
    await until('the ack', () => c.replies.length === 1)
    expect(r.stored()).toEqual([])
    await until('the cut line', () => r.stored().length === 1)
    expect(r.stored()[0]).toMatchObject({ message: 'first half of a line ', attributes: { partial_message: 'true', partial_id: 'line-2', partial_last: 'false' } })
    // The rest of it, late: a line of its own.
    c.socket.write(pack(['docker.c0ffee', 1_764_504_001, dockerPart('second half', 'line-2', 2, true)]))
    // A part held when the sender ends its side is stored before the connection ends.
    c.socket.end(pack(['docker.c0ffee', 1_764_504_002, dockerPart('never finished', 'line-3', 1, false)]))
    await until('the connection closed', c.closed)
    expect(r.stored().map((x) => [x.message, (x.attributes as Record<string, string>).partial_last])).toEqual([
      ['first half of a line ', 'false'],
      ['second half', undefined],
      ['never finished', 'false'],
    ])
    expect(l.counts().partialLines).toEqual({ whole: 1, cut: 2 })
  })

  it('stores the parts a connection holds when the listener closes, and with FORWARD_PARTIAL_WAIT_MS=0 each part as a record', async () => {
    const r = realIngest()
    const { l, port } = await listener(r.ingest)
    const c = await connect(port)
    c.socket.write(pack(['docker.c0ffee', 1_764_504_000, dockerPart('held ', 'line-4', 1, false), { chunk: 'k' }]))
    await until('the ack', () => c.replies.length === 1)
    await l.close()
    expect(r.stored().map((x) => x.message)).toEqual(['held '])

    const apart = realIngest()
    const off = await listener(apart.ingest, { FORWARD_PARTIAL_WAIT_MS: '0' })
    const c2 = await connect(off.port)
    c2.socket.write(pack(['docker.c0ffee', [[1, dockerPart('a', 'line-5', 1, false)], [2, dockerPart('b', 'line-5', 2, true)]], { chunk: 'k' }]))
    await until('the ack', () => c2.replies.length === 1)
    expect(apart.stored().map((x) => [x.message, (x.attributes as Record<string, string>).partial_ordinal])).toEqual([['a', '1'], ['b', '2']])
  })

  it('holds a sender faster than Kafka: the socket pauses while a batch waits', async () => {
    const f = fakeIngest()
    const { l, port } = await listener(f.ingest)
    const c = await connect(port)
    f.hold()
    const entries = Buffer.concat(Array.from({ length: 2000 }, (_, i) => pack([i, { log: `line ${i} ${'x'.repeat(1000)}` }])))
    const message = pack(['a', entries, { chunk: 'p' }])
    let written = 0
    // Far more than the listener reads ahead: the writes stop draining.
    for (let i = 0; i < 10; i++) if (c.socket.write(message)) written++
    await new Promise((r) => setTimeout(r, 200))
    const readWhileHeld = l.counts().messages
    expect(readWhileHeld).toBeLessThan(10)
    f.release()
    await until('all acks', () => c.replies.length === 10, 20_000)
    expect(l.counts().events).toBe(20_000)
    expect(written).toBeLessThan(10)
  })
})
