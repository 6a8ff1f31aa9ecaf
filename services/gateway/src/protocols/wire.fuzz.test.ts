// Raw fuzzing of the binary and text readers of the gateway's HTTP protocols (fast-check, fixed
// seeds): random bytes and mutations of valid requests (bytes flipped, inserted, deleted, cut off,
// repeated) read by the OTLP protobuf reader, the Loki protobuf reader behind snappy, the
// Elasticsearch bulk reader and each route end to end. Whatever comes in, a reader returns records
// or throws the one refusal it documents (never a TypeError or RangeError), and a route answers a
// 2xx or a 4xx — never a 5xx. Lengths claiming gigabytes are refused before anything that size is
// allocated.
import fc from 'fast-check'
import { compressSync } from 'snappy'
import { describe, expect, it } from 'vitest'
import { isSluiceError } from '@sluice/core'
import type { Message, MessageProducer } from '@sluice/kafka'
import { createLogger, createRegistry } from '@sluice/observability'
import { loadConfig } from '../config.js'
import { buildApp } from '../service.js'
import { LokiPushRequest as PushRequest, jsonCodec, kept } from '../test-fakes.js'
import { parseBulk } from './elastic-bulk.js'
import { PushBatch } from './loki-batch.js'
import { PushRequestFault, readPushRequest } from './loki-protobuf.js'
import { readProtobufPush } from './loki-wire.js'
import { spec } from './otlp-proto.js'
import { readOtlpProtobuf } from './otlp-protobuf.js'

const RUNS = 400
const DEFAULTS = { tenant: 'fuzz', source: 'otlp', observedNs: 1n } as const
const SEED = 15

const OTLP_VALID = Buffer.from(
  spec.ExportLogsServiceRequest.encode(
    spec.ExportLogsServiceRequest.fromObject({
      resourceLogs: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }, { key: 'host.name', value: { stringValue: 'web-1' } }] },
          scopeLogs: [
            {
              scope: { name: 'app', version: '1.0' },
              logRecords: [
                { timeUnixNano: '1700000000000000000', severityNumber: 9, severityText: 'INFO', body: { stringValue: 'order placed' }, attributes: [{ key: 'order', value: { intValue: 42 } }, { key: 'ok', value: { boolValue: true } }] },
                { timeUnixNano: '1700000000500000000', severityText: 'ERROR', body: { kvlistValue: { values: [{ key: 'a', value: { doubleValue: 1.5 } }] } }, traceId: Buffer.alloc(16, 1), spanId: Buffer.alloc(8, 2) },
              ],
            },
          ],
        },
      ],
    }),
  ).finish(),
)

const LOKI_RAW = Buffer.from(
  PushRequest.encode(
    PushRequest.fromObject({
      streams: [
        { labels: '{app="api", env="prod"}', entries: [{ timestamp: { seconds: 1700000000, nanos: 5 }, line: 'GET /orders 200', structuredMetadata: [{ name: 'trace_id', value: 'abc' }] }] },
        { labels: '{job="worker"}', entries: [{ timestamp: { seconds: 1700000001 }, line: 'level=error msg="boom"' }, { line: 'no time' }] },
      ],
    }),
  ).finish(),
)

const BULK_VALID = '{"index":{"_index":"app"}}\n{"message":"one","level":"info"}\n{"create":{}}\n{"@timestamp":"2026-01-01T00:00:00Z","message":"two"}\n'

/** One edit of a valid input: what a broken client, a proxy or an attacker does to bytes. */
const edit = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 16 }) }),
)
type Edit = typeof edit extends fc.Arbitrary<infer T> ? T : never

function mutate(valid: Buffer, edits: Edit[]): Buffer {
  let b = valid
  for (const e of edits) {
    const at = b.length === 0 ? 0 : e.at % b.length
    if (e.kind === 'flip' && b.length > 0) {
      b = Buffer.from(b)
      b[at] = e.byte
    } else if (e.kind === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from(e.bytes), b.subarray(at)])
    else if (e.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + e.count)])
    else if (e.kind === 'cut') b = b.subarray(0, at)
    else if (e.kind === 'repeat') b = Buffer.concat([b.subarray(0, at + e.count), b.subarray(at)])
  }
  return b
}

