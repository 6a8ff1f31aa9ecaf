// The benchmark's records (records.ts) encoded the way each protocol's clients send them, so the
// protocol section compares wire formats over the same content:
//   OTLP protobuf / JSON  the OpenTelemetry JS SDK's own serializers (@opentelemetry/otlp-transformer),
//                         one resource per service (service.name, host.name) as an SDK or
//                         Collector groups them, attributes as log attributes;
//   Loki                  a PushRequest, snappy-compressed protobuf as Promtail and Alloy send it,
//                         one stream per service and level, attributes as structured metadata;
//   Elasticsearch _bulk   `create` actions with ECS documents, as Filebeat and Fluent Bit write;
//   Splunk HEC            event objects as the OpenTelemetry Collector's splunk_hec exporter
//                         writes them, attributes and severity as indexed fields;
//   Datadog               a JSON array of logs as Vector's datadog_logs sink writes it;
//   syslog                RFC 5424 with octet-counting framing (RFC 6587), attributes as
//                         structured data, as rsyslog forwards over TCP;
//   Fluentd forward       PackedForward messages with EventTimes and a chunk to acknowledge,
//                         flat records (message, level, service, host, attributes), as Fluent
//                         Bit's forward output sends them;
//   Beats                 Lumberjack v2 windows of ECS events (as _bulk's documents), zlib at
//                         libbeat's default level 3, as Filebeat's output.logstash sends them;
//   GELF                  GELF 1.1 messages (short_message, host, timestamp in seconds, syslog
//                         level, _service and the attributes as additional fields), NUL-ended over
//                         TCP as Docker's gelf driver writes them, one a line over HTTP.
import { ProtobufLogsSerializer, JsonLogsSerializer } from '@opentelemetry/otlp-transformer'
import { resourceFromAttributes } from '@opentelemetry/resources'
import type { Resource } from '@opentelemetry/resources'
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs'
import { ExtData, encode } from '@msgpack/msgpack'
import protobuf from 'protobufjs'
import snappy from 'snappy'
import { deflateSync } from 'node:zlib'
import type { RequestBody } from './loadgen.js'
import type { InputRecord, NdjsonBody } from './records.js'

const OTEL_SEVERITY: Record<string, number> = { trace: 1, debug: 5, info: 9, warn: 13, error: 17, fatal: 21 }
const SYSLOG_SEVERITY: Record<string, number> = { trace: 7, debug: 7, info: 6, warn: 4, error: 3, fatal: 2 }

const msToHr = (ms: number): [number, number] => [Math.floor(ms / 1000), (ms % 1000) * 1_000_000]

function otlpRecords(inputs: readonly InputRecord[]): ReadableLogRecord[] {
  // The serializers group records by resource and scope object identity, as the SDK hands them.
  const resources = new Map<string, Resource>()
  const scope = { name: 'bench', version: '1.0.0' }
  return inputs.map((r) => {
    let resource = resources.get(r.service)
    if (!resource) resources.set(r.service, (resource = resourceFromAttributes({ 'service.name': r.service, 'host.name': r.host })))
    const time = msToHr(Date.parse(r.timestamp))
    return {
      hrTime: time,
      hrTimeObserved: time,
      severityNumber: OTEL_SEVERITY[r.level],
      severityText: r.level.toUpperCase(),
      body: r.message,
      resource,
      instrumentationScope: scope,
      attributes: r.attributes,
      droppedAttributesCount: 0,
      ...(r.trace_id && r.span_id && { spanContext: { traceId: r.trace_id, spanId: r.span_id, traceFlags: 1 } }),
    }
  })
}

export function otlpProtobufBodies(bodies: readonly NdjsonBody[]): RequestBody[] {
  return bodies.map((b) => ({ body: Buffer.from(ProtobufLogsSerializer.serializeRequest(otlpRecords(b.inputs))!), records: b.records }))
}

export function otlpJsonBodies(bodies: readonly NdjsonBody[]): RequestBody[] {
  return bodies.map((b) => ({ body: Buffer.from(JsonLogsSerializer.serializeRequest(otlpRecords(b.inputs))!), records: b.records }))
}

