// The Beats protocol (Lumberjack v2) without a broker: windows read from a stream however it is
// cut, plain and compressed, refused where it is no Lumberjack v2; the listener's
// acknowledgements (after Kafka, in order, keep-alives while Kafka is slow, none when it fails),
// and events read as Elasticsearch documents through the real accept path. A Beat's own client
// (go-lumber, as libbeat's logstash output uses it) is in test/e2e/ingest-beats.e2e.test.ts.
import { once } from 'node:events'
import net from 'node:net'
import { deflateSync } from 'node:zlib'
import { pino } from 'pino'
import { describe, expect, it, onTestFinished } from 'vitest'
import { SluiceError } from '@sluice/core'
import { createRegistry } from '@sluice/observability'
import { BeatsReader, MAX_WINDOW } from './beats-framing.js'
import type { BeatsWindow } from './beats-framing.js'
import { startBeats } from './beats.js'
import { loadConfig } from './config.js'
import { createIngest } from './ingest.js'
import type { Ingest } from './ingest.js'
import { tenantRule } from './protocol.js'
import { decoded, fakeIngest, fakeProducer, jsonCodec } from './test-fakes.js'

const u32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}
const windowFrame = (count: number) => Buffer.concat([Buffer.from('2W'), u32(count)])
const jsonFrame = (seq: number, event: unknown) => {
  const payload = Buffer.from(typeof event === 'string' ? event : JSON.stringify(event))
  return Buffer.concat([Buffer.from('2J'), u32(seq), u32(payload.length), payload])
}
const compressedFrame = (frames: Buffer) => {
  const z = deflateSync(frames)
  return Buffer.concat([Buffer.from('2C'), u32(z.length), z])
}
/** A window as go-lumber's client writes it: 2W, then the events numbered from 1, compressed or not. */
const window = (events: unknown[], compress = false) => {
  const frames = Buffer.concat(events.map((e, i) => jsonFrame(i + 1, e)))
  return Buffer.concat([windowFrame(events.length), compress ? compressedFrame(frames) : frames])
}

function read(stream: Buffer, cuts: number[] = [], opts = { maxEventBytes: 1000, maxFrameBytes: 10_000 }) {
  const r = new BeatsReader(opts)
  const windows: BeatsWindow[] = []
  let from = 0
  for (const at of [...cuts, stream.length]) {
    if (at > from) r.push(stream.subarray(from, at), (w) => void windows.push(w))
    from = at
  }
  return { windows, problem: r.problem, buffered: r.buffered }
}