/** Random bytes, or a valid input with 1–6 edits. */
const bytesFrom = (valid: Buffer) => fc.oneof(fc.uint8Array({ maxLength: 512 }).map((u) => Buffer.from(u)), fc.array(edit, { minLength: 1, maxLength: 6 }).map((edits) => mutate(valid, edits)))

/** Runs `read`; only `expected` errors are allowed out. */
function readsOrRefuses(read: () => unknown, expected: (err: unknown) => boolean): void {
  try {
    read()
  } catch (err) {
    if (!expected(err)) throw err
  }
}

const validationFailed = (err: unknown) => isSluiceError(err) && err.code === 'VALIDATION_FAILED'

describe('OTLP protobuf reader under fuzzing', () => {
  it('reads the valid request it is mutated from', () => {
    expect(readOtlpProtobuf(OTLP_VALID, DEFAULTS).records).toHaveLength(2)
  })

  it('returns records or throws VALIDATION_FAILED for random and mutated bodies', () => {
    fc.assert(
      fc.property(bytesFrom(OTLP_VALID), (body) => {
        readsOrRefuses(() => {
          const batch = readOtlpProtobuf(body, DEFAULTS)
          // Every slot is a record, or a refused one (a symbol) with its reason in errors.
          const refused = batch.records.filter((r) => typeof r === 'symbol').length
          expect(batch.records.length - refused).toBe(batch.records.filter((r) => typeof r === 'object' && r !== null).length)
          expect(batch.errors).toHaveLength(refused)
          for (const e of batch.errors) expect(e.message).not.toBe('')
        }, validationFailed)
      }),
      { seed: SEED, numRuns: RUNS },
    )
  })

  it('refuses a length prefix claiming 2 GB in a small body without allocating it', () => {
    const before = process.memoryUsage().arrayBuffers
    // resourceLogs (field 1, length-delimited) announcing 2^31 - 1 bytes, then five bytes.
    const body = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x07, 1, 2, 3, 4, 5])
    expect(() => readOtlpProtobuf(body, DEFAULTS)).toThrow(/invalid OTLP protobuf: .*index out of range/)
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 << 20)
  })
})

describe('Loki push reader under fuzzing', () => {
  it('reads the valid request it is mutated from', () => {
    const batch = new PushBatch()
    readPushRequest(LOKI_RAW, batch)
    expect(batch.records).toHaveLength(3)
  })

  it('returns entries or throws PushRequestFault for random and mutated protobuf', () => {
    fc.assert(
      fc.property(bytesFrom(LOKI_RAW), (raw) => readsOrRefuses(() => readPushRequest(raw, new PushBatch()), (err) => err instanceof PushRequestFault)),
      { seed: SEED, numRuns: RUNS },
    )
  })

  it('refuses random and mutated snappy bodies with VALIDATION_FAILED or PAYLOAD_TOO_LARGE, nothing else', async () => {
    const valid = compressSync(LOKI_RAW)
    await fc.assert(
      fc.asyncProperty(bytesFrom(valid), async (body) => {
        try {
          await readProtobufPush(body, 100_000, new PushBatch())
        } catch (err) {
          if (!(isSluiceError(err) && (err.code === 'VALIDATION_FAILED' || err.code === 'PAYLOAD_TOO_LARGE'))) throw err
        }
      }),
      { seed: SEED, numRuns: RUNS },
    )
  })

  it('refuses a snappy body announcing 2 GB before decompressing it', async () => {
    const before = process.memoryUsage().arrayBuffers
    // The block's uncompressed length (varint 2^31), then a literal that is nowhere near it.
    const body = Buffer.from([0x80, 0x80, 0x80, 0x80, 0x08, 0x00, 0x61])
    await expect(readProtobufPush(body, 10 << 20, new PushBatch())).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' })
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 << 20)
  })
})

describe('Elasticsearch bulk reader under fuzzing', () => {
  it('gives every line an item, a document or an error, for random and mutated NDJSON', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 400 }),
          fc.array(edit, { minLength: 1, maxLength: 6 }).map((edits) => mutate(Buffer.from(BULK_VALID), edits).toString('utf8')),
          fc.array(fc.oneof(fc.json(), fc.constantFrom('{"index":{}}', '{"create":{"_index":"a"}}', '{"delete":{}}', '{"update":{"_id":"1"}}', '')), { maxLength: 12 }).map((ls) => ls.join('\n')),
        ),
        (body) => {
          for (const item of parseBulk(body)) expect(item.doc !== undefined || item.error !== undefined).toBe(true)
        },
      ),
      { seed: SEED, numRuns: RUNS },
    )
  })
})

