// The real OpenTelemetry Collector in front of the real pipeline: README tells Collector users to
// point an otlphttp or a gRPC otlp exporter at the gateway, and this suite is what keeps that true. The Collector
// is built from the upstream Go modules (test/shippers/otelcol, by test/shippers/build-go.sh:
// minutes cold, seconds from Go's build cache) and run as a child process with a generated config
// (test/infra/collector.ts).
//   - otlp receiver → batch → otlphttp exporter, as protobuf and as JSON (gzip-compressed, the
//     exporter's default), as protobuf compressed with zstd, snappy, framed snappy, zlib and lz4, and
//     → the gRPC otlp exporter (OTLP/gRPC, GATEWAY_OTLP_GRPC_PORT): what
//     the OpenTelemetry JS SDK sends into the Collector arrives in ClickHouse with every field as
//     the SDK sent it.
//   - filelog receiver → batch → otlphttp: lines of a file, parsed for time and level by the
//     Collector, arrive as records of the service the config names.
// The contrib elasticsearch exporter is not built (the Go module proxy serves no version of it),
// so the Collector's Elasticsearch path is not covered here.
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { ROOT_CONTEXT, trace } from '@opentelemetry/api'
import { SeverityNumber } from '@opentelemetry/api-logs'
import { OTLPLogExporter as ProtoExporter } from '@opentelemetry/exporter-logs-otlp-proto'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs'
import type { LogRecordExporter } from '@opentelemetry/sdk-logs'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { ERROR_LINE, TELEMETRY, buildCollector, delivered, startCollector, stopCollectors } from '../infra/collector.js'
import { queryLogs } from '../infra/logs.js'
import type { StoredLog } from '../infra/logs.js'
import { isolation, startSluice } from '../infra/sluice.js'
import { freePort } from '../infra/ports.js'

type ExportResult = Parameters<Parameters<LogRecordExporter['export']>[1]>[0]
/** ExportResultCode.SUCCESS (@opentelemetry/core). */
const SUCCESS = 0

const logsOf = (queryApi: string, service: string, tenant: string): Promise<StoredLog[]> => queryLogs(queryApi, { service, tenant, limit: '100' })

// A recent event time (older ones would fall outside the table's TTL), with nanoseconds a
// millisecond clock could not have produced.
const SECONDS = Math.floor(Date.now() / 1000) - 600
const at = (i: number): [number, number] => [SECONDS + i, 123_456_789]
const iso = (i: number) => `${new Date((SECONDS + i) * 1000).toISOString().slice(0, 19)}.123456789Z`

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
const SPAN_ID = '00f067aa0ba902b7'

// `otlphttp` (README's spelling) is the name every Collector release knows; by v0.160 it became a
// deprecated alias of `otlp_http` (a warning at start), so both spellings are tested.
// The gRPC exporter (`otlp`, `otlp_grpc` since v0.160) sends to GATEWAY_OTLP_GRPC_PORT.
const OTLP_CASES = [
  { name: 'proto', exporter: 'otlphttp/sluice', settings: {}, grpc: false },
  { name: 'json', exporter: 'otlp_http/sluice', settings: { encoding: 'json' }, grpc: false },
  // The exporter's other compressions: zstd (its klauspost encoder, windows within RFC 9659's 8 MB),
  // snappy (one block), x-snappy-framed (the framing format), zlib (deflate) and lz4 (pierrec/lz4's
  // frames).
  ...(['zstd', 'snappy', 'x-snappy-framed', 'zlib', 'lz4'] as const).map((compression) => ({ name: compression, exporter: 'otlphttp/sluice', settings: { compression }, grpc: false }) as const),
  { name: 'grpc', exporter: 'otlp_grpc/sluice', settings: { tls: { insecure: true } }, grpc: true },
] as const

