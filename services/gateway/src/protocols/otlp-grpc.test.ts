// OTLP/gRPC without a broker: the real OpenTelemetry JS SDK's gRPC exporter
// (@opentelemetry/exporter-logs-otlp-grpc, over @grpc/grpc-js) exports to the gateway's listener,
// which hands the records to a fake producer. Error statuses are read with a plain grpc-js call,
// as a Collector's exporter would get them (its retries would hide them from the SDK's result).
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { Client, Metadata, credentials, status } from '@grpc/grpc-js'
import type { ServiceError } from '@grpc/grpc-js'
import { DiagLogLevel, diag } from '@opentelemetry/api'
import { SeverityNumber } from '@opentelemetry/api-logs'
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc'
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs'
import type { LogRecordExporter } from '@opentelemetry/sdk-logs'
import { pino } from 'pino'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createProcessSecurity, hashKey, loadSecurityConfig } from '@sluice/auth'
import { createLogger, createRegistry } from '@sluice/observability'
import { makeCerts } from '../../../../test/infra/certs.js'
import { loadConfig } from '../config.js'
import { protocolContext } from '../service.js'
import { decoded, fakeProducer, jsonCodec } from '../test-fakes.js'
import { EXPORT_PATH, startOtlpGrpc } from './otlp-grpc.js'
import { spec } from './otlp-proto.js'

async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1')
  await once(s, 'listening')
  const { port } = s.address() as AddressInfo
  await new Promise((r) => s.close(r))
  return port
}

/** A gateway's OTLP/gRPC listener over a fake producer; with `auth`, SLUICE_AUTH=true and one ingest key for tenant acme. */
async function listener(opts: { auth?: boolean; env?: Record<string, string> } = {}) {
  const producer = fakeProducer()
  const config = loadConfig({ TOPIC_LOGS_RAW: 'raw', HOST: '127.0.0.1', GATEWAY_OTLP_GRPC_PORT: String(await freePort()), GATEWAY_MAX_RECORD_BYTES: '2000', ...opts.env })
  const audits: Array<Record<string, unknown>> = []
  const auditLog = pino({ level: 'info' }, { write: (line: string) => void audits.push((JSON.parse(line) as { audit: Record<string, unknown> }).audit) })
  const keys = { keys: [{ id: 'acme-ship', sha256: hashKey('acme-secret'), tenants: ['acme'], scopes: ['ingest'] }] }
  const security = opts.auth
    ? createProcessSecurity(loadSecurityConfig({ SLUICE_AUTH: true, SLUICE_API_KEYS: JSON.stringify(keys), SLUICE_API_KEYS_RELOAD_MS: 5000 }), { log: auditLog, retentionDays: 30 }).forService('gateway')
    : undefined
  const ctx = protocolContext(config, { logger: createLogger({ level: 'silent' }), registry: createRegistry({ defaultMetrics: false }), checks: {}, producer, codec: jsonCodec, ...(security && { security }) })
  const grpc = (await startOtlpGrpc(ctx))!
  onTestFinished(() => grpc.close())
  return { url: `http://${grpc.address}`, address: grpc.address, producer, audits, events: (): Array<Record<string, unknown>> => producer.sent.flatMap((s) => s.messages.map((m) => ({ ...decoded(m), key: String(m.key) }))) }
}

/** Runs one export of the SDK's records through `exporter`; resolves with its result code (0: success). */
function sdkExport(exporter: LogRecordExporter, emit: (logger: ReturnType<LoggerProvider['getLogger']>) => void): Promise<number> {
  return new Promise((resolve) => {
    const provider = new LoggerProvider({
      resource: resourceFromAttributes({ 'service.name': 'otel-grpc', 'host.name': 'node-9' }),
      processors: [
        new SimpleLogRecordProcessor({
          exporter: {
            export: (logs, done) =>
              exporter.export(logs, (r) => {
                resolve(r.code)
                done(r)
              }),
            shutdown: () => exporter.shutdown(),
            forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
          },
        }),
      ],
    })
    onTestFinished(() => provider.shutdown())
    emit(provider.getLogger('checkout', '1.0.0'))
  })
}

/** One Export call with `body` as the encoded request: the response's bytes, or the status it failed with. */
function call(address: string, body: Buffer, metadata: Record<string, string> = {}): Promise<{ response?: Buffer; error?: ServiceError }> {
  const client = new Client(address, credentials.createInsecure())
  onTestFinished(() => client.close())
  const md = new Metadata()
  for (const [k, v] of Object.entries(metadata)) md.set(k, v)
  return new Promise((resolve) => {
    client.makeUnaryRequest(EXPORT_PATH, (b: Buffer) => b, (b: Buffer) => b, body, md, (error, response) => resolve(error ? { error } : { response: response! }))
  })
}

const request = (messages: string[]) =>
  Buffer.from(
    spec.ExportLogsServiceRequest.encode(
      spec.ExportLogsServiceRequest.fromObject({ resourceLogs: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'raw-grpc' } }] }, scopeLogs: [{ logRecords: messages.map((m) => ({ body: { stringValue: m } })) }] }] }),
    ).finish(),
  )

