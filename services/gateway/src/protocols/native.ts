// Sluice's own format at POST /v1/logs: one JSON object, a JSON array of objects, or NDJSON (one
// object per line). The same path takes OTLP/HTTP (protobuf by content type, JSON by its
// top-level `resourceLogs`), handed to otlp.ts. Field names other than Sluice's are mapped per
// request with `_msg_field`, `_time_field`, … (fields.ts). Status codes:
//   200  every record accepted                 { accepted, rejected: 0 }
//   207  some accepted, some rejected          { accepted, rejected, errors: [{ index, field, message }] }
//   400  nothing accepted (all invalid, bad JSON, empty body)
//   413  body over GATEWAY_MAX_BODY_BYTES (after decompression)   { limitBytes }
//   415  unsupported Content-Type or Content-Encoding
//   429  too much waiting for Kafka already, with Retry-After
//   503  Kafka unreachable or not acknowledging in time, with Retry-After — nothing was lost silently
import type { FastifyInstance } from 'fastify'
import { SluiceError, nowNs } from '@sluice/core'
import { NDJSON_TYPES, fromJson, parseNdjson } from '../body.js'
import type { ParsedBody } from '../body.js'
import { fieldMapping } from '../fields.js'
import type { ProtocolContext } from '../protocol.js'
import { handleOtlpJson, handleOtlpProtobuf } from './otlp.js'

export function registerNative(api: FastifyInstance, ctx: ProtocolContext): void {
  api.addContentTypeParser([...NDJSON_TYPES], { parseAs: 'string' }, (_req, body, done) => done(null, parseNdjson(body as string)))
  api.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, fromJson(JSON.parse(body as string)))
    } catch (err) {
      done(new SluiceError('VALIDATION_FAILED', `invalid JSON body: ${err instanceof Error ? err.message : String(err)}`), undefined)
    }
  })

  api.post('/v1/logs', async (req, reply) => {
    if (Buffer.isBuffer(req.body)) return handleOtlpProtobuf(req.body, req, reply, ctx)
    const parsed = req.body as ParsedBody | undefined
    if (parsed?.otlp) return handleOtlpJson(parsed.otlp, req, reply, ctx)
    if (!parsed || parsed.records.length === 0) throw new SluiceError('VALIDATION_FAILED', 'empty body: send a JSON object, a JSON array or NDJSON lines')
    const tenant = ctx.tenantOf(req)
    const fields = fieldMapping(req)
    const result = await ctx.ingest.records(parsed.records, { tenant, source: 'http', observedNs: nowNs(), ...(fields && { fields }) }, parsed.errors)
    const max = ctx.config.maxErrorsReported
    const body = {
      accepted: result.accepted,
      rejected: result.rejected,
      ...(result.errors.length > 0 && { errors: result.errors.slice(0, max) }),
      ...(result.errors.length > max && { errorsTruncated: true }),
    }
    const status = result.rejected === 0 ? 200 : result.accepted === 0 ? 400 : 207
    return reply.code(status).send(body)
  })
}