// Loki's push.proto (pkg/push), the fields a client sets.
const LOKI_PROTO = `
syntax = "proto3";
package logproto;
message PushRequest { repeated StreamAdapter streams = 1; }
message StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3; }
message EntryAdapter { Timestamp timestamp = 1; string line = 2; repeated LabelPairAdapter structuredMetadata = 3; }
message LabelPairAdapter { string name = 1; string value = 2; }
message Timestamp { int64 seconds = 1; int32 nanos = 2; }
`
const PushRequest = protobuf.parse(LOKI_PROTO).root.lookupType('logproto.PushRequest')

export function lokiProtobufBodies(bodies: readonly NdjsonBody[]): RequestBody[] {
  return bodies.map((b) => {
    const streams = new Map<string, { labels: string; entries: object[] }>()
    for (const r of b.inputs) {
      const labels = `{service_name="${r.service}", level="${r.level}"}`
      let stream = streams.get(labels)
      if (!stream) streams.set(labels, (stream = { labels, entries: [] }))
      const ms = Date.parse(r.timestamp)
      const metadata = Object.entries({ ...r.attributes, host: r.host, ...(r.trace_id && { trace_id: r.trace_id }) }).map(([name, value]) => ({ name, value }))
      stream.entries.push({ timestamp: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 }, line: r.message, structuredMetadata: metadata })
    }
    const encoded = PushRequest.encode(PushRequest.fromObject({ streams: [...streams.values()] })).finish()
    return { body: snappy.compressSync(Buffer.from(encoded)), records: b.records }
  })
}

/** A record as an ECS document, as Filebeat and Fluent Bit write them. */
const ecsDocument = (r: InputRecord) => ({ '@timestamp': r.timestamp, message: r.message, 'log.level': r.level, 'service.name': r.service, 'host.name': r.host, ...(r.trace_id && { 'trace.id': r.trace_id, 'span.id': r.span_id }), ...r.attributes })

export function esBulkBodies(bodies: readonly NdjsonBody[]): RequestBody[] {
  const action = JSON.stringify({ create: { _index: 'logs-bench' } })
  return bodies.map((b) => {
    const lines: string[] = []
    for (const r of b.inputs) lines.push(action, JSON.stringify(ecsDocument(r)))
    return { body: Buffer.from(lines.join('\n') + '\n'), records: b.records }
  })
}

/** One Lumberjack v2 window per body: 2W and its count, then its events as 2J frames numbered from 1 inside one 2C zlib frame. */
export function beatsWindows(bodies: readonly NdjsonBody[]): RequestBody[] {
  const u32 = (n: number) => {
    const b = Buffer.alloc(4)
    b.writeUInt32BE(n)
    return b
  }
  return bodies.map((b) => {
    const frames = b.inputs.map((r, i) => {
      const json = Buffer.from(JSON.stringify(ecsDocument(r)))
      return Buffer.concat([Buffer.from('2J'), u32(i + 1), u32(json.length), json])
    })
    const z = deflateSync(Buffer.concat(frames), { level: 3 })
    return { body: Buffer.concat([Buffer.from('2W'), u32(b.inputs.length), Buffer.from('2C'), u32(z.length), z]), records: b.records }
  })
}

/**
 * Splunk HEC events as the OpenTelemetry Collector's splunk_hec exporter writes them: one JSON
 * object a record, one after another; epoch seconds to the millisecond, the host, the service as
 * the source, the body as the event, the attributes and the severity among the indexed fields.
 */
export function splunkHecBodies(bodies: readonly NdjsonBody[]): RequestBody[] {
  return bodies.map((b) => {
    const events = b.inputs.map((r) =>
      JSON.stringify({
        time: Date.parse(r.timestamp) / 1000,
        host: r.host,
        source: r.service,
        sourcetype: 'otel',
        index: 'main',
        event: r.message,
        fields: { ...r.attributes, 'otel.log.severity.text': r.level.toUpperCase(), 'otel.log.severity.number': OTEL_SEVERITY[r.level], ...(r.trace_id && { trace_id: r.trace_id, span_id: r.span_id }) },
      }),
    )
    return { body: Buffer.from(events.join('\n')), records: b.records }
  })
}

