// Bad input through every HTTP protocol of the gateway: each case answers a 4xx that names what
// was wrong, in the protocol's own error shape, and the good records of the same request are still
// produced. The cases are the ones shippers really produce: a broken compression stream, the wrong
// content type, bytes that are not UTF-8, nesting deeper than any log, a body over the limit.
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import type { Message } from '@sluice/kafka'
import { createLogger, createRegistry } from '@sluice/observability'
import { loadConfig } from './config.js'
import { buildApp } from './service.js'
import { jsonCodec } from './test-fakes.js'


function gateway() {
  const produced: string[] = []
  const producer = {
    async send(_topic: string, messages: Message[]) {
      for (const m of messages) produced.push(String((JSON.parse(String(m.value)) as { message: string }).message))
    },
  }
  const config = loadConfig({ TOPIC_LOGS_RAW: 'raw', GATEWAY_MAX_BODY_BYTES: '100000' })
  const app = buildApp(config, { logger: createLogger({ level: 'silent' }), registry: createRegistry({ defaultMetrics: false }), checks: {}, producer, codec: jsonCodec })
  return { app, produced }
}

const bytes = (...parts: Array<string | number[]>) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))))
const NOT_UTF8 = [0xc3, 0x28] // a lead byte followed by ASCII
const deep = (n: number) => `{"message":"deep","a":${'['.repeat(n)}${']'.repeat(n)}}`

interface Case {
  name: string
  url: string
  body: Buffer | string
  headers: Record<string, string>
  status: number
  says: RegExp
  /** Messages of the good records in the request, produced despite the bad ones. */
  produced?: string[]
}

const ndjson = { 'content-type': 'application/x-ndjson' }
const json = { 'content-type': 'application/json' }

const CASES: Case[] = [
  { name: 'native: a broken gzip stream', url: '/v1/logs', body: 'not gzip', headers: { ...json, 'content-encoding': 'gzip' }, status: 400, says: /decompress/ },
  { name: 'native: an unknown content encoding', url: '/v1/logs', body: 'x', headers: { ...json, 'content-encoding': 'compress' }, status: 415, says: /encoding/i },
  { name: 'native: a zstd body that is no Zstandard frame', url: '/v1/logs', body: 'not zstd', headers: { ...json, 'content-encoding': 'zstd' }, status: 400, says: /Content-Encoding zstd: not a Zstandard frame/ },
  { name: 'native: text/plain', url: '/v1/logs', body: 'hello', headers: { 'content-type': 'text/plain' }, status: 415, says: /takes application\/json.*not text\/plain/ },
  { name: 'native: a body over the limit once decompressed', url: '/v1/logs', body: gzipSync(Buffer.alloc(1_000_000, 'a')), headers: { ...json, 'content-encoding': 'gzip' }, status: 413, says: /exceeds the limit of 100000 bytes/ },
  { name: 'native: an NDJSON line that is not UTF-8', url: '/v1/logs', body: bytes('{"message":"bad ', NOT_UTF8, '"}\n{"message":"good"}\n'), headers: ndjson, status: 207, says: /line 1 is not valid UTF-8/, produced: ['good'] },
  { name: 'native: a JSON document that is not UTF-8', url: '/v1/logs', body: bytes('[{"message":"a"},\n{"message":"', NOT_UTF8, '"}]'), headers: json, status: 400, says: /not valid UTF-8 \(line 2\)/ },
  { name: 'native: nesting beyond 32 levels', url: '/v1/logs', body: `${deep(5000)}\n{"message":"good"}`, headers: ndjson, status: 207, says: /nested too deeply/, produced: ['good'] },
  { name: 'OTLP: malformed protobuf', url: '/v1/logs', body: Buffer.from([0x0a, 0xff, 0xff]), headers: { 'content-type': 'application/x-protobuf' }, status: 400, says: /invalid OTLP protobuf/ },
  { name: 'OTLP: a broken gzip stream', url: '/otlp/v1/logs', body: 'xx', headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' }, status: 400, says: /decompress/ },
  { name: 'OTLP: JSON that is not UTF-8', url: '/otlp/v1/logs', body: bytes('{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"', NOT_UTF8, '"}}]}]}]}'), headers: json, status: 400, says: /not valid UTF-8/ },
  { name: 'OTLP: a content type OTLP does not have', url: '/otlp/v1/logs', body: 'x', headers: { 'content-type': 'text/plain' }, status: 415, says: /application\/x-protobuf or application\/json/ },
  { name: 'Loki: a body that is not snappy', url: '/loki/api/v1/push', body: 'garbage', headers: { 'content-type': 'application/x-protobuf' }, status: 400, says: /couldn't parse push request: snappy/ },
  { name: 'Loki: truncated JSON', url: '/loki/api/v1/push', body: '{"streams":[', headers: json, status: 400, says: /couldn't parse push request: invalid JSON/ },
  { name: 'Loki: JSON that is not UTF-8', url: '/loki/api/v1/push', body: bytes('{"streams":[{"stream":{"app":"a"},"values":[["1","', NOT_UTF8, '"]]}]}'), headers: json, status: 400, says: /not valid UTF-8/ },
  { name: 'Elasticsearch: a document line that is not UTF-8', url: '/app/_bulk', body: bytes('{"index":{}}\n{"message":"', NOT_UTF8, '"}\n{"create":{}}\n{"message":"good"}\n'), headers: ndjson, status: 200, says: /failed to parse the document on line \[2\]: Invalid UTF-8/, produced: ['good'] },
  { name: 'Elasticsearch: a line that is not JSON', url: '/app/_bulk', body: '{"index":{}}\nnot json\n{"index":{}}\n{"message":"good"}\n', headers: ndjson, status: 200, says: /mapper_parsing_exception/, produced: ['good'] },
  { name: 'Elasticsearch: nesting beyond the mapping depth', url: '/app/_bulk', body: `{"index":{}}\n${deep(5000)}\n{"index":{}}\n{"message":"good"}\n`, headers: ndjson, status: 200, says: /depth/, produced: ['good'] },
  { name: 'Elasticsearch: an unknown content encoding', url: '/_bulk', body: 'x', headers: { ...ndjson, 'content-encoding': 'compress' }, status: 415, says: /encoding/i },
  { name: 'OTLP: a zstd body cut short', url: '/otlp/v1/logs', body: Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38, 0x01]), headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'zstd' }, status: 400, says: /Content-Encoding zstd: the body ends inside a frame/ },
]

describe('bad input through every HTTP protocol', () => {
  it.each(CASES)('$name → $status naming the fault, the good records produced', async (c) => {
    const { app, produced } = gateway()
    const res = await app.inject({ method: 'POST', url: c.url, payload: c.body, headers: c.headers })
    expect(res.statusCode).toBe(c.status)
    expect(res.body).toMatch(c.says)
    expect(produced).toEqual(c.produced ?? [])
    await app.close()
  })
})
