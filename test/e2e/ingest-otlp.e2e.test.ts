// OTLP/HTTP end to end with the real OpenTelemetry JS SDK: a LoggerProvider whose exporters
// (@opentelemetry/exporter-logs-otlp-proto and -otlp-http, i.e. protobuf and JSON) point at the
// gateway; the records go through Kafka, the enricher and the ClickHouse sink and are read back
// from the query API with every field as the SDK sent it. Also: a record the gateway refuses is
// reported to the SDK as partial success while the others of its request are stored.
import { ROOT_CONTEXT, DiagLogLevel, diag, trace } from '@opentelemetry/api'
import type { DiagLogger } from '@opentelemetry/api'
import { SeverityNumber } from '@opentelemetry/api-logs'
import { OTLPLogExporter as JsonExporter } from '@opentelemetry/exporter-logs-otlp-http'
import { OTLPLogExporter as ProtoExporter } from '@opentelemetry/exporter-logs-otlp-proto'
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs'
import type { LogRecordExporter } from '@opentelemetry/sdk-logs'
import { describe, expect, it, onTestFinished } from 'vitest'
import { queryLogs } from '../infra/logs.js'
import type { StoredLog } from '../infra/logs.js'
import { isolation, startSluice, waitFor } from '../infra/sluice.js'

type ExportResult = Parameters<Parameters<LogRecordExporter['export']>[1]>[0]
/** ExportResultCode.SUCCESS (@opentelemetry/core). */
const SUCCESS = 0

/** The exporter as the SDK uses it, keeping what each export reported back. */
function recording(exporter: LogRecordExporter, results: ExportResult[]): LogRecordExporter {
  return {
    export: (logs, done) =>
      exporter.export(logs, (result) => {
        results.push(result)
        done(result)
      }),
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  }
}

/** Warnings of the OpenTelemetry API's diagnostic logger, where exporters report partial success. */
function diagWarnings(): string[] {
  const warnings: string[] = []
  const ignore = () => {}
  const logger: DiagLogger = { error: ignore, info: ignore, debug: ignore, verbose: ignore, warn: (message, ...args) => warnings.push([message, ...args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a)))].join(' ')) }
  diag.setLogger(logger, DiagLogLevel.WARN)
  onTestFinished(() => diag.disable())
  return warnings
}

const logsOf = (queryApi: string, service: string, tenant: string): Promise<StoredLog[]> => queryLogs(queryApi, { service, tenant, limit: '100' })

// A recent event time (older ones would fall outside the table's TTL), with nanoseconds a
// millisecond clock could not have produced.
const SECONDS = Math.floor(Date.now() / 1000) - 600
const at = (i: number): [number, number] => [SECONDS + i, 123_456_789]
const iso = (i: number) => `${new Date((SECONDS + i) * 1000).toISOString().slice(0, 19)}.123456789Z`

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
const SPAN_ID = '00f067aa0ba902b7'

const EXPORTS = [
  { name: 'proto', path: '/v1/logs', exporter: (url: string, headers: Record<string, string>) => new ProtoExporter({ url, headers }) },
  { name: 'json', path: '/v1/logs', exporter: (url: string, headers: Record<string, string>) => new JsonExporter({ url, headers }) },
  { name: 'proto-gzip', path: '/otlp/v1/logs', exporter: (url: string, headers: Record<string, string>) => new ProtoExporter({ url, headers, compression: CompressionAlgorithm.GZIP }) },
  { name: 'json-otlp', path: '/otlp/v1/logs', exporter: (url: string, headers: Record<string, string>) => new JsonExporter({ url, headers }) },
] as const

