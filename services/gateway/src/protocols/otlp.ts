// OTLP/HTTP logs, for OpenTelemetry SDKs and collectors: POST /otlp/v1/logs, and POST /v1/logs,
// where native.ts hands OTLP over (a protobuf body, or JSON with a top-level `resourceLogs`).
//   application/x-protobuf   ExportLogsServiceRequest in, ExportLogsServiceResponse out (protobuf)
//   application/json         the same in OTLP JSON (otlp-json.ts), the response as JSON
// gzip, deflate and br bodies arrive decompressed (the service's compress plugin). How OTLP fields
// become Sluice's is otlp-map.ts; reading each encoding, otlp-protobuf.ts and otlp-json.ts.
//
// Status codes — in OTLP/HTTP the status alone tells a client whether to retry:
//   200  accepted. Records refused one by one (the validator's rules, a fault in the record) are
//        reported, the rest stored: partial_success { rejected_log_records: n, error_message:
//        "<index>: <field> <message>; …" }, the index counting log records across the request.
//        Also when every record was refused: the request itself was fine, resending it won't help.
//   400  the request cannot be read: bad protobuf or JSON, not an ExportLogsServiceRequest; a bad
//        x-sluice-tenant header
//   401  no or an unknown API key (SLUICE_AUTH=true; WWW-Authenticate), Status UNAUTHENTICATED
//   403  the key lacks the ingest scope or may not act as the tenant named, PERMISSION_DENIED —
//        neither retryable, as the spec has it: the exporter drops the batch and logs the message
//   413  body over GATEWAY_MAX_BODY_BYTES after decompression;  415  another content type
//   429  RATE_LIMITED (the tenant's ingest limit) or OVERLOADED, RESOURCE_EXHAUSTED; 503
//        KAFKA_UNAVAILABLE — all with Retry-After, the spec's retryable codes, which exporters
//        honour; nothing of the request was stored
// Error bodies are a google.rpc.Status { code, message } in the request's encoding. The shared
// error handler (@sluice/observability) still decides status and Retry-After for every error;
// an onSend hook only rewrites its JSON body into a Status for requests known to be OTLP.
import { z } from 'zod'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { SluiceError, nowNs } from '@sluice/core'
import type { FieldError } from '@sluice/core'
import type { ParsedBody } from '../body.js'
import type { EventDefaults, IngestDefaults, Ingested } from '../ingest.js'
import { releaseBody } from '../protocol.js'
import type { ProtocolContext } from '../protocol.js'
import { readOtlpJson } from './otlp-json.js'
import type { Batch } from './otlp-map.js'
import { encodeResponse, encodeStatus } from './otlp-proto.js'
import { readOtlpProtobuf } from './otlp-protobuf.js'

type Encoding = 'protobuf' | 'json'

const PROTOBUF = 'application/x-protobuf'
const JSON_TYPE = 'application/json'

/** Requests answered the OTLP way, and their encoding: their errors get a Status body. */
const otlpRequests = new WeakMap<FastifyRequest, Encoding>()