describe('Beats framing', () => {
  const a = window([{ message: 'one' }, { message: 'two' }])
  const b = window([{ message: 'three' }, { message: 'four' }, { message: 'five' }], true)

  it('reads plain and compressed windows wherever the stream is cut', () => {
    const stream = Buffer.concat([a, windowFrame(0), b])
    const runs = [read(stream), read(stream, Array.from({ length: stream.length }, (_, i) => i + 1))]
    for (let i = 0; i <= stream.length; i += 7) runs.push(read(stream, [i]))
    for (const r of runs) {
      expect(r.problem).toBeUndefined()
      expect(r.buffered).toBe(0)
      expect(r.windows.map((w) => [w.events.map((e) => (JSON.parse(e) as { message: string }).message), w.seq])).toEqual([
        [['one', 'two'], 2],
        [['three', 'four', 'five'], 3],
      ])
    }
    expect(read(stream).windows[1]!.bytes).toBe(b.length)
  })

  it('stops at what is no Lumberjack v2, having handed on the windows before it', () => {
    const problem = (bytes: Buffer) => read(Buffer.concat([a, bytes])).problem
    expect(read(Buffer.concat([a, Buffer.from('1D')])).windows).toHaveLength(1)
    expect(problem(Buffer.from('1D\x00\x00'))).toBe('not Lumberjack v2: a frame starting 3144 (version "1")')
    expect(problem(Buffer.from('2D\x00\x00'))).toBe('not Lumberjack v2: a frame of type "D" (version 1\'s data frame)')
    expect(problem(Buffer.from([0x16, 0x03, 0x01, 0x02]))).toMatch(/^not Lumberjack v2: a frame starting 1603/)
    expect(problem(jsonFrame(1, { message: 'x' }))).toBe('an event outside a window (no 2W frame before it)')
    expect(problem(windowFrame(MAX_WINDOW + 1))).toBe(`a window of ${MAX_WINDOW + 1} events (at most ${MAX_WINDOW})`)
    expect(problem(Buffer.concat([windowFrame(2), jsonFrame(1, 'x'), windowFrame(1)]))).toBe("a window after 1 of the previous window's 2 events")
    expect(problem(Buffer.concat([windowFrame(1), jsonFrame(1, 'x'.repeat(1001))]))).toBe('an event of 1001 bytes (GATEWAY_MAX_RECORD_BYTES is 1000)')
    expect(problem(Buffer.concat([windowFrame(1), Buffer.from('2C'), u32(20_000)]))).toBe('a compressed frame of 20000 bytes (GATEWAY_MAX_BODY_BYTES is 10000)')
    expect(problem(Buffer.concat([windowFrame(1), compressedFrame(Buffer.alloc(20_000, 0x32))]))).toMatch(/^a compressed frame that does not inflate/)
    expect(problem(Buffer.concat([windowFrame(1), compressedFrame(jsonFrame(1, 'x').subarray(0, 8))]))).toBe('a compressed frame that ends inside a frame')
  })
})

/** A listener on a free port; `replies`: the ACKs written back on a raw connection. */
async function listener(ingest: Ingest, env: Record<string, string> = {}, keepaliveMs = 3000) {
  const probe = net.createServer().listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const port = (probe.address() as net.AddressInfo).port
  probe.close()
  await once(probe, 'close')
  const config = loadConfig({ TOPIC_LOGS_RAW: 'raw', HOST: '127.0.0.1', BEATS_PORT: String(port), ...env })
  const registry = createRegistry({ defaultMetrics: false })
  const lines: Array<Record<string, unknown>> = []
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) })
  const l = (await startBeats({ config, ingest, log, registry, tenantOf: tenantRule(config) }, { keepaliveMs }))!
  onTestFinished(() => l.close())
  return { l, port, lines, registry }
}

async function connect(port: number) {
  const socket = net.connect(port, '127.0.0.1')
  await once(socket, 'connect')
  onTestFinished(() => void socket.destroy())
  const acks: number[] = []
  let pending = Buffer.alloc(0)
  socket.on('data', (d: Buffer) => {
    pending = Buffer.concat([pending, d])
    while (pending.length >= 6) {
      expect(pending.subarray(0, 2).toString()).toBe('2A')
      acks.push(pending.readUInt32BE(2))
      pending = pending.subarray(6)
    }
  })
  let closed = false
  socket.on('close', () => (closed = true))
  socket.on('error', () => {})
  return { socket, acks, closed: () => closed }
}

