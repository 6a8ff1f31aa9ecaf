// Gateway: the front door. Every protocol it speaks — Sluice's JSON/NDJSON and OTLP/HTTP at
// /v1/logs, OTLP/gRPC, Loki push, Elasticsearch bulk, Splunk HEC, Datadog's log intake, syslog over TCP and UDP, the Fluentd forward protocol — reads its wire
// format into records and hands them to the one accept path (ingest.ts): validated, encoded as
// Avro, produced to logs.raw, and answered only once Kafka acknowledged them. Protocol modules:
// protocols/*.ts (HTTP routes; otlp-grpc.ts its own listener), syslog.ts and forward.ts (listeners).
import type { Server as TlsServer } from 'node:tls'
import compress from '@fastify/compress'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { LogEvent } from '@sluice/core'
import type { MessageProducer } from '@sluice/kafka'
import { createHttpApp } from '@sluice/observability'
import type { BaseDeps, Codec, DepsFor, ServiceInstance } from '@sluice/service'
import type { Config } from './config.js'
import { createIngest } from './ingest.js'
import { tenantRule } from './protocol.js'
import type { ProtocolContext } from './protocol.js'
import { registerDatadog } from './protocols/datadog.js'
import { registerElastic } from './protocols/elastic.js'
import { registerLoki } from './protocols/loki.js'
import { registerNative } from './protocols/native.js'
import { registerOtlp } from './protocols/otlp.js'
import { registerSplunk } from './protocols/splunk.js'
import { startOtlpGrpc } from './protocols/otlp-grpc.js'
import type { OtlpGrpcListener } from './protocols/otlp-grpc.js'
import { startForward } from './forward.js'
import { registerGelf, startGelf } from './gelf.js'
import { startBeats } from './beats.js'
import type { BeatsListener } from './beats.js'
import type { ForwardListener } from './forward.js'
import { startSyslog } from './syslog.js'
import type { SyslogListeners } from './syslog.js'
import type { StreamListeners } from './stream-listeners.js'
import { registerRequestCodings } from './request-codings.js'
import { ListenerTls } from './tls.js'

/** What the gateway needs: a producer and the raw-log encoder (fakes in unit tests). */
export interface GatewayDeps extends Pick<BaseDeps, 'logger' | 'registry' | 'checks'>, Partial<Pick<BaseDeps, 'security' | 'clock'>> {
  producer: MessageProducer
  codec: Pick<Codec<LogEvent>, 'encodeInto'>
}

/** The protocols' shared context: config, the accept path (with the tenants' limits), the tenant rule. */
export function protocolContext(config: Config, deps: GatewayDeps): ProtocolContext {
  const log = deps.logger.child({ service: 'gateway' })
  const tls = config.tls === undefined ? undefined : new ListenerTls(config.tls, deps.registry, log)
  if (tls !== undefined && !Object.values(config.tlsOn).some(Boolean)) log.warn('GATEWAY_TLS_CERT_FILE is set but no listener is switched to TLS (SYSLOG_TCP_TLS, GELF_TCP_TLS, FORWARD_TLS, BEATS_TLS, GATEWAY_OTLP_GRPC_TLS): every port speaks plain text')
  return { config, ingest: createIngest(config, { ...deps, tenants: deps.security?.tenants }), log, registry: deps.registry, checks: deps.checks, security: deps.security, tls, tenantOf: tenantRule(config) }
}