describe('OpenTelemetry Collector → gateway end to end', () => {
  beforeAll(async () => {
    await buildCollector()
  }, 600_000)

  afterAll(stopCollectors)

  it.for(OTLP_CASES)('delivers what the JS SDK sends to its otlp receiver through the $exporter exporter as $name, every field as sent', async (c) => {
    const grpcPort = c.grpc ? await freePort() : 0
    const rt = await startSluice(['gateway', 'enricher', 'clickhouse-sink', 'query-api'], isolation({ GATEWAY_OTLP_GRPC_PORT: String(grpcPort) }))
    const q = rt.addresses['query-api']!
    const tenant = 'otelcol-e2e'
    const port = await freePort()
    const collector = await startCollector({
      receivers: { otlp: { protocols: { http: { endpoint: `127.0.0.1:${port}` } } } },
      processors: { batch: {} },
      // An HTTP exporter appends /v1/logs to the endpoint itself; the gRPC one takes host:port.
      exporters: { [c.exporter]: { endpoint: c.grpc ? `127.0.0.1:${grpcPort}` : rt.addresses.gateway!, headers: { 'x-sluice-tenant': tenant }, ...c.settings } },
      service: { telemetry: TELEMETRY, pipelines: { logs: { receivers: ['otlp'], processors: ['batch'], exporters: [c.exporter] } } },
    })

    const results: ExportResult[] = []
    const exporter = new ProtoExporter({ url: `http://127.0.0.1:${port}/v1/logs` })
    const recording: LogRecordExporter = {
      export: (logs, done) =>
        exporter.export(logs, (result) => {
          results.push(result)
          done(result)
        }),
      shutdown: () => exporter.shutdown(),
      forceFlush: () => exporter.forceFlush(),
    }
    const provider = new LoggerProvider({
      resource: resourceFromAttributes({ 'service.name': `otelcol-${c.name}`, 'host.name': 'node-7', 'deployment.environment': 'e2e' }),
      processors: [new BatchLogRecordProcessor({ exporter: recording })],
    })
    const logger = provider.getLogger('checkout.payments', '2.1.0')
    logger.emit({
      timestamp: at(0),
      severityNumber: SeverityNumber.WARN,
      severityText: 'WARN',
      body: `card declined via the Collector as ${c.name}`,
      eventName: 'payment.declined',
      attributes: { 'http.route': '/pay', order: { id: 'o-1', total: 12.5, lines: { count: 2 } }, tags: ['a', 'b'], attempt: 3, retried: true },
      context: trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1 }),
    })
    logger.emit({ timestamp: at(1), severityNumber: SeverityNumber.INFO2, severityText: 'notice', body: { orderId: 'o-2', items: 3 } })
    logger.emit({ timestamp: at(2), severityText: 'error', body: 'no severity number' })
    await provider.forceFlush()
    await provider.shutdown()
    // The Collector's receiver took them: from here on, delivery is the Collector's doing.
    expect(results.map((r) => [r.code, r.error?.message])).toEqual([[SUCCESS, undefined]])

    const logs = await delivered(collector, `the ${c.name} records in ClickHouse`, () => logsOf(q, `otelcol-${c.name}`, tenant), 3)
    expect(logs).toHaveLength(3)
    const [errorOnly, structured, declined] = logs // newest first
    const shared = { service: `otelcol-${c.name}`, host: 'node-7', tenant, source: 'otlp' }
    expect(declined).toMatchObject({
      ...shared,
      timestamp: iso(0),
      severity_text: 'WARN',
      severity_number: 13,
      message: `card declined via the Collector as ${c.name}`,
      trace_id: TRACE_ID,
      span_id: SPAN_ID,
      attributes: {
        'http.route': '/pay',
        'order.id': 'o-1',
        'order.total': '12.5',
        'order.lines.count': '2',
        tags: '["a","b"]',
        attempt: '3',
        retried: 'true',
        'event.name': 'payment.declined',
        'otel.scope.name': 'checkout.payments',
        'otel.scope.version': '2.1.0',
      },
    })
    expect(declined!.attributes).not.toHaveProperty('log.level')
    expect(declined!.resource).toEqual({ 'deployment.environment': 'e2e' })
    expect(structured).toMatchObject({ ...shared, timestamp: iso(1), severity_text: 'INFO', severity_number: 10, message: '{"orderId":"o-2","items":3}', trace_id: null, span_id: null })
    expect(structured!.attributes).toMatchObject({ 'log.level': 'notice', 'otel.scope.name': 'checkout.payments' })
    expect(errorOnly).toMatchObject({ ...shared, timestamp: iso(2), severity_text: 'ERROR', severity_number: 17, message: 'no severity number' })
    // A refused request or a partial success would have been logged by the exporter.
    expect(collector.stderr()).not.toMatch(ERROR_LINE)
    expect(collector.stderr()).not.toMatch(/[Pp]artial success/)
  })

  it('delivers the lines its filelog receiver reads and parses, through the otlphttp exporter', async () => {
    const rt = await startSluice(['gateway', 'enricher', 'clickhouse-sink', 'query-api'], isolation())
    const q = rt.addresses['query-api']!
    const tenant = 'otelcol-files'
    const dir = mkdtempSync(path.join(tmpdir(), 'sluice-filelog-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const file = path.join(dir, 'app.log')
    const ms = Math.floor(Date.now() / 1000) * 1000 - 600_000
    const line = (dt: number, level: string, message: string) => `${new Date(ms + dt).toISOString()} ${level} ${message}\n`
    const stored = (dt: number) => new Date(ms + dt).toISOString().replace('Z', '000000Z')
    // Lines written before the Collector starts (start_at: beginning) and one it tails after.
    writeFileSync(file, line(1, 'ERROR', 'payment declined for order 42') + line(2, 'INFO', 'cart saved'))

    const collector = await startCollector({
      receivers: {
        filelog: {
          include: [path.join(dir, '*.log')],
          start_at: 'beginning',
          operators: [
            { type: 'regex_parser', regex: '^(?P<time>\\S+) (?P<level>\\S+) (?P<message>.*)$', timestamp: { parse_from: 'attributes.time', layout_type: 'gotime', layout: '2006-01-02T15:04:05.999999999Z07:00' }, severity: { parse_from: 'attributes.level' } },
            { type: 'move', from: 'attributes.message', to: 'body' },
            { type: 'remove', field: 'attributes.time' },
            { type: 'remove', field: 'attributes.level' },
            { type: 'add', field: 'resource["service.name"]', value: 'checkout-files' },
          ],
        },
      },
      processors: { batch: {} },
      exporters: { 'otlphttp/sluice': { endpoint: rt.addresses.gateway!, headers: { 'x-sluice-tenant': tenant } } },
      service: { telemetry: TELEMETRY, pipelines: { logs: { receivers: ['filelog'], processors: ['batch'], exporters: ['otlphttp/sluice'] } } },
    })
    appendFileSync(file, line(3, 'WARN', 'card expires soon'))

    const logs = await delivered(collector, 'the file’s lines in ClickHouse', () => logsOf(q, 'checkout-files', tenant), 3)
    // A moment later: each line once, none sent twice.
    await new Promise((r) => setTimeout(r, 1000))
    expect(await logsOf(q, 'checkout-files', tenant)).toHaveLength(3)
    // The file's name is the filelog receiver's own attribute, the receiver is the scope (at the
    // Collector's version); the parsed fields were removed by the config.
    const attributes = { 'log.file.name': 'app.log', 'otel.scope.name': 'github.com/open-telemetry/opentelemetry-collector-contrib/receiver/filelogreceiver', 'otel.scope.version': expect.any(String) }
    const shared = { service: 'checkout-files', host: null, tenant, source: 'otlp', trace_id: null, span_id: null, attributes, resource: {} }
    expect(logs).toEqual([
      expect.objectContaining({ ...shared, timestamp: stored(3), severity_text: 'WARN', severity_number: 13, message: 'card expires soon' }),
      expect.objectContaining({ ...shared, timestamp: stored(2), severity_text: 'INFO', severity_number: 9, message: 'cart saved' }),
      expect.objectContaining({ ...shared, timestamp: stored(1), severity_text: 'ERROR', severity_number: 17, message: 'payment declined for order 42' }),
    ])
    expect(collector.stderr()).not.toMatch(ERROR_LINE)
  })
})