async function until(what: string, ok: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** A Filebeat event as libbeat writes it for output.logstash. */
const filebeat = (message: string, extra: Record<string, unknown> = {}) => ({
  '@timestamp': '2026-12-07T10:00:00.123Z',
  '@metadata': { beat: 'filebeat', type: '_doc', version: '8.15.0' },
  message,
  host: { name: 'web-7' },
  log: { file: { path: '/var/log/app/checkout.log' }, offset: 1024 },
  input: { type: 'filestream' },
  agent: { type: 'filebeat', version: '8.15.0' },
  ecs: { version: '8.0.0' },
  service: { name: 'checkout' },
  ...extra,
})

describe('Beats listener', () => {
  it('acknowledges each window with its last sequence number once Kafka took its events, storing them as documents', async () => {
    const producer = fakeProducer()
    const config = loadConfig({ TOPIC_LOGS_RAW: 'raw' })
    const { l, port } = await listener(createIngest(config, { producer, codec: jsonCodec, registry: createRegistry({ defaultMetrics: false }) }), { BEATS_TENANT: 'fleet' })
    const c = await connect(port)
    c.socket.write(window([filebeat('payment declined', { log: { level: 'error', file: { path: '/var/log/app/checkout.log' } } }), filebeat('cart saved')]))
    c.socket.write(window([filebeat('order placed'), 'not json', [1, 2]], true))
    await until('two acks', () => c.acks.length === 2)
    expect(c.acks).toEqual([2, 3])
    const stored = producer.sent.flatMap((s) => s.messages.map(decoded))
    expect(stored.map((r) => r.message)).toEqual(['payment declined', 'cart saved', 'order placed'])
    expect(stored[0]).toMatchObject({ tenant: 'fleet', source: 'beats', service: 'checkout', host: 'web-7', severity_text: 'ERROR', timestamp: '1796637600123000000', attributes: { 'log.file.path': '/var/log/app/checkout.log', 'input.type': 'filestream', 'agent.type': 'filebeat' } })
    // The Beat's pipeline metadata is not the event's.
    expect(Object.keys(stored[0]!.attributes as object).filter((k) => k.startsWith('@metadata'))).toEqual([])
    expect(l.counts()).toMatchObject({ received: { tcp: 5 }, accepted: 3, dropped: { invalid: 2 } })
  })

  it('tells the Beat that work goes on (2A 0) while Kafka holds a batch, and acknowledges the windows in order after', async () => {
    const f = fakeIngest()
    const { port } = await listener(f.ingest, {}, 50)
    const c = await connect(port)
    f.hold()
    c.socket.write(Buffer.concat([window([{ message: 'a' }]), window([{ message: 'b' }, { message: 'c' }])]))
    await until('keep-alives', () => c.acks.filter((a) => a === 0).length >= 2)
    expect(c.acks.every((a) => a === 0)).toBe(true)
    f.release()
    await until('the acks', () => c.acks.includes(2))
    expect(c.acks.filter((a) => a !== 0)).toEqual([1, 2])
    expect(f.batches.flatMap((b) => b.events.map((e) => e.message))).toEqual(['a', 'b', 'c'])
  })

  it('closes the connection without an ack when Kafka fails for good, so the Beat sends the window again', async () => {
    const f = fakeIngest()
    const { l, port } = await listener(f.ingest)
    const c = await connect(port)
    f.failNext.push(new SluiceError('KAFKA_UNAVAILABLE', 'broker down', { canRetry: true }), new Error('topic deleted'))
    c.socket.write(window([{ message: 'lost for now' }]))
    await until('the connection closed', c.closed)
    expect(c.acks).toEqual([])
    expect(l.counts().dropped.kafka_failed).toBe(1)
  })

  it('delivers and acknowledges what came before bytes that are no Lumberjack v2, then ends the connection', async () => {
    const f = fakeIngest()
    const { l, port, lines } = await listener(f.ingest)
    const c = await connect(port)
    c.socket.write(Buffer.concat([window([{ message: 'kept' }]), Buffer.from('1D\x00\x00\x00\x01')]))
    await until('the connection closed', c.closed)
    expect(c.acks).toEqual([1])
    expect(f.batches.flatMap((b) => b.events.map((e) => e.message))).toEqual(['kept'])
    expect(l.counts().dropped.garbage).toBe(1)
    expect(lines.some((x) => String(x.msg).startsWith('beats: 1 dropped (garbage)') && String(x.msg).includes('version "1"'))).toBe(true)
  })

  it('closes a connection from outside BEATS_ALLOWED_SOURCES unread', async () => {
    const f = fakeIngest()
    const { l, port } = await listener(f.ingest, { BEATS_ALLOWED_SOURCES: '10.0.0.0/8' })
    const c = await connect(port)
    c.socket.write(window([{ message: 'x' }]))
    await until('closed', c.closed)
    expect(l.counts().dropped.source_not_allowed).toBe(1)
    expect(f.batches).toEqual([])
  })
})
