// The gateway's doors with SLUICE_AUTH=true, driven by real shippers' clients through a real
// runtime, read back from the raw topic: the OpenTelemetry SDK's OTLP exporter sending its key as
// a Bearer header, winston-loki with basic auth (the key as password, as Promtail and Alloy send
// it), the official Elasticsearch client with an API key and with basic auth. Without a key each
// client is refused and nothing is written; every record is stored under its key's tenant, a
// multi-tenant key choosing by X-Scope-OrgID. And a tenant over its ingest limit: 429s with
// Retry-After, and in Kafka exactly the records the gateway said it accepted.
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { Client, errors as esErrors } from '@elastic/elasticsearch'
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs'
import type { LogRecordExporter } from '@opentelemetry/sdk-logs'
import { describe, expect, it, onTestFinished } from 'vitest'
import winston from 'winston'
import LokiTransport from 'winston-loki'
import { hashKey } from '@sluice/auth'
import type { LogEvent } from '@sluice/core'
import { createKafka } from '@sluice/kafka'
import { AvroCodec, createRegistryClient, loadAvsc } from '@sluice/registry'
import { createLogger } from '@sluice/observability'
import { isolation, startSluice, waitFor } from '../infra/sluice.js'
import type { Isolation } from '../infra/sluice.js'

const KEYS = {
  keys: [
    { id: 'acme-ship', sha256: hashKey('acme-ingest-key'), tenants: ['acme'], scopes: ['ingest'] },
    { id: 'acme-read', sha256: hashKey('acme-query-key'), tenants: ['acme'], scopes: ['query'] },
    { id: 'ops', sha256: hashKey('ops-ingest-key'), tenants: ['acme', 'beta'], scopes: ['ingest'] },
    { id: 'limited', sha256: hashKey('limited-key'), tenants: ['limited'], scopes: ['ingest'] },
  ],
}

/** A runtime of the gateway alone with keys required, one partition (the topic reads in produce order). */
async function gateway(): Promise<{ gw: string; iso: Isolation }> {
  const base = isolation()
  const tenantsFile = path.join(base.dataDir, 'tenants.json')
  // `limited`: a bucket of 6 records refilled at one a second — the test sends far faster.
  writeFileSync(tenantsFile, JSON.stringify({ tenants: { limited: { ingest_records_per_second: 1, ingest_burst_seconds: 6 } } }))
  const iso = { ...base, env: { ...base.env, SLUICE_AUTH: 'true', SLUICE_API_KEYS: JSON.stringify(KEYS), SLUICE_TENANTS_FILE: tenantsFile, KAFKA_TOPIC_PARTITIONS: '1' } }
  const rt = await startSluice(['gateway'], iso)
  return { gw: rt.addresses.gateway!, iso }
}

/** The raw topic as it is read, decoded: `until` says when enough has been read. */
async function readTopic(iso: Isolation, until: (events: Array<LogEvent & { key: string }>) => boolean): Promise<Array<LogEvent & { key: string }>> {
  const logger = createLogger({ level: 'warn' })
  const kafka = createKafka({ brokers: iso.env.KAFKA_BROKERS!.split(','), clientId: 'auth-e2e', logger })
  const codec = await AvroCodec.register<LogEvent>(createRegistryClient(iso.env.SCHEMA_REGISTRY_URL!), `${iso.topicRaw}-value`, loadAvsc('log-event.avsc'))
  const consumer = kafka.consumer({ groupId: `auth-reader-${iso.database}` })
  await consumer.connect()
  onTestFinished(() => consumer.disconnect())
  await consumer.subscribe({ topic: iso.topicRaw, fromBeginning: true })
  const events: Array<LogEvent & { key: string }> = []
  await consumer.run({ eachMessage: async ({ message }) => void events.push({ ...(await codec.decode(message.value)), key: String(message.key) }) })
  await waitFor('the records in the raw topic', async () => (until(events) ? true : undefined))
  return events
}

