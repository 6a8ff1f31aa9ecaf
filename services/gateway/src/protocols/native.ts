// Sluice's own format at POST /v1/logs: one JSON object, a JSON array of objects, or NDJSON (one
// object per line). The same path takes OTLP/HTTP (protobuf by content type, JSON by its
// top-level `resourceLogs`), handed to otlp.ts. Field names other than Sluice's are mapped per
// request with `_msg_field`, `_time_field`, … (fields.ts). Status codes:
//   200  every record accepted                 { accepted, rejected: 0 }
//   207  some accepted, some rejected          { accepted, rejected, errors: [{ index, field, message }] }
//   400  nothing accepted (all invalid, bad JSON, empty body)
//   401  no or an unknown API key (SLUICE_AUTH=true), with WWW-Authenticate
//   403  the key lacks the ingest scope, or the tenant header names a tenant it may not act as;
//        also when every record was refused for naming such a tenant in its `tenant` field (a
//        record doing so among others is refused in its place: 207, field `tenant`)
//   413  body over GATEWAY_MAX_BODY_BYTES (after decompression)   { limitBytes }
//   415  unsupported Content-Type or Content-Encoding
//   429  the tenant is over its ingest limit (RATE_LIMITED), or too much waiting for Kafka already
//        (OVERLOADED), with Retry-After; nothing of the request was stored
//   503  Kafka unreachable or not acknowledging in time, with Retry-After — nothing was lost silently
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { SluiceError, nowNs } from '@sluice/core'
import { NDJSON_TYPES, fromJson, invalidUtf8Lines, jsonText, parseJson, parseNdjson, utf8Problem } from '../body.js'
import type { ParsedBody } from '../body.js'
import { fieldMapping, fieldMappingQuery } from '../fields.js'
import { releaseBody } from '../protocol.js'
import type { ProtocolContext } from '../protocol.js'
import { handleOtlpJson, handleOtlpProtobuf } from './otlp.js'

export function registerNative(api: FastifyInstance, ctx: ProtocolContext): void {
  api.addContentTypeParser([...NDJSON_TYPES], { parseAs: 'buffer' }, (_req, body, done) => {
    const buf = body as Buffer
    done(null, parseNdjson(buf.toString(), invalidUtf8Lines(buf)))
  })
  api.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => {
    const problem = utf8Problem(body as Buffer)
    if (problem) return done(new SluiceError('VALIDATION_FAILED', `invalid JSON body: ${problem}`), undefined)
    try {
      done(null, fromJson(parseJson(jsonText(body as Buffer))))
    } catch (err) {
      done(new SluiceError('VALIDATION_FAILED', `invalid JSON body: ${err instanceof Error ? err.message : String(err)}`), undefined)
    }
  })

  const schema = {
    tags: ['ingest'],
    summary: 'Logs as Sluice JSON (an object or an array), NDJSON, or OTLP/HTTP (protobuf or JSON)',
    description:
      '200 when every record was accepted, 207 with `errors: [{index, field, message}]` when some were refused, 400 when none was; answered only after Kafka acknowledged the accepted records (503 with Retry-After when it could not).',
    consumes: ['application/json', ...NDJSON_TYPES, 'application/x-protobuf'],
    querystring: fieldMappingQuery,
    body: z.unknown(),
  }
  api.post('/v1/logs', { schema }, async (req, reply) => {
    if (Buffer.isBuffer(req.body)) return handleOtlpProtobuf(req.body, req, reply, ctx)
    // fastify's own text/plain parser hands over a string: a content type none of ours took.
    if (typeof req.body === 'string') throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', `POST /v1/logs takes application/json, ${NDJSON_TYPES.join(', ')} or application/x-protobuf (OTLP), not ${req.headers['content-type'] ?? 'a body without Content-Type'}`)
    const parsed = req.body as ParsedBody | undefined
    if (parsed?.otlp) return handleOtlpJson(parsed.otlp, req, reply, ctx)
    if (!parsed || parsed.records.length === 0) throw new SluiceError('VALIDATION_FAILED', 'empty body: send a JSON object, a JSON array or NDJSON lines')
    const tenant = ctx.tenantOf(req)
    const fields = fieldMapping(req)
    const accepting = ctx.ingest.records(parsed.records, { tenant, source: 'http', observedNs: nowNs(), access: req.access, ...(fields && { fields }) }, parsed.errors)
    releaseBody(req)
    const result = await accepting
    const max = ctx.config.maxErrorsReported
    const body = {
      accepted: result.accepted,
      rejected: result.rejected,
      ...(result.errors.length > 0 && { errors: result.errors.slice(0, max) }),
      ...(result.errors.length > max && { errorsTruncated: true }),
    }
    if (result.accepted === 0 && result.forbidden > 0 && result.forbidden === result.rejected) {
      return reply.code(403).send({ error: 'FORBIDDEN', message: `API key ${req.access.keyId} may not act as the tenant(s) the records name`, ...body })
    }
    const status = result.rejected === 0 ? 200 : result.accepted === 0 ? 400 : 207
    return reply.code(status).send(body)
  })
}