/**
 * Datadog intake bodies as Vector's datadog_logs sink writes them: a JSON array of logs, the
 * reserved attributes (message, status, service, hostname, ddsource, ddtags, timestamp in epoch
 * ms) beside the event's other fields.
 */
export function datadogBodies(bodies: readonly NdjsonBody[]): RequestBody[] {
  return bodies.map((b) => {
    const logs = b.inputs.map((r) => ({
      message: r.message,
      status: r.level,
      service: r.service,
      hostname: r.host,
      ddsource: 'nodejs',
      ddtags: `env:bench,service:${r.service}`,
      timestamp: Date.parse(r.timestamp),
      ...(r.trace_id && { trace_id: r.trace_id, span_id: r.span_id }),
      ...r.attributes,
    }))
    return { body: Buffer.from(JSON.stringify(logs)), records: b.records }
  })
}

const sdValue = (v: string) => v.replace(/["\\\]]/g, (c) => `\\${c}`)

/** One buffer of octet-counted RFC 5424 frames per body. */
export function syslogChunks(bodies: readonly NdjsonBody[]): RequestBody[] {
  return bodies.map((b) => {
    const frames = b.inputs.map((r) => {
      const pri = 8 + SYSLOG_SEVERITY[r.level]! // facility user
      const sd = `[meta@32473 ${Object.entries(r.attributes)
        .map(([k, v]) => `${k.replace(/[= \]"]/g, '_')}="${sdValue(v)}"`)
        .join(' ')}]`
      const frame = Buffer.from(`<${pri}>1 ${r.timestamp} ${r.host} ${r.service} - - ${sd} ${r.message}`)
      return Buffer.concat([Buffer.from(`${frame.length} `), frame])
    })
    return { body: Buffer.concat(frames), records: b.records }
  })
}

/** A record as a GELF 1.1 message. */
function gelfMessage(r: InputRecord): string {
  const extra = Object.fromEntries(Object.entries(r.attributes).map(([k, v]) => [`_${k}`, v]))
  return JSON.stringify({ version: '1.1', host: r.host, short_message: r.message, timestamp: Date.parse(r.timestamp) / 1000, level: SYSLOG_SEVERITY[r.level], _service: r.service, ...extra })
}

/** GELF over TCP: one buffer of NUL-ended messages per body. */
export function gelfTcpChunks(bodies: readonly NdjsonBody[]): RequestBody[] {
  return bodies.map((b) => ({ body: Buffer.from(b.inputs.map((r) => `${gelfMessage(r)}\0`).join('')), records: b.records }))
}

/** GELF over HTTP (POST /gelf): the messages of a body one a line. */
export function gelfHttpBodies(bodies: readonly NdjsonBody[]): RequestBody[] {
  return bodies.map((b) => ({ body: Buffer.from(b.inputs.map(gelfMessage).join('\n')), records: b.records }))
}

/** An EventTime (MessagePack extension 0: seconds and nanoseconds, big-endian) of an RFC 3339 time. */
function eventTime(iso: string): ExtData {
  const ms = Date.parse(iso)
  const bytes = new Uint8Array(8)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, Math.floor(ms / 1000))
  view.setUint32(4, (ms % 1000) * 1_000_000)
  return new ExtData(0, bytes)
}

/** One PackedForward message per body, its chunk asking for an acknowledgement. */
export function forwardMessages(bodies: readonly NdjsonBody[]): RequestBody[] {
  return bodies.map((b, i) => {
    const entries = b.inputs.map((r) => encode([eventTime(r.timestamp), { message: r.message, level: r.level, service: r.service, host: r.host, ...(r.trace_id && { trace_id: r.trace_id, span_id: r.span_id }), ...r.attributes }]))
    const packed = Buffer.concat(entries)
    return { body: Buffer.from(encode(['bench', packed, { size: b.records, chunk: `chunk-${i}` }])), records: b.records }
  })
}