const mediaType = (req: FastifyRequest): string => (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()

export function registerOtlp(api: FastifyInstance, ctx: ProtocolContext): void {
  api.addContentTypeParser(PROTOBUF, { parseAs: 'buffer' }, (_req, body, done) => done(null, body))

  api.addHook('onSend', async (req, reply, payload) => {
    if (reply.statusCode < 400) return payload
    const encoding = otlpRequests.get(req) ?? refusedOtlp(req)
    return encoding === undefined ? payload : statusBody(reply, encoding, payload)
  })

  api.post(
    '/otlp/v1/logs',
    {
      schema: {
        tags: ['ingest'],
        summary: 'OTLP/HTTP logs (ExportLogsServiceRequest), protobuf or JSON; the OpenTelemetry SDKs and Collector',
        consumes: [PROTOBUF, JSON_TYPE],
        body: z.unknown(),
      },
      // Before the body is parsed, so that its errors (bad JSON, too large, unknown type) are OTLP's too.
      onRequest: async (req) => {
        otlpRequests.set(req, mediaType(req) === PROTOBUF ? 'protobuf' : 'json')
      },
    },
    async (req, reply) => {
      const type = mediaType(req)
      if (Buffer.isBuffer(req.body)) return handleOtlpProtobuf(req.body, req, reply, ctx)
      if (type === PROTOBUF) return handleOtlpProtobuf(Buffer.alloc(0), req, reply, ctx) // an empty body: an empty request
      if (type !== JSON_TYPE) throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', `OTLP/HTTP takes ${PROTOBUF} or ${JSON_TYPE}, not ${type || 'a body without Content-Type'}`)
      // The JSON parser is native.ts's: an object with `resourceLogs` comes as `otlp`, any other
      // object (an empty request, snake_case `resource_logs`) as its one record.
      const parsed = req.body as ParsedBody | undefined
      const only = parsed?.records.length === 1 ? parsed.records[0] : undefined
      const request = parsed?.otlp ?? (typeof only === 'object' && only !== null && !Array.isArray(only) ? only : undefined)
      if (request === undefined) throw new SluiceError('VALIDATION_FAILED', 'invalid OTLP JSON: expected one ExportLogsServiceRequest object')
      return handleOtlpJson(request, req, reply, ctx)
    },
  )
}

/**
 * The encoding of an OTLP request refused before its route ran (no or a bad API key: the guard's
 * onRequest hook comes first): /otlp/v1/logs by its content type, /v1/logs when protobuf — OTLP
 * JSON there is told from Sluice's JSON only by its body, which a refused request never had read.
 */
function refusedOtlp(req: FastifyRequest): Encoding | undefined {
  const url = req.routeOptions.url
  const protobuf = mediaType(req) === PROTOBUF
  if (url === '/otlp/v1/logs') return protobuf ? 'protobuf' : 'json'
  return url === '/v1/logs' && protobuf ? 'protobuf' : undefined
}

export async function handleOtlpJson(body: object, req: FastifyRequest, reply: FastifyReply, ctx: ProtocolContext): Promise<FastifyReply> {
  otlpRequests.set(req, 'json')
  const defaults = eventDefaults(req, ctx)
  return respond(readOtlpJson(body as Record<string, unknown>, defaults, ctx.config.maxRecordBytes), defaults, 'json', req, reply, ctx)
}

export async function handleOtlpProtobuf(body: Buffer, req: FastifyRequest, reply: FastifyReply, ctx: ProtocolContext): Promise<FastifyReply> {
  otlpRequests.set(req, 'protobuf')
  const defaults = eventDefaults(req, ctx)
  return respond(readOtlpProtobuf(body, defaults, ctx.config.maxRecordBytes), defaults, 'protobuf', req, reply, ctx)
}

/** The request's tenant and arrival time: the readers make most records into events themselves. */
function eventDefaults(req: FastifyRequest, ctx: ProtocolContext): EventDefaults {
  return { tenant: ctx.tenantOf(req), source: 'otlp', observedNs: nowNs() }
}

const NOTHING: Ingested = { accepted: 0, rejected: 0, errors: [], forbidden: 0 }

/**
 * Hands a read request's records to the accept path; resolves with what partial_success reports:
 * the records refused, and why ("<index>: <field> <message>; …"). `encoded` runs once every record
 * is encoded, before Kafka's answer (the caller lets the request's body go).
 */
export async function acceptOtlp(batch: Batch, defaults: IngestDefaults, ctx: ProtocolContext, encoded?: () => void): Promise<{ rejected: number; message: string }> {
  const readerErrors = new Set(batch.errors.map((e) => e.index))
  let result = NOTHING
  if (batch.records.length > 0) {
    const accepting = ctx.ingest.records(batch.records, defaults, batch.errors)
    // Nothing of the batch is needed once its records are encoded (see releaseBody).
    batch.records.length = 0
    encoded?.()
    result = await accepting
  }
  return { rejected: result.rejected, message: describe(result.errors, readerErrors, ctx.config.maxErrorsReported) }
}

async function respond(batch: Batch, defaults: EventDefaults, encoding: Encoding, req: FastifyRequest, reply: FastifyReply, ctx: ProtocolContext): Promise<FastifyReply> {
  const result = await acceptOtlp(batch, { ...defaults, access: req.access }, ctx, () => releaseBody(req))
  const message = result.message
  if (encoding === 'protobuf') return reply.code(200).type(PROTOBUF).send(encodeResponse(result.rejected, message))
  // int64 in proto3 JSON is a decimal string.
  return reply.code(200).type(JSON_TYPE).send(result.rejected > 0 ? { partialSuccess: { rejectedLogRecords: String(result.rejected), errorMessage: message } } : {})
}

// The validator names Sluice's fields; a client sent OTLP's.
const OTLP_FIELDS: Record<string, string> = {
  message: 'body',
  level: 'severityNumber',
  severity_number: 'severityNumber',
  timestamp: 'timeUnixNano',
  trace_id: 'traceId',
  span_id: 'spanId',
  service: 'resource.attributes.service.name',
  host: 'resource.attributes.host.name',
  resource: 'resource.attributes',
}

function otlpField(field: string): string {
  const dot = field.indexOf('.')
  const head = dot === -1 ? field : field.slice(0, dot)
  const mapped = OTLP_FIELDS[head]
  return mapped === undefined ? field : mapped + field.slice(head.length)
}

/** partial_success.error_message: "<index>: <field> <message>", at most `max` of them. */
function describe(errors: readonly FieldError[], readerErrors: ReadonlySet<number>, max: number): string {
  const parts = errors.slice(0, max).map((e) => {
    const field = readerErrors.has(e.index) ? e.field : otlpField(e.field)
    return `${e.index}: ${field === '' ? '' : `${field} `}${e.message}`
  })
  if (errors.length > max) parts.push(`and ${errors.length - max} more`)
  return parts.join('; ')
}

/**
 * google.rpc.Code for an HTTP status: UNAUTHENTICATED, PERMISSION_DENIED, RESOURCE_EXHAUSTED,
 * INTERNAL, UNAVAILABLE, INVALID_ARGUMENT.
 */
function rpcCode(status: number): number {
  if (status === 401) return 16
  if (status === 403) return 7
  if (status === 429) return 8
  if (status === 500) return 13
  return status > 500 ? 14 : 3
}

function statusBody(reply: FastifyReply, encoding: Encoding, payload: unknown): Buffer | string {
  const code = rpcCode(reply.statusCode)
  const message = errorText(payload)
  if (encoding === 'protobuf') {
    reply.header('content-type', PROTOBUF)
    return encodeStatus(code, message)
  }
  reply.header('content-type', `${JSON_TYPE}; charset=utf-8`)
  return JSON.stringify({ code, message })
}

/** The `message` of the error handler's `{ error, message }` body. */
function errorText(payload: unknown): string {
  const text = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString() : ''
  try {
    const body: unknown = JSON.parse(text)
    if (typeof body === 'object' && body !== null && 'message' in body && typeof body.message === 'string') return body.message
  } catch {
    // not the error handler's JSON: the text as it is
  }
  return text
}
