// Loki push at POST /loki/api/v1/push without a broker: app.inject() against a fake producer and a
// JSON encoder. Bodies are built as Loki clients build them (JSON, and snappy-compressed protobuf
// encoded by protobufjs from Loki's message definitions, so the gateway's own reader is checked
// against another implementation); asserted is what reaches the producer and what the client reads.
import { gzipSync } from 'node:zlib'
import { compressSync } from 'snappy'
import { describe, expect, it, vi } from 'vitest'
import { SluiceError, validateLogInput } from '@sluice/core'
import type * as Core from '@sluice/core'
import type { Message, MessageProducer } from '@sluice/kafka'
import { createLogger, createRegistry } from '@sluice/observability'
import { loadConfig } from '../config.js'
import { buildApp } from '../service.js'
import { LabelSetError, parseLabelSet } from './loki-labels.js'
import { LokiPushRequest as PushRequest, jsonCodec, kept } from '../test-fakes.js'

// The validator as it is, watched: how many of a push's entries it was handed.
vi.mock('@sluice/core', async (importOriginal) => {
  const actual = await importOriginal<typeof Core>()
  return { ...actual, validateLogInput: vi.fn(actual.validateLogInput) }
})

function fakeProducer(): MessageProducer & { sent: Message[]; fail: 'no' | 'down' | 'overloaded' } {
  const p = {
    sent: [] as Message[],
    fail: 'no' as 'no' | 'down' | 'overloaded',
    async send(_topic: string, messages: Message[]) {
      if (p.fail === 'down') throw new SluiceError('KAFKA_UNAVAILABLE', 'Kafka did not acknowledge within 15000 ms', { canRetry: true })
      p.sent.push(...kept(messages))
    },
  }
  return p
}

const events = (p: { sent: Message[] }): Array<Record<string, unknown>> => p.sent.map((m) => ({ key: m.key, ...(JSON.parse(String(m.value)) as Record<string, unknown>) }))

function app(env: Record<string, string> = {}) {
  const producer = fakeProducer()
  const config = loadConfig({ TOPIC_LOGS_RAW: 'raw', GATEWAY_MAX_RECORD_BYTES: '2000', GATEWAY_MAX_BODY_BYTES: '100000', ...env })
  const a = buildApp(config, { logger: createLogger({ level: 'silent' }), registry: createRegistry({ defaultMetrics: false }), checks: {}, producer, codec: jsonCodec })
  return { app: a, producer }
}

type App = ReturnType<typeof app>['app']
const push = (a: App, payload: string | Buffer, headers: Record<string, string>) => a.inject({ method: 'POST', url: '/loki/api/v1/push', payload, headers })
const pushJson = (a: App, body: unknown, headers: Record<string, string> = {}) => push(a, JSON.stringify(body), { 'content-type': 'application/json', ...headers })

interface ProtoStream {
  labels: string
  entries: Array<{ timestamp?: { seconds: number; nanos: number }; line: string; structuredMetadata?: Array<{ name: string; value: string }> }>
}
const protoBody = (streams: ProtoStream[]) => compressSync(Buffer.from(PushRequest.encode(PushRequest.fromObject({ streams })).finish()))
const pushProto = (a: App, body: Buffer, headers: Record<string, string> = {}) => push(a, body, { 'content-type': 'application/x-protobuf', ...headers })

// Protobuf written by hand, for bodies protobufjs would not write (unknown fields, other wire
// types, fields out of order or twice, truncations).
function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n))
  const out: number[] = []
  while (v > 0x7fn) {
    out.push(Number(v & 0x7fn) | 0x80)
    v >>= 7n
  }
  out.push(Number(v))
  return out
}
type Part = Buffer | string
const bytesOf = (parts: Part[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)))
/** A length-delimited field: a string, or an embedded message of `parts`. */
const len = (field: number, ...parts: Part[]) => {
  const body = bytesOf(parts)
  return Buffer.from([...varint((field << 3) | 2), ...varint(body.length), ...body])
}
const num = (field: number, v: number | bigint) => Buffer.from([...varint(field << 3), ...varint(v)])
const fixed64 = (field: number) => Buffer.from([...varint((field << 3) | 1), 1, 2, 3, 4, 5, 6, 7, 8])
const fixed32 = (field: number) => Buffer.from([...varint((field << 3) | 5), 1, 2, 3, 4])
const group = (field: number, ...parts: Part[]) => Buffer.concat([Buffer.from(varint((field << 3) | 3)), bytesOf(parts), Buffer.from(varint((field << 3) | 4))])
const handBody = (...streams: Part[]) => compressSync(bytesOf(streams))