function gateway() {
  const produced: Message[] = []
  const producer: MessageProducer = {
    async send(_topic: string, messages: Message[]) {
      produced.push(...kept(messages))
    },
  } as MessageProducer
  const config = loadConfig({ TOPIC_LOGS_RAW: 'raw', GATEWAY_MAX_BODY_BYTES: '100000' })
  return { app: buildApp(config, { logger: createLogger({ level: 'silent' }), registry: createRegistry({ defaultMetrics: false }), checks: {}, producer, codec: jsonCodec }), produced }
}

const ROUTES = [
  { url: '/v1/logs', type: 'application/json', valid: Buffer.from('[{"message":"a","level":"warn","service":"api"},{"message":"b","timestamp":1700000000}]') },
  { url: '/v1/logs', type: 'application/x-ndjson', valid: Buffer.from('{"message":"a"}\n{"message":"b","attributes":{"k":"v"}}\n') },
  { url: '/v1/logs', type: 'application/x-protobuf', valid: OTLP_VALID },
  { url: '/otlp/v1/logs', type: 'application/x-protobuf', valid: OTLP_VALID },
  { url: '/otlp/v1/logs', type: 'application/json', valid: Buffer.from('{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"x"},"timeUnixNano":"1700000000000000000"}]}]}]}') },
  { url: '/loki/api/v1/push', type: 'application/x-protobuf', valid: compressSync(LOKI_RAW) },
  { url: '/loki/api/v1/push', type: 'application/json', valid: Buffer.from('{"streams":[{"stream":{"app":"a"},"values":[["1700000000000000000","line"]]}]}') },
  { url: '/_bulk', type: 'application/x-ndjson', valid: Buffer.from(BULK_VALID) },
]

describe('every gateway route under fuzzing', () => {
  it('answers random and mutated bodies with a 2xx or 4xx and produces only records that carry a message', async () => {
    const { app, produced } = gateway()
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ROUTES), fc.nat(), fc.array(edit, { minLength: 0, maxLength: 6 }), fc.uint8Array({ maxLength: 256 }), async (route, pick, edits, random) => {
        const body = pick % 4 === 0 ? Buffer.from(random) : mutate(route.valid, edits)
        const res = await app.inject({ method: 'POST', url: route.url, payload: body, headers: { 'content-type': route.type } })
        expect(res.statusCode, `${route.url} ${route.type}: ${res.body.slice(0, 300)}`).toBeLessThan(500)
        expect(res.body).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/)
      }),
      { seed: SEED, numRuns: 300 },
    )
    // What was accepted is a log: a record with a message (the accept path's rule), nothing half-read.
    for (const m of produced) expect(typeof (JSON.parse(String(m.value)) as { message?: unknown }).message).toBe('string')
    await app.close()
  })

  it('answers any content type and encoding with a 2xx or 4xx, whatever the body', async () => {
    const { app } = gateway()
    const types = ['application/json', 'application/json; charset=latin1', 'application/x-ndjson', 'application/x-protobuf; proto=x', 'text/plain', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', '', 'application/vnd.elasticsearch+json; compatible-with=8', '*/*', 'application/']
    const encodings = [undefined, 'gzip', 'deflate', 'br', 'identity', 'zstd', 'gzip, gzip', 'snappy']
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ROUTES), fc.constantFrom(...types), fc.constantFrom(...encodings), fc.nat(), fc.array(edit, { maxLength: 3 }), async (route, type, encoding, method, edits) => {
        const headers: Record<string, string> = { 'content-type': type }
        if (encoding !== undefined) headers['content-encoding'] = encoding
        const res = await app.inject({ method: (['POST', 'PUT'] as const)[method % 2]!, url: route.url, payload: mutate(route.valid, edits), headers })
        expect(res.statusCode, `${route.url} ${type} ${encoding}: ${res.body.slice(0, 300)}`).toBeLessThan(500)
      }),
      { seed: SEED, numRuns: 300 },
    )
    await app.close()
  })
})