type ExportResult = Parameters<Parameters<LogRecordExporter['export']>[1]>[0]

/** Emits `messages` through the OTel SDK's protobuf exporter with `headers`; what the export reported. */
async function otelExport(url: string, headers: Record<string, string>, messages: string[]): Promise<ExportResult[]> {
  const results: ExportResult[] = []
  const exporter = new OTLPLogExporter({ url: `${url}/otlp/v1/logs`, headers })
  const recording: LogRecordExporter = {
    export: (logs, done) => exporter.export(logs, (r) => done((results.push(r), r))),
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush(),
  }
  const provider = new LoggerProvider({ resource: resourceFromAttributes({ 'service.name': 'otel-auth' }), processors: [new BatchLogRecordProcessor({ exporter: recording })] })
  for (const body of messages) provider.getLogger('e2e').emit({ body })
  await provider.forceFlush()
  await provider.shutdown()
  return results
}

/** Pushes `lines` with winston-loki (snappy protobuf) and `opts`; the connection errors it reports (also later). */
async function lokiPush(host: string, opts: { basicAuth?: string; headers?: Record<string, string> }, lines: string[]): Promise<unknown[]> {
  const errors: unknown[] = []
  const transport = new LokiTransport({ host, ...opts, labels: { app: 'loki-auth' }, interval: 3600, gracefulShutdown: false, onConnectionError: (err) => errors.push(err), format: winston.format.printf((i) => String(i.message)) })
  const logger = winston.createLogger({ transports: [transport] })
  for (const l of lines) logger.info(l)
  logger.end()
  await new Promise((resolve) => logger.on('finish', resolve))
  await transport.close()
  return errors
}