describe('Loki label sets', () => {
  it('reads names and quoted values with Go escapes, raw strings, spaces and a trailing comma', () => {
    const labels = parseLabelSet(' { app="check\\"out", path = "C:\\\\logs\\\\a.log",\tmsg="line1\\nline2\\t\\u00e9\\x41\\101\\U0001F600", raw=`a\\b"c`, }  ')
    expect([...labels]).toEqual([
      ['app', 'check"out'],
      ['path', 'C:\\logs\\a.log'],
      ['msg', 'line1\nline2\téAA😀'],
      ['raw', 'a\\b"c'],
    ])
  })

  it('drops labels with empty values and reads {} as no labels', () => {
    expect([...parseLabelSet('{a="", b="x"}')]).toEqual([['b', 'x']])
    expect(parseLabelSet('{}').size).toBe(0)
  })

  it.each([
    ['app="x"', /expected \{ at position 0/],
    ['{app=x}', /expected a quoted label value at position 5/],
    ['{app="x}', /unterminated label value/],
    ['{app="x" job="y"}', /expected , or \} at position 9/],
    ['{app=~"x"}', /expected = after label name "app"/],
    ['{app!="x"}', /expected = after label name "app"/],
    ['{app="x", app="y"}', /duplicate label name "app"/],
    ['{9app="x"}', /expected a label name at position 1/],
    ['{app="a\\qb"}', /unknown escape \\q/],
    ['{app="a\nb"}', /newline in label value/],
    ['{app="x"} extra', /unexpected text after \}/],
    ['{app="x",', /unexpected end, expected a label name or \}/],
    // Escapes cannot make half a surrogate pair (nor can UTF-8 bytes, which are checked).
    ['{app="\\ud800"}', /invalid escape \\ud800/],
    ['{app="\\U0000DC00"}', /invalid escape \\U0000DC00/],
  ])('refuses %j naming the problem', (text, message) => {
    expect(() => parseLabelSet(text)).toThrow(LabelSetError)
    expect(() => parseLabelSet(text)).toThrow(message)
    expect(() => parseLabelSet(text)).toThrow(/^error parsing labels '/)
  })
})