describe('OTLP/gRPC: LogsService/Export', () => {
  it("stores what the OpenTelemetry SDK's gRPC exporter sends, plain and gzip, under the tenant its metadata names", async () => {
    const gw = await listener()
    for (const compression of [CompressionAlgorithm.NONE, CompressionAlgorithm.GZIP]) {
      const metadata = new Metadata()
      metadata.set('x-sluice-tenant', 'shop')
      const exporter = new OTLPLogExporter({ url: gw.url, metadata, compression })
      const code = await sdkExport(exporter, (logger) => {
        logger.emit({ severityNumber: SeverityNumber.ERROR, severityText: 'ERROR', body: `payment declined (${compression})`, attributes: { order_id: '42' } })
      })
      expect(code).toBe(0)
    }
    const events = gw.events()
    expect(events.map((e) => e.message)).toEqual(['payment declined (none)', 'payment declined (gzip)'])
    for (const e of events) {
      expect(e).toMatchObject({ tenant: 'shop', service: 'otel-grpc', host: 'node-9', severity_number: 17, source: 'otlp', key: 'shop/otel-grpc' })
      expect(e.attributes).toMatchObject({ order_id: '42' })
    }
  })

  it("over TLS (GATEWAY_OTLP_GRPC_TLS), with a client certificate where GATEWAY_TLS_CLIENT_CA_FILE asks for one: the SDK's exporter verifying the gateway", async () => {
    const certs = await makeCerts()
    onTestFinished(() => certs.remove())
    const gw = await listener({ env: { GATEWAY_OTLP_GRPC_TLS: 'true', GATEWAY_TLS_CERT_FILE: certs.certFile, GATEWAY_TLS_KEY_FILE: certs.keyFile, GATEWAY_TLS_CLIENT_CA_FILE: certs.caFile } })
    const url = `https://localhost:${gw.address.split(':').at(-1)}`
    const ca = readFileSync(certs.caFile)
    const withCert = new OTLPLogExporter({ url, credentials: credentials.createSsl(ca, readFileSync(certs.clientKeyFile), readFileSync(certs.clientCertFile)) })
    expect(await sdkExport(withCert, (logger) => logger.emit({ body: 'exported over tls' }))).toBe(0)
    // Without the client certificate, and in plain text: refused at the handshake, nothing stored.
    const noCert = new OTLPLogExporter({ url, credentials: credentials.createSsl(ca), timeoutMillis: 3000 })
    expect(await sdkExport(noCert, (logger) => logger.emit({ body: 'no client certificate' }))).not.toBe(0)
    const plain = await call(gw.address, request(['in plain text']))
    expect(plain.error?.code).toBe(status.UNAVAILABLE)
    expect(gw.events().map((e) => e.message)).toEqual(['exported over tls'])
  })

  it('reports the records it refused in partial_success and stores the others', async () => {
    const gw = await listener()
    const { response } = await call(gw.address, request(['fine', 'x'.repeat(5000), 'also fine']))
    const answer = spec.ExportLogsServiceResponse.toObject(spec.ExportLogsServiceResponse.decode(response!)) as { partialSuccess?: { rejectedLogRecords: unknown; errorMessage: string } }
    expect(Number(answer.partialSuccess?.rejectedLogRecords)).toBe(1)
    expect(answer.partialSuccess?.errorMessage).toMatch(/^1: /)
    expect(gw.events().map((e) => e.message)).toEqual(['fine', 'also fine'])
  })

  it('answers INVALID_ARGUMENT to bytes that are no request, and UNAVAILABLE (retry) while Kafka is down, storing nothing', async () => {
    const gw = await listener()
    const unreadable = await call(gw.address, Buffer.from([0x0a, 0xff, 0xff, 0xff]))
    expect(unreadable.error?.code).toBe(status.INVALID_ARGUMENT)
    gw.producer.fail = true
    const down = await call(gw.address, request(['while down']))
    expect(down.error?.code).toBe(status.UNAVAILABLE)
    expect(down.error?.details).toMatch(/Kafka/)
    expect(gw.events()).toEqual([])
  })

  it('with SLUICE_AUTH=true takes the tenant from the key, refuses no key and another tenant, and audits the refusals', async () => {
    const gw = await listener({ auth: true })
    expect((await call(gw.address, request(['no key']))).error?.code).toBe(status.UNAUTHENTICATED)
    expect((await call(gw.address, request(['bad key']), { authorization: 'Bearer nope' })).error?.code).toBe(status.UNAUTHENTICATED)
    expect((await call(gw.address, request(['other tenant']), { authorization: 'Bearer acme-secret', 'x-scope-orgid': 'beta' })).error?.code).toBe(status.PERMISSION_DENIED)
    expect((await call(gw.address, request(['ok']), { authorization: 'Bearer acme-secret' })).response).toBeDefined()
    expect(gw.events().map((e) => [e.tenant, e.message])).toEqual([['acme', 'ok']])
    expect(gw.audits.filter((a) => a.action === 'auth.refused')).toHaveLength(3)
  })

  it('refuses a message over GATEWAY_MAX_BODY_BYTES with RESOURCE_EXHAUSTED, unread', async () => {
    const gw = await listener({ env: { GATEWAY_MAX_BODY_BYTES: '10000' } })
    const { error } = await call(gw.address, request(Array.from({ length: 100 }, (_, i) => `line ${i} ${'y'.repeat(100)}`)))
    expect(error?.code).toBe(status.RESOURCE_EXHAUSTED)
    expect(gw.events()).toEqual([])
  })
})

// The exporters log through the OpenTelemetry API's diagnostic logger; keep it quiet here.
diag.setLogger({ error: () => {}, warn: () => {}, info: () => {}, debug: () => {}, verbose: () => {} }, DiagLogLevel.NONE)