export function buildApp(config: Config, deps: GatewayDeps, ctx = protocolContext(config, deps)): FastifyInstance {
  const app = createHttpApp({
    name: 'gateway',
    description: 'Accepts logs in the formats shippers already send (Sluice JSON/NDJSON, OTLP/HTTP, Loki push, Elasticsearch bulk, Splunk HEC, Datadog, GELF) and answers once Kafka acknowledged them.',
    logger: ctx.log, registry: deps.registry, checks: deps.checks, bodyLimit: config.maxBodyBytes, ...(deps.security && { access: { security: deps.security, scope: 'ingest' } }),
    // HTTPS (GATEWAY_HTTP_TLS) with the gateway's certificate, followed through its reloads (tls.ts).
    ...(config.tlsOn.http && ctx.tls !== undefined && { https: ctx.tls.httpsOptions() }) })
  if (config.tlsOn.http && ctx.tls !== undefined) ctx.tls.watch('http', app.server as unknown as TlsServer)
  // Request decompression (gzip, deflate, br; zstd and snappy above); the body limit applies to the decompressed body.
  // @fastify/compress matches the coding's name exactly: it gets it as normalizeEncoding leaves it.
  app.addHook('onRequest', async (req) => normalizeEncoding(req))
  // zstd and snappy, which Node 20's zlib lacks, before @fastify/compress's hook (route hooks run last).
  registerRequestCodings(app, config.maxBodyBytes)
  void app.register(compress, { requestEncodings: ['gzip', 'deflate', 'br'] })
  // Registered as a plugin so the routes load after @fastify/compress and get its decompression hook.
  void app.register(async (api) => {
    registerNative(api, ctx)
    registerOtlp(api, ctx)
    registerLoki(api, ctx)
    registerElastic(api, ctx)
    registerSplunk(api, ctx)
    registerDatadog(api, ctx)
    registerGelf(api, ctx)
    registerWrongMethods(api)
  })
  return app
}

/**
 * Content-Encoding as RFC 9110 §8.4.1 reads it: codings are case-insensitive (`GZIP`), `x-gzip`
 * is gzip, `zlib` (the OpenTelemetry Collector's name for it) is deflate, and `identity` (no
 * coding) is no coding. Other names are left for the decompression to refuse (415), Loki's
 * `snappy` for its route to drop.
 */
export function normalizeEncoding(req: FastifyRequest): void {
  const header = req.headers['content-encoding']
  if (header === undefined) return
  const codings = header
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .map((c) => (c === 'x-gzip' ? 'gzip' : c === 'zlib' ? 'deflate' : c))
    .filter((c) => c !== 'identity' && c !== '')
  if (codings.length === 0) delete req.headers['content-encoding']
  else req.headers['content-encoding'] = codings.join(', ')
}

/** Methods a POST-only ingest path answers with 405 (HEAD comes with GET; OPTIONS stays CORS's). */
const NOT_POST = ['GET', 'PUT', 'DELETE', 'PATCH'] as const

/**
 * The ingest paths asked with another method than POST: 405 with `Allow: POST`, as Loki and the
 * OpenTelemetry Collector answer it, rather than a 404 that reads as a wrong URL. In each
 * protocol's error shape: OTLP's onSend hook (this scope) makes /otlp/v1/logs' a Status, Loki's is
 * text. Elasticsearch's `_bulk` paths answer theirs in elastic.ts.
 */
function registerWrongMethods(api: FastifyInstance): void {
  for (const url of ['/v1/logs', '/otlp/v1/logs', '/loki/api/v1/push', '/gelf']) {
    api.route({
      method: [...NOT_POST],
      url,
      schema: { hide: true },
      handler: async (req, reply) => {
        const message = `${req.method} ${url}: method not allowed, send POST`
        reply.code(405).header('allow', 'POST')
        return url.startsWith('/loki/') ? reply.type('text/plain; charset=utf-8').send(`${message}\n`) : reply.send({ error: 'METHOD_NOT_ALLOWED', message })
      },
    })
  }
}

export function createService(config: Config, deps: DepsFor<{ kafka: true; registry: true }>): ServiceInstance {
  const gatewayDeps = { ...deps, codec: deps.codecs.raw }
  const ctx = protocolContext(config, gatewayDeps)
  let syslog: SyslogListeners | undefined
  let grpc: OtlpGrpcListener | undefined
  let forward: ForwardListener | undefined
  let gelf: StreamListeners | undefined
  let beats: BeatsListener | undefined
  return {
    app: buildApp(config, gatewayDeps, ctx),
    listen: { host: config.host, port: config.port },
    async start() {
      syslog = await startSyslog(ctx)
      try {
        grpc = await startOtlpGrpc(ctx)
        forward = await startForward(ctx)
        gelf = await startGelf(ctx)
        beats = await startBeats(ctx)
      } catch (err) {
        await Promise.all([syslog.close(), grpc?.close(), forward?.close(), gelf?.close()])
        throw err
      }
    },
    async close() {
      await Promise.all([syslog?.close(), grpc?.close(), forward?.close(), gelf?.close(), beats?.close()])
    },
  }
}