describe('gateway POST /loki/api/v1/push', () => {
  it('stores JSON streams mapped to Sluice fields and answers 204 with no body', async () => {
    const { app: a, producer } = app()
    const res = await pushJson(
      a,
      {
        streams: [
          {
            stream: { job: 'shop', service_name: 'checkout', app: 'web', hostname: 'node-1', level: 'warn', env: 'prod' },
            values: [
              ['1700000000123456789', 'payment slow'],
              ['1700000000123456790', 'payment failed', { trace_id: '4BF92F3577B34DA6A3CE929D0E0E4736', span_id: '00f067aa0ba902b7', order: '42', retries: 3 }],
            ],
          },
          { stream: { app: 'cart', detected_level: 'unknown', lvl: 'ERROR' }, values: [['1000', 'tiny timestamp']] },
        ],
      },
      { 'x-scope-orgid': 'acme' },
    )
    expect(res.statusCode).toBe(204)
    expect(res.body).toBe('')
    const [slow, failed, tiny] = events(producer)
    expect(slow).toMatchObject({
      key: 'acme/checkout',
      tenant: 'acme',
      service: 'checkout',
      host: 'node-1',
      severity_text: 'WARN',
      message: 'payment slow',
      timestamp: '1700000000123456789',
      resource: { job: 'shop', app: 'web', env: 'prod' },
      attributes: {},
      source: 'http',
      trace_id: null,
    })
    expect(failed).toMatchObject({ timestamp: '1700000000123456790', trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7', attributes: { order: '42', retries: '3' } })
    // "unknown" is no level: it stays a label, and the next level label counts.
    expect(tiny).toMatchObject({ service: 'cart', host: null, severity_text: 'ERROR', timestamp: '1000', resource: { detected_level: 'unknown' } })
  })

  it('stores snappy protobuf pushes with escaped labels, exact nanoseconds and structured metadata', async () => {
    const { app: a, producer } = app()
    const body = protoBody([
      {
        labels: '{app="billing", level="error", path="C:\\\\app \\"x\\".log", instance="10.0.0.7:9100"}',
        entries: [
          { timestamp: { seconds: 1_700_000_000, nanos: 5 }, line: 'card declined', structuredMetadata: [{ name: 'order_id', value: 'o-1' }] },
          { timestamp: { seconds: 1_700_000_001, nanos: 999_999_999 }, line: 'retrying' },
        ],
      },
    ])
    const res = await pushProto(a, body, { 'x-sluice-tenant': 'shop' })
    expect(res.statusCode).toBe(204)
    expect(events(producer)).toMatchObject([
      { key: 'shop/billing', service: 'billing', host: '10.0.0.7:9100', severity_text: 'ERROR', severity_number: 17, message: 'card declined', timestamp: '1700000000000000005', resource: { path: 'C:\\app "x".log' }, attributes: { order_id: 'o-1' } },
      { message: 'retrying', timestamp: '1700000001999999999', attributes: {} },
    ])
  })

  it('takes the level from structured metadata when no label gives one, and the arrival time when an entry has none', async () => {
    const { app: a, producer } = app()
    const before = BigInt(Date.now()) * 1_000_000n
    const res = await pushProto(a, protoBody([{ labels: '{job="cron"}', entries: [{ line: 'no time', structuredMetadata: [{ name: 'detected_level', value: 'debug' }, { name: 'k', value: 'v' }] }] }]))
    expect(res.statusCode).toBe(204)
    const [e] = events(producer)
    expect(e).toMatchObject({ service: 'cron', severity_text: 'DEBUG', attributes: { k: 'v' } })
    expect(BigInt(e!.timestamp as string)).toBeGreaterThanOrEqual(before)
  })

  it('accepts gzip JSON and a snappy body labelled Content-Encoding: snappy', async () => {
    const { app: a, producer } = app()
    const json = JSON.stringify({ streams: [{ stream: { app: 'zipped' }, values: [['1700000000000000000', 'gz']] }] })
    expect((await push(a, gzipSync(json), { 'content-type': 'application/json', 'content-encoding': 'gzip' })).statusCode).toBe(204)
    const proto = protoBody([{ labels: '{app="snap"}', entries: [{ timestamp: { seconds: 1, nanos: 0 }, line: 'sn' }] }])
    expect((await pushProto(a, proto, { 'content-encoding': 'snappy' })).statusCode).toBe(204)
    expect(events(producer).map((e) => [e.service, e.message])).toEqual([
      ['zipped', 'gz'],
      ['snap', 'sn'],
    ])
  })

  it('stores the good entries of a partly bad push and answers 400 naming each bad stream and entry', async () => {
    const { app: a, producer } = app()
    const res = await pushJson(a, {
      streams: [
        { stream: {}, values: [['1700000000000000000', 'no labels'], ['1700000000000000001', 'no labels either']] },
        { stream: { app: 'ok' }, values: [['1700000000000000002', 'good 1'], [1.7e18, 'numeric time'], ['1700000000000000004', 42], ['1700000000000000005', 'good 2']] },
        { stream: { 'bad-name': 'x' }, values: [['1700000000000000006', 'bad label name']] },
        { stream: { app: 'ok' }, values: [] },
        { stream: { app: 'meta' }, values: [['1700000000000000007', 'nested', { deep: { x: 1 } }], ['1700000000000000008', 'x'.repeat(3000)]] },
      ],
    })
    expect(res.statusCode).toBe(400)
    expect(res.headers['content-type']).toMatch(/^text\/plain/)
    expect(res.body.split('\n')).toEqual([
      'stream 0 {}: error at least one label pair is required per stream (2 entries refused)',
      'stream 1 {app="ok"}, entry 1: timestamp: expected a string of Unix epoch nanoseconds up to 3976214400000000000, got 1700000000000000000',
      'stream 1 {app="ok"}, entry 2: line: expected a string, got 42',
      `stream 2 {bad-name="x"}: error parsing labels '{bad-name="x"}' with error: invalid label name "bad-name" (1 entry refused)`,
      'stream 4 {app="meta"}, entry 0: structured metadata: "deep": expected a string, got an object',
      expect.stringMatching(/^stream 4 \{app="meta"\}, entry 1: record is \d+ bytes encoded; the limit is 2000$/),
      '7 of 9 entries refused; 2 stored',
      '',
    ])
    expect(events(producer).map((e) => e.message)).toEqual(['good 1', 'good 2'])
  })

  it('refuses a protobuf stream with unparseable labels and keeps the other streams', async () => {
    const { app: a, producer } = app()
    const res = await pushProto(
      a,
      protoBody([
        { labels: '{app="a", app="b"}', entries: [{ timestamp: { seconds: 1_700_000_000, nanos: 0 }, line: 'dup' }] },
        { labels: '{app="fine"}', entries: [{ timestamp: { seconds: -5, nanos: 0 }, line: 'before 1970' }, { timestamp: { seconds: 1_700_000_000, nanos: 0 }, line: 'kept' }] },
      ]),
    )
    expect(res.statusCode).toBe(400)
    expect(res.body).toContain(`stream 0 {app="a", app="b"}: error parsing labels '{app="a", app="b"}' with error: duplicate label name "app" (1 entry refused)`)
    expect(res.body).toContain('stream 1 {app="fine"}, entry 0: timestamp: -5 s 0 ns is outside 1970-01-01 … 2096-01-01')
    expect(res.body).toContain('2 of 3 entries refused; 1 stored')
    expect(events(producer).map((e) => e.message)).toEqual(['kept'])
  })

  it('refuses protobuf strings that are not UTF-8 by entry or stream, never storing replaced bytes', async () => {
    const { app: a, producer } = app()
    const raw = Buffer.from(
      PushRequest.encode(
        PushRequest.fromObject({
          streams: [
            { labels: '{app="~LBL~"}', entries: [{ timestamp: { seconds: 1_700_000_000, nanos: 0 }, line: 'under bad labels' }] },
            {
              labels: '{app="fine"}',
              entries: [
                { timestamp: { seconds: 1_700_000_000, nanos: 0 }, line: 'bad ~LIN~' },
                { timestamp: { seconds: 1_700_000_000, nanos: 1 }, line: 'meta', structuredMetadata: [{ name: 'k', value: '~MET~' }] },
                { timestamp: { seconds: 1_700_000_000, nanos: 2 }, line: 'kept' },
                { timestamp: { seconds: 1_700_000_000, nanos: 3 }, line: 'a U+FFFD sent as such: \uFFFD' },
              ],
            },
          ],
        }),
      ).finish(),
    )
    // Each marker becomes 5 bytes that are not UTF-8 (a lead byte followed by ASCII).
    for (const marker of ['~LBL~', '~LIN~', '~MET~']) Buffer.from([0xc3, 0x28, 0x41, 0x41, 0x41]).copy(raw, raw.indexOf(marker))
    const res = await pushProto(a, compressSync(raw))
    expect(res.statusCode).toBe(400)
    expect(res.body).toContain('stream 0: the labels are not valid UTF-8 (1 entry refused)')
    expect(res.body).toContain('stream 1 {app="fine"}, entry 0: line: not valid UTF-8')
    expect(res.body).toContain('stream 1 {app="fine"}, entry 1: structured metadata: not valid UTF-8')
    expect(events(producer).map((e) => e.message)).toEqual(['kept', 'a U+FFFD sent as such: \uFFFD'])
  })

  it('skips unknown fields of any wire type and hash, reads labels sent after the entries, lets the last of a field sent twice count and merges a Timestamp sent twice', async () => {
    const { app: a, producer } = app()
    const entry = (...parts: Part[]) => len(2, ...parts)
    const body = handBody(
      fixed32(7),
      len(
        1,
        num(3, 12345), // hash
        entry(
          len(1, num(1, 1_700_000_000)),
          len(1, num(2, 7)),
          len(2, 'first line'),
          num(9, 42),
          fixed64(10),
          group(11, num(1, 1), len(2, 'inside a group')),
          len(2, 'second line'),
          len(3, len(1, 'k'), len(2, 'v1')),
          len(3, len(2, 'ignored'), len(1, 'k'), len(4, 'unknown'), len(2, 'v2')),
        ),
        len(9, 'an unknown string'),
        entry(len(2, 'no time'), fixed32(15)),
        len(1, '{app="first"}'),
        len(1, '{app="last", region="eu"}'),
      ),
      len(1, num(3, 1), len(1, '{app="empty"}')), // no entries: nothing to store
    )
    const before = BigInt(Date.now()) * 1_000_000n
    const res = await pushProto(a, body)
    expect(res.statusCode).toBe(204)
    const [first, second, ...rest] = events(producer)
    expect(rest).toEqual([])
    expect(first).toMatchObject({ service: 'last', message: 'second line', timestamp: '1700000000000000007', resource: { region: 'eu' }, attributes: { k: 'v2' } })
    expect(second).toMatchObject({ service: 'last', message: 'no time', attributes: {} })
    expect(BigInt(second!.timestamp as string)).toBeGreaterThanOrEqual(before)
  })

  it.each([
    ['a truncated entry', len(1, len(1, '{app="x"}'), len(2, len(2, 'fine')), len(2, Buffer.from([0x12, 0x50]), 'cut')), /^couldn't parse push request: invalid protobuf: streams\[1\]\.entries\[1\]: index out of range: \d+ \+ 80 > \d+$/],
    ['a truncated entry of a stream refused for its labels', len(1, len(1, '{bad'), len(2, Buffer.from([0x12, 0x50]), 'cut')), /^couldn't parse push request: invalid protobuf: streams\[1\]\.entries\[0\]: index out of range: \d+ \+ 80 > \d+$/],
    ['an entry running past its stream', Buffer.concat([Buffer.from([0x0a, 0x0f]), len(1, '{app="x"}'), Buffer.from([0x12, 0x40, 0x12, 0x01])]), /^couldn't parse push request: invalid protobuf: streams\[1\]: index out of range: \d+ \+ 64 > \d+$/],
    ['a line sent as a varint', len(1, len(1, '{app="x"}'), len(2, num(2, 5))), /^couldn't parse push request: invalid protobuf: streams\[1\]\.entries\[0\]\.line: sent as varint, expected length-delimited$/],
    ['labels sent as a varint', len(1, num(1, 5), len(2, len(2, 'x'))), /^couldn't parse push request: invalid protobuf: streams\[1\]\.labels: sent as varint, expected length-delimited$/],
    ['seconds sent as a string', len(1, len(1, '{app="x"}'), len(2, len(1, len(1, '17')), len(2, 'x'))), /^couldn't parse push request: invalid protobuf: streams\[1\]\.entries\[0\]\.timestamp\.seconds: sent as length-delimited, expected varint$/],
    ['a metadata name sent as 64 bits', len(1, len(1, '{app="x"}'), len(2, len(2, 'x'), len(3, len(1, 'a'), len(2, 'b')), len(3, fixed64(1)))), /^couldn't parse push request: invalid protobuf: streams\[1\]\.entries\[0\]\.structuredMetadata\[1\]\.name: sent as 64-bit, expected length-delimited$/],
    ['streams sent as 32 bits', fixed32(1), /^couldn't parse push request: invalid protobuf: streams: sent as 32-bit, expected length-delimited$/],
    ['a varint of 11 bytes', len(1, len(1, '{app="x"}'), len(2, len(1, Buffer.from([0x08, ...Array<number>(10).fill(0xff), 0x01])), len(2, 'x'))), /^couldn't parse push request: invalid protobuf: streams\[1\]\.entries\[0\]\.timestamp: invalid varint encoding$/],
  ])('refuses the whole push for %s, naming where, and stores nothing of it', async (_name, raw, message) => {
    const { app: a, producer } = app()
    const good = len(1, len(1, '{app="good"}'), len(2, len(2, 'would be stored')))
    const res = await pushProto(a, handBody(good, raw))
    expect(res.statusCode).toBe(400)
    expect(res.body.trimEnd()).toMatch(message)
    expect(producer.sent).toEqual([])
  })

  it('reads timestamps up to 2096-01-01T00:00:00Z, the latest storage keeps, exactly and refuses those beyond, also ones past 2^53 s', async () => {
    const { app: a, producer } = app()
    const at = (seconds: number | bigint, nanos: number, line: string) => len(2, len(1, num(1, seconds), num(2, nanos)), len(2, line))
    const entries = [at(3_976_214_400, 0, 'last ns'), at(3_976_214_400, 1, 'one past'), at(7_258_118_400, 0, '2200'), at(9_223_372_036, 854_775_808, 'past 2262'), at(2n ** 62n, 0, 'far')]
    const res = await pushProto(a, handBody(len(1, len(1, '{app="t"}'), ...entries, at(99_999_999, 999_999_999, 'short'), at(-1, 0, 'negative'), at(1, -1, 'negative nanos'))))
    expect(res.statusCode).toBe(400)
    expect(res.body.split('\n')).toEqual([
      `stream 0 {app="t"}, entry 1: timestamp: 3976214400 s 1 ns is after 2096-01-01T00:00:00Z, the latest time storage keeps (ClickHouse's DateTime ends in 2106, less the longest retention of 3650 days)`,
      `stream 0 {app="t"}, entry 2: timestamp: 7258118400 s 0 ns is after 2096-01-01T00:00:00Z, the latest time storage keeps (ClickHouse's DateTime ends in 2106, less the longest retention of 3650 days)`,
      `stream 0 {app="t"}, entry 3: timestamp: 9223372036 s 854775808 ns is after 2096-01-01T00:00:00Z, the latest time storage keeps (ClickHouse's DateTime ends in 2106, less the longest retention of 3650 days)`,
      `stream 0 {app="t"}, entry 4: timestamp: 4611686018427387904 s 0 ns is after 2096-01-01T00:00:00Z, the latest time storage keeps (ClickHouse's DateTime ends in 2106, less the longest retention of 3650 days)`,
      'stream 0 {app="t"}, entry 6: timestamp: -1 s 0 ns is outside 1970-01-01 … 2096-01-01',
      'stream 0 {app="t"}, entry 7: timestamp: 1 s -1 ns is outside 1970-01-01 … 2096-01-01',
      '6 of 8 entries refused; 2 stored',
      '',
    ])
    expect(events(producer).map((e) => [e.message, e.timestamp])).toEqual([
      ['last ns', '3976214400000000000'],
      ['short', '99999999999999999'],
    ])
  })

  it('refuses a JSON entry after 2096-01-01T00:00:00Z, the latest time storage keeps, and takes one at it', async () => {
    const { app: a, producer } = app()
    const res = await pushJson(a, { streams: [{ stream: { app: 't' }, values: [['3976214400000000000', 'last ns'], ['3976214400000000001', 'one past'], ['9223372036854775807', '2262'], ['99999999999999999999', 'too long']] }] })
    expect(res.statusCode).toBe(400)
    expect(res.body.split('\n')).toEqual([
      `stream 0 {app="t"}, entry 1: timestamp: "3976214400000000001" is after 2096-01-01T00:00:00Z, the latest time storage keeps (ClickHouse's DateTime ends in 2106, less the longest retention of 3650 days)`,
      `stream 0 {app="t"}, entry 2: timestamp: "9223372036854775807" is after 2096-01-01T00:00:00Z, the latest time storage keeps (ClickHouse's DateTime ends in 2106, less the longest retention of 3650 days)`,
      'stream 0 {app="t"}, entry 3: timestamp: expected a string of Unix epoch nanoseconds up to 3976214400000000000, got "99999999999999999999"',
      '3 of 4 entries refused; 1 stored',
      '',
    ])
    expect(events(producer).map((e) => [e.message, e.timestamp])).toEqual([['last ns', '3976214400000000000']])
  })

  it('reads UTF-8 beyond ASCII in labels, lines and metadata, short and long, and the same label set alike in every push', async () => {
    const { app: a, producer } = app()
    const long = `é${'x'.repeat(60)}😀`
    const stream = { labels: `{app="café", note="${long}", host="日本"}`, entries: [{ timestamp: { seconds: 1_700_000_000, nanos: 0 }, line: 'naïve', structuredMetadata: [{ name: 'ключ', value: 'значение' }, { name: 'long', value: long }] }] }
    for (let i = 0; i < 2; i++) expect((await pushProto(a, protoBody([stream]))).statusCode).toBe(204)
    const bad = protoBody([{ labels: '{app="x", app="y"}', entries: [{ line: 'dup' }] }])
    const refused = [await pushProto(a, bad), await pushProto(a, bad)]
    expect(refused.map((r) => r.body)).toEqual(Array(2).fill(`stream 0 {app="x", app="y"}: error parsing labels '{app="x", app="y"}' with error: duplicate label name "app" (1 entry refused)\n1 of 1 entries refused; 0 stored\n`))
    const stored = events(producer)
    expect(stored).toHaveLength(2)
    for (const e of stored) expect(e).toMatchObject({ service: 'café', host: '日本', message: 'naïve', resource: { note: long }, attributes: { ключ: 'значение', long } })
  })

  it('reads a body without Content-Type as snappy protobuf, as Loki does', async () => {
    const { app: a, producer } = app()
    const res = await a.inject({ method: 'POST', url: '/loki/api/v1/push', payload: protoBody([{ labels: '{app="bare"}', entries: [{ line: 'no content type' }] }]) })
    expect(res.statusCode).toBe(204)
    expect(events(producer).map((e) => e.message)).toEqual(['no content type'])
  })

  it('refuses a stream that is not an object with "stream" and "values", and an entry that is not a pair', async () => {
    const { app: a, producer } = app()
    const res = await pushJson(a, { streams: ['nope', { stream: { app: 'x' } }, { stream: ['a'], values: [['1', 'x']] }, { stream: { app: 'y' }, values: ['1 line', ['1', 'ok']] }] })
    expect(res.statusCode).toBe(400)
    expect(res.body.split('\n')).toEqual([
      'stream 0: expected an object with "stream" and "values", got "nope"',
      'stream 1 {app="x"}: expected "values": an array of ["<unix ns>", "<line>"] entries, got undefined',
      'stream 2: expected "stream": an object of label names to values, got an array (1 entry refused)',
      'stream 3 {app="y"}, entry 0: expected ["<unix ns>", "<line>"] or ["<unix ns>", "<line>", {structured metadata}], got "1 line"',
      '4 of 5 entries refused; 1 stored',
      '',
    ])
    expect(events(producer).map((e) => e.message)).toEqual(['ok'])
  })

  it('caps the error lines at GATEWAY_MAX_ERRORS_REPORTED', async () => {
    const { app: a } = app({ GATEWAY_MAX_ERRORS_REPORTED: '2' })
    const res = await pushJson(a, { streams: [{ stream: { app: 'x' }, values: [['a', '1'], ['b', '2'], ['c', '3'], ['1', 'ok']] }] })
    expect(res.statusCode).toBe(400)
    expect(res.body.split('\n').slice(2)).toEqual(['… and 1 more errors', '3 of 4 entries refused; 1 stored', ''])
  })

  it.each([
    ['bad snappy', () => Buffer.from([0x10, 0xff, 0xff, 0xff]), 'application/x-protobuf', /^couldn't parse push request: snappy: /],
    ['a body that is no snappy block at all', () => Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 'application/x-protobuf', /^couldn't parse push request: the body is not snappy-compressed protobuf/],
    ['bad protobuf in good snappy', () => compressSync(Buffer.from([0x0a, 0x50, 0x01])), 'application/x-protobuf', /^couldn't parse push request: invalid protobuf: /],
    ['JSON sent without its content type', () => Buffer.from('{"streams":[]}'), 'text/plain', /^couldn't parse push request: /],
    ['invalid JSON', () => Buffer.from('{"streams": ['), 'application/json', /^couldn't parse push request: invalid JSON: /],
    ['JSON without streams', () => Buffer.from('{"strooms": []}'), 'application/json', /^couldn't parse push request: expected a JSON object \{"streams"/],
    ['an empty body', () => Buffer.alloc(0), 'application/x-protobuf', /^couldn't parse push request: empty body/],
  ])('answers 400 in plain text and stores nothing for %s', async (_name, body, contentType, message) => {
    const { app: a, producer } = app()
    const res = await push(a, body(), { 'content-type': contentType })
    expect(res.statusCode).toBe(400)
    expect(res.headers['content-type']).toMatch(/^text\/plain/)
    expect(res.body).toMatch(message)
    expect(producer.sent).toEqual([])
  })

  it('answers 413 for a body over the limit, also a snappy body announcing more than the limit, without inflating it', async () => {
    const { app: a, producer } = app()
    const big = JSON.stringify({ streams: [{ stream: { app: 'x' }, values: [['1', 'y'.repeat(200_000)]] }] })
    const tooBig = await push(a, big, { 'content-type': 'application/json' })
    expect(tooBig.statusCode).toBe(413)
    expect(tooBig.body).toBe('request body exceeds the limit of 100000 bytes\n')
    const zipped = await push(a, gzipSync(big), { 'content-type': 'application/json', 'content-encoding': 'gzip' })
    expect(zipped.statusCode).toBe(413)
    // 2^32-1 announced, a few bytes sent: refused on the announcement.
    const bomb = await pushProto(a, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]))
    expect(bomb.statusCode).toBe(413)
    expect(bomb.body).toBe('the snappy body decompresses to 4294967295 bytes; the limit is 100000\n')
    const inflated = protoBody([{ labels: '{app="x"}', entries: [{ line: 'z'.repeat(150_000) }] }])
    expect(inflated.length).toBeLessThan(100_000)
    expect((await pushProto(a, inflated)).statusCode).toBe(413)
    expect(producer.sent).toEqual([])
  })

  it('answers 503 and 429 in plain text with Retry-After, so Loki clients retry', async () => {
    const { app: a, producer } = app({ GATEWAY_MAX_IN_FLIGHT_BYTES: '1000' })
    const body = { streams: [{ stream: { app: 'x' }, values: [['1700000000000000000', 'x']] }] }
    producer.fail = 'down'
    const down = await pushJson(a, body)
    expect(down.statusCode).toBe(503)
    expect(down.headers['retry-after']).toBe('5')
    expect(down.headers['content-type']).toMatch(/^text\/plain/)
    expect(down.body).toBe('Kafka did not acknowledge within 15000 ms\n')

    producer.fail = 'no'
    let release = () => {}
    const acked = new Promise<void>((r) => (release = r))
    const send = producer.send
    producer.send = async (topic, messages) => {
      await acked
      return send(topic, messages)
    }
    const first = pushJson(a, { streams: [{ stream: { app: 'x' }, values: Array.from({ length: 20 }, (_, i) => ['1700000000000000000', `first ${i}`]) }] })
    await new Promise((r) => setTimeout(r, 50))
    const refused = await pushJson(a, body)
    expect(refused.statusCode).toBe(429)
    expect(refused.headers['retry-after']).toBe('5')
    expect(refused.body).toMatch(/^the gateway is waiting on Kafka for \d+ bytes already .*; retry later\n$/)
    release()
    expect((await first).statusCode).toBe(204)
  })

  it('takes the tenant from X-Scope-OrgID or x-sluice-tenant, and refuses an invalid one or two different ones with 400', async () => {
    const { app: a, producer } = app()
    const body = { streams: [{ stream: { app: 'x' }, values: [['1700000000000000000', 'x']] }] }
    await pushJson(a, body, { 'x-scope-orgid': 'org-1', 'x-sluice-tenant': 'org-1' })
    await pushJson(a, body, { 'x-sluice-tenant': 'other' })
    await pushJson(a, body)
    expect(events(producer).map((e) => e.tenant)).toEqual(['org-1', 'other', 'default'])
    const two = await pushJson(a, body, { 'x-scope-orgid': 'org-1', 'x-sluice-tenant': 'other' })
    expect(two.statusCode).toBe(400)
    expect(two.body).toBe('the request names two tenants: header x-scope-orgid org-1, header x-sluice-tenant other; name one\n')
    const bad = await pushJson(a, body, { 'x-scope-orgid': 'a|b' })
    expect(bad.statusCode).toBe(400)
    expect(bad.body).toBe('header x-scope-orgid: expected 1-64 characters of A-Z a-z 0-9 _ . -\n')
  })

  it('answers 204 and produces nothing for a push without entries', async () => {
    const { app: a, producer } = app()
    expect((await pushJson(a, { streams: [] })).statusCode).toBe(204)
    expect((await pushProto(a, protoBody([{ labels: '{}', entries: [] }]))).statusCode).toBe(204)
    expect(producer.sent).toEqual([])
  })

  it('leaves /v1/logs parsing JSON its own way', async () => {
    const { app: a, producer } = app()
    const res = await a.inject({ method: 'POST', url: '/v1/logs', payload: '{"message":"native"}', headers: { 'content-type': 'application/json' } })
    expect(res.statusCode).toBe(200)
    expect(events(producer).map((e) => e.message)).toEqual(['native'])
  })
})

describe('Loki streams checked once', () => {
  const LONE = 'not valid Unicode: a lone surrogate (an escape such as \\ud800 without its pair)'
  const entries = (n: number, what: string): Array<[string, string]> => Array.from({ length: n }, (_, i) => [String(1_700_000_000_000_000_000n + BigInt(i)), `${what} ${i}`])
  const wide = Object.fromEntries([['job', 'wide'], ...Array.from({ length: 300 }, (_, i) => [`l${i}`, 'v'])])
  const streams = [
    { stream: wide, values: entries(30, 'under 301 labels') },
    { stream: { service_name: 's'.repeat(300) }, values: entries(2, 'long service') },
    { stream: { app: 'a', ['k'.repeat(300)]: 'v' }, values: entries(2, 'long label name') },
    { stream: { app: 'a', big: 'x'.repeat(2500) }, values: entries(3, 'large labels') },
    { stream: { app: 'ok' }, values: entries(2, 'good') },
  ]
  const toProto = (s: (typeof streams)[number]): ProtoStream => ({
    labels: `{${Object.entries(s.stream).map(([k, v]) => `${k}="${v}"`).join(', ')}}`,
    entries: s.values.map(([t, line]) => ({ timestamp: { seconds: Number(BigInt(t) / 1_000_000_000n), nanos: Number(BigInt(t) % 1_000_000_000n) }, line })),
  })

  it.each(['json', 'protobuf'] as const)('refuses a stream whose labels the validator would refuse in every entry once, handing it none of them (%s)', async (encoding) => {
    const { app: a, producer } = app()
    vi.mocked(validateLogInput).mockClear()
    const res = encoding === 'json' ? await pushJson(a, { streams }) : await pushProto(a, protoBody(streams.map(toProto)))
    expect(res.statusCode).toBe(400)
    const lines = res.body.split('\n')
    expect(lines).toHaveLength(6)
    const expected = [
      'at most 256 labels besides the service, host and level ones (30 entries refused)',
      'label service_name: a service name of 300 characters; at most 256 (2 entries refused)',
      `label ${'k'.repeat(200)}…: a name of 300 characters; at most 256 (2 entries refused)`,
      // Over GATEWAY_MAX_RECORD_BYTES (2000) on their own: no entry is encoded to find out.
      "the labels are at least 2504 bytes encoded in each entry's record, over the limit of 2000 (3 entries refused)",
    ]
    expected.forEach((end, i) => {
      expect(lines[i]!.startsWith(`stream ${i} {`)).toBe(true)
      expect(lines[i]!.endsWith(`: ${end}`)).toBe(true)
    })
    expect(lines[4]).toBe('37 of 39 entries refused; 2 stored')
    // Decided per stream: only the good stream's entries reached the validator.
    expect(validateLogInput).toHaveBeenCalledTimes(2)
    expect(events(producer).map((e) => e.message)).toEqual(['good 0', 'good 1'])
  })

  it('refuses a JSON line, metadata or label escaping half a surrogate pair, which no UTF-8 encodes, as bytes that are not UTF-8', async () => {
    const { app: a, producer } = app()
    const body = {
      streams: [
        {
          stream: { app: 'ok' },
          values: [
            ['1700000000000000000', 'good'],
            ['1700000000000000001', 'half \ud800'],
            ['1700000000000000002', 'meta value', { k: '\udc00' }],
            ['1700000000000000003', 'meta name', { 'k\ud800': 'v' }],
            ['1700000000000000004', 'a pair is fine: \ud83d\ude00', { k: '\ud83d\ude00' }],
          ],
        },
        { stream: { app: 'x\ud800' }, values: [['1700000000000000005', 'under a bad label']] },
      ],
    }
    // JSON.stringify writes a lone surrogate as the escape \ud800, as a client's JSON would.
    expect(JSON.stringify(body)).toContain('half \\ud800')
    const res = await pushJson(a, body)
    expect(res.statusCode).toBe(400)
    const lines = res.body.split('\n')
    expect(lines.slice(0, 3)).toEqual([`stream 0 {app="ok"}, entry 1: line: ${LONE}`, `stream 0 {app="ok"}, entry 2: structured metadata: ${LONE}`, `stream 0 {app="ok"}, entry 3: structured metadata: ${LONE}`])
    expect(lines[3]).toMatch(/^stream 1 \{app="x.*"\}: label app: not valid Unicode: a lone surrogate .* \(1 entry refused\)$/)
    expect(lines[4]).toBe('4 of 6 entries refused; 2 stored')
    expect(events(producer).map((e) => e.message)).toEqual(['good', 'a pair is fine: 😀'])
  })
})