describe('ingest with SLUICE_AUTH=true, end to end', () => {
  it('takes each real client’s key in the form it sends it, stores under the key’s tenant, and refuses clients without one', async () => {
    const { gw, iso } = await gateway()

    // OTel SDK: no key → the export fails with 401 (not retried); a Bearer key → stored as acme.
    const refused = await otelExport(gw, {}, ['otel no key'])
    expect(refused.map((r) => r.code)).toEqual([1])
    expect(String(refused[0]!.error?.message)).toMatch(/401|Unauthorized/i)
    expect((await otelExport(gw, { Authorization: 'Bearer acme-ingest-key' }, ['otel bearer'])).map((r) => r.code)).toEqual([0])
    // A query-only key: 403.
    expect((await otelExport(gw, { Authorization: 'Bearer acme-query-key' }, ['otel query key'])).map((r) => r.code)).toEqual([1])

    // winston-loki: basic auth with the key as password; a multi-tenant key choosing by X-Scope-OrgID
    // (stored: see the topic below).
    await lokiPush(gw, { basicAuth: 'promtail:acme-ingest-key' }, ['loki basic'])
    await lokiPush(gw, { basicAuth: 'ops:ops-ingest-key', headers: { 'X-Scope-OrgID': 'beta' } }, ['loki chosen'])
    // What the transport reports may come after its close: waited for.
    const notMine = await lokiPush(gw, { basicAuth: 'promtail:acme-ingest-key', headers: { 'X-Scope-OrgID': 'beta' } }, ['loki not mine'])
    const [forbidden] = await waitFor('winston-loki’s connection error', async () => (notMine.length > 0 ? notMine : undefined))
    expect(forbidden).toMatchObject({ statusCode: 403, responseBody: 'API key acme-ship may not act as tenant beta\n' })

    // The official Elasticsearch client: refused on its first call without credentials, then an
    // API key (Beats' `api_key: id:key`) and basic auth.
    const anonymous = new Client({ node: gw })
    onTestFinished(() => anonymous.close())
    const denied = await anonymous.info().catch((err: unknown) => err)
    expect(denied).toBeInstanceOf(esErrors.ResponseError)
    expect((denied as InstanceType<typeof esErrors.ResponseError>).statusCode).toBe(401)
    expect((denied as InstanceType<typeof esErrors.ResponseError>).body).toMatchObject({ error: { type: 'security_exception' }, status: 401 })
    const withApiKey = new Client({ node: gw, auth: { apiKey: { id: 'filebeat', api_key: 'acme-ingest-key' } } })
    onTestFinished(() => withApiKey.close())
    expect((await withApiKey.info()).tagline).toBe('You Know, for Search')
    const bulk = await withApiKey.bulk({ operations: [{ create: { _index: 'app-logs' } }, { message: 'es api key', service: { name: 'es-auth' } }] })
    expect(bulk.errors).toBe(false)
    const withBasic = new Client({ node: gw, auth: { username: 'elastic', password: 'ops-ingest-key' }, headers: { 'X-Scope-OrgID': 'beta' } })
    onTestFinished(() => withBasic.close())
    expect((await withBasic.bulk({ operations: [{ create: { _index: 'app-logs' } }, { message: 'es basic', service: { name: 'es-auth' } }] })).errors).toBe(false)

    // curl's way, with a record naming another tenant among its own.
    const curl = await fetch(`${gw}/v1/logs`, { method: 'POST', headers: { authorization: 'Bearer acme-ingest-key', 'content-type': 'application/json' }, body: JSON.stringify([{ message: 'curl mine' }, { message: 'curl theirs', tenant: 'beta' }]) })
    expect(curl.status).toBe(207)

    // winston-loki may still be sending when its close() returned: the order across clients is not asserted.
    const expected = [
      ['acme', 'curl mine'],
      ['acme', 'es api key'],
      ['acme', 'loki basic'],
      ['acme', 'otel bearer'],
      ['beta', 'es basic'],
      ['beta', 'loki chosen'],
    ]
    const events = await readTopic(iso, (e) => e.length >= expected.length)
    expect(events.map((e) => [e.tenant, e.message]).sort()).toEqual(expected)
    expect(events.every((e) => e.key.startsWith(`${e.tenant}/`))).toBe(true)
  })

  it('answers a tenant over its ingest limit with 429 and Retry-After, and Kafka holds exactly the accepted records', async () => {
    const { gw, iso } = await gateway()
    const accepted: string[] = []
    const statuses: number[] = []
    for (let r = 0; r < 8; r++) {
      const ids = [0, 1, 2].map((i) => `r${r}-${i}`)
      const res = await fetch(`${gw}/v1/logs`, {
        method: 'POST',
        headers: { authorization: 'Bearer limited-key', 'content-type': 'application/x-ndjson' },
        body: ids.map((id) => JSON.stringify({ id, message: `limited ${id}`, service: 'limits' })).join('\n'),
      })
      statuses.push(res.status)
      if (res.status === 200) accepted.push(...ids)
      else {
        expect(res.status).toBe(429)
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
        expect(await res.json()).toMatchObject({ error: 'RATE_LIMITED', message: expect.stringContaining('tenant limited') })
      }
    }
    // The bucket holds 6 and refills one a second: the first two requests fit, not all eight.
    expect(statuses.slice(0, 2)).toEqual([200, 200])
    expect(statuses).toContain(429)
    // A marker of another tenant after them: in one partition, everything before it has been read once it is.
    const marker = await fetch(`${gw}/v1/logs`, { method: 'POST', headers: { authorization: 'Bearer acme-ingest-key', 'content-type': 'application/json' }, body: '{"message":"marker"}' })
    expect(marker.status).toBe(200)
    const events = await readTopic(iso, (e) => e.some((x) => x.message === 'marker'))
    expect(events.filter((e) => e.tenant === 'limited').map((e) => e.id)).toEqual(accepted)
    const metrics = await (await fetch(`${gw}/metrics`)).text()
    expect(metrics).toMatch(new RegExp(`sluice_gateway_rate_limited_total\\{tenant="limited",reason="records"\\} ${statuses.filter((s) => s === 429).length}`))
  })
})
