// Gateway: the HTTP front door. POST /v1/logs validates every record, encodes the valid ones as
// Avro (Confluent framing) and answers only once Kafka acknowledged them (idempotent producer,
// acks=all). Status codes:
//   200  every record accepted                 { accepted, rejected: 0 }
//   207  some accepted, some rejected          { accepted, rejected, errors: [{ index, field, message }] }
//   400  nothing accepted (all invalid, bad JSON, empty body)
//   413  body over GATEWAY_MAX_BODY_BYTES (after gzip decompression)   { limitBytes }
//   415  unsupported Content-Type or Content-Encoding
//   503  Kafka unreachable or not acknowledging in time, with Retry-After — nothing was lost silently
import compress from '@fastify/compress'
import type { FastifyInstance } from 'fastify'
import { SluiceError, TENANT_PATTERN, nowNs, validateLogInput } from '@sluice/core'
import type { FieldError, LogEvent } from '@sluice/core'
import type { Message, MessageProducer } from '@sluice/kafka'
import { BATCH_SIZE_BUCKETS, LATENCY_BUCKETS_SECONDS, createHttpApp, histogram, stageMetrics } from '@sluice/observability'
import type { BaseDeps, Codec, DepsFor, ServiceInstance } from '@sluice/service'
import { NDJSON_TYPES, UNPARSEABLE, fromJson, parseNdjson } from './body.js'
import type { ParsedBody } from './body.js'
import type { Config } from './config.js'

/** First size of a request's encode buffer: a 1 000-record request of ~400-byte records fits twice. */
const ENCODE_BUFFER_BYTES = 1 << 20

/** What the HTTP handler needs: a producer and the raw-log encoder (fakes in unit tests). */
export interface GatewayDeps extends Pick<BaseDeps, 'logger' | 'registry' | 'checks'> {
  producer: MessageProducer
  codec: Pick<Codec<LogEvent>, 'encodeInto'>
}

export function buildApp(config: Config, deps: GatewayDeps): FastifyInstance {
  const app = createHttpApp({ logger: deps.logger.child({ service: 'gateway' }), registry: deps.registry, checks: deps.checks, bodyLimit: config.maxBodyBytes })
  const stage = stageMetrics(deps.registry, 'gateway')
  const produceSeconds = histogram(deps.registry, 'sluice_gateway_produce_seconds', 'Time from a request’s records handed to the producer until Kafka acknowledged them.', LATENCY_BUCKETS_SECONDS)
  const recordsPerRequest = histogram(deps.registry, 'sluice_gateway_request_records', 'Records per POST /v1/logs request.', BATCH_SIZE_BUCKETS)

  // Request decompression (gzip, deflate, br); the body limit applies to the decompressed body.
  void app.register(compress, {
    requestEncodings: ['gzip', 'deflate', 'br'],
  })
  app.addContentTypeParser([...NDJSON_TYPES], { parseAs: 'string' }, (_req, body, done) => done(null, parseNdjson(body as string)))
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, fromJson(JSON.parse(body as string)))
    } catch (err) {
      const e = new SluiceError('VALIDATION_FAILED', `invalid JSON body: ${err instanceof Error ? err.message : String(err)}`)
      done(e, undefined)
    }
  })

  // Registered as a plugin so it loads after @fastify/compress and gets its decompression hook.
  void app.register(async (api) => api.post('/v1/logs', async (req, reply) => {
    const parsed = req.body as ParsedBody | undefined
    if (!parsed || parsed.records.length === 0) throw new SluiceError('VALIDATION_FAILED', 'empty body: send a JSON object, a JSON array or NDJSON lines')
    const headerTenant = req.headers['x-sluice-tenant']
    const tenant = typeof headerTenant === 'string' && headerTenant !== '' ? headerTenant : config.defaultTenant
    if (!TENANT_PATTERN.test(tenant)) throw new SluiceError('VALIDATION_FAILED', 'header x-sluice-tenant: expected 1-64 characters of A-Z a-z 0-9 _ . -')

    const errors: FieldError[] = parsed.errors.slice()
    const messages: Message[] = []
    // One observed time per request: records of a request arrive together.
    const defaults = { tenant, source: 'http' as const, observedNs: nowNs() }
    const records = parsed.records
    // The request's records are encoded back to back into one buffer, each message's value a
    // view of it (no buffer per record); a full buffer is replaced by a larger one, and the views
    // already taken keep the old one alive until Kafka acknowledged them.
    let out = Buffer.allocUnsafe(ENCODE_BUFFER_BYTES)
    let pos = 0
    const encode = (e: LogEvent): Buffer => {
      let end = deps.codec.encodeInto(e, out, pos)
      if (end < 0) {
        out = Buffer.allocUnsafe(Math.max(out.length * 2, ENCODE_BUFFER_BYTES - end))
        pos = 0
        end = deps.codec.encodeInto(e, out, 0)
      }
      const value = out.subarray(pos, end)
      pos = end
      return value
    }
    for (let i = 0; i < records.length; i++) {
      if (records[i] === UNPARSEABLE) continue
      const result = validateLogInput(records[i], i, defaults)
      if (!result.ok) {
        for (const e of result.errors) errors.push(e)
        continue
      }
      const e = result.event
      const message = { key: `${e.tenant}/${e.service}`, value: encode(e) }
      // Kafka refuses a record batch over the broker's message.max.bytes; one such record would
      // fail its whole produce request, so it is turned away here with the rest going through.
      if (message.value.length + message.key.length > config.maxRecordBytes) {
        errors.push({ index: i, field: '', message: `record is ${message.value.length + message.key.length} bytes encoded; the limit is ${config.maxRecordBytes}` })
        continue
      }
      messages.push(message)
    }
    const rejected = records.length - messages.length
    stage.received.inc(records.length)
    recordsPerRequest.observe(records.length)
    if (rejected > 0) stage.dropped.inc({ reason: 'invalid' }, rejected)

    if (messages.length > 0) {
      const end = produceSeconds.startTimer()
      try {
        await deps.producer.send(config.topicRaw, messages)
      } catch (err) {
        stage.errors.inc({ code: err instanceof SluiceError ? err.code : 'KAFKA_PRODUCE_FAILED' })
        throw err
      } finally {
        end()
      }
      stage.sent.inc(messages.length)
    }

    errors.sort((a, b) => a.index - b.index)
    const body = {
      accepted: messages.length,
      rejected,
      ...(errors.length > 0 && { errors: errors.slice(0, config.maxErrorsReported) }),
      ...(errors.length > config.maxErrorsReported && { errorsTruncated: true }),
    }
    const status = rejected === 0 ? 200 : messages.length === 0 ? 400 : 207
    return reply.code(status).send(body)
  }))

  return app
}

export function createService(config: Config, deps: DepsFor<{ kafka: true; registry: true }>): ServiceInstance {
  return { app: buildApp(config, { ...deps, codec: deps.codecs.raw }), listen: { host: config.host, port: config.port } }
}