describe('OTLP/HTTP end to end', () => {
  it('stores what the OpenTelemetry JS SDK exports as protobuf and JSON, every field as sent', async () => {
    const rt = await startSluice(['gateway', 'enricher', 'clickhouse-sink', 'query-api'], isolation())
    const gw = rt.addresses.gateway!
    const q = rt.addresses['query-api']!
    const tenant = 'otel-e2e'

    for (const [n, e] of EXPORTS.entries()) {
      const results: ExportResult[] = []
      const provider = new LoggerProvider({
        resource: resourceFromAttributes({ 'service.name': `otel-${e.name}`, 'host.name': 'node-7', 'deployment.environment': 'e2e' }),
        processors: [new BatchLogRecordProcessor({ exporter: recording(e.exporter(`${gw}${e.path}`, { 'x-sluice-tenant': tenant }), results) })],
      })
      const logger = provider.getLogger('checkout.payments', '2.1.0')
      const context = trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1 })
      logger.emit({
        timestamp: at(n * 10),
        severityNumber: SeverityNumber.WARN,
        severityText: 'WARN',
        body: `card declined via ${e.name}`,
        eventName: 'payment.declined',
        attributes: { 'http.route': '/pay', order: { id: 'o-1', total: 12.5, lines: { count: 2 } }, tags: ['a', 'b'], attempt: 3, retried: true },
        context,
      })
      logger.emit({ timestamp: at(n * 10 + 1), severityNumber: SeverityNumber.INFO2, severityText: 'notice', body: { orderId: 'o-2', items: 3 } })
      logger.emit({ timestamp: at(n * 10 + 2), severityText: 'error', body: 'no severity number' })
      await provider.forceFlush()
      expect(results.map((r) => [r.code, r.error?.message])).toEqual([[SUCCESS, undefined]])
      await provider.shutdown()

      const logs = await waitFor(`the ${e.name} records in ClickHouse`, async () => {
        const l = await logsOf(q, `otel-${e.name}`, tenant)
        return l.length >= 3 ? l : undefined
      })
      expect(logs).toHaveLength(3)
      const [errorOnly, structured, declined] = logs // newest first
      const shared = { service: `otel-${e.name}`, host: 'node-7', tenant, source: 'otlp' }
      expect(declined).toMatchObject({
        ...shared,
        timestamp: iso(n * 10),
        severity_text: 'WARN',
        severity_number: 13,
        message: `card declined via ${e.name}`,
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
      // service.name and host.name became service and host.
      expect(declined!.resource).toEqual({ 'deployment.environment': 'e2e' })
      expect(structured).toMatchObject({ ...shared, timestamp: iso(n * 10 + 1), severity_text: 'INFO', severity_number: 10, message: '{"orderId":"o-2","items":3}', trace_id: null, span_id: null })
      expect(structured!.attributes).toMatchObject({ 'log.level': 'notice', 'otel.scope.name': 'checkout.payments' })
      expect(errorOnly).toMatchObject({ ...shared, timestamp: iso(n * 10 + 2), severity_text: 'ERROR', severity_number: 17, message: 'no severity number' })
    }
  })

  it('reports a record the gateway refuses as partial success to the SDK, and stores the rest of its request', async () => {
    const rt = await startSluice(['gateway', 'enricher', 'clickhouse-sink', 'query-api'], isolation({ GATEWAY_MAX_RECORD_BYTES: '8000' }))
    const gw = rt.addresses.gateway!
    const q = rt.addresses['query-api']!
    const warnings = diagWarnings()

    for (const e of [EXPORTS[0], EXPORTS[3]]) {
      const results: ExportResult[] = []
      const provider = new LoggerProvider({
        resource: resourceFromAttributes({ 'service.name': `partial-${e.name}` }),
        processors: [new BatchLogRecordProcessor({ exporter: recording(e.exporter(`${gw}${e.path}`, {}), results) })],
      })
      const logger = provider.getLogger('partial')
      logger.emit({ severityNumber: SeverityNumber.INFO, body: 'kept before' })
      logger.emit({ severityNumber: SeverityNumber.INFO, body: 'x'.repeat(20_000) })
      logger.emit({ severityNumber: SeverityNumber.ERROR, body: 'kept after' })
      await provider.forceFlush()
      await provider.shutdown()

      // A partial success is a success to the exporter; it reports the rest as a warning.
      expect(results.map((r) => r.code)).toEqual([SUCCESS])
      const warning = warnings.find((w) => w.includes('Partial Success'))
      expect(warning).toMatch(/"rejectedLogRecords":"?1"?/)
      expect(warning).toMatch(/"errorMessage":"1: record is \d+ bytes encoded; the limit is 8000"/)
      warnings.splice(0, warnings.length)

      const logs = await waitFor(`the kept ${e.name} records`, async () => {
        const l = await logsOf(q, `partial-${e.name}`, 'default')
        return l.length >= 2 ? l : undefined
      })
      expect(logs.map((l) => l.message).sort()).toEqual(['kept after', 'kept before'])
      // Nothing of the refused record shows up later either.
      await new Promise((r) => setTimeout(r, 1000))
      expect(await logsOf(q, `partial-${e.name}`, 'default')).toHaveLength(2)
    }
  })
})
