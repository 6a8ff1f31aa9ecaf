// Grafana Loki's push API at POST /loki/api/v1/push, so Promtail, Alloy, winston-loki, pino-loki
// and every other Loki client can ship to Sluice by pointing at the gateway. Bodies (loki-wire.ts):
// JSON with Content-Type application/json (gzip/deflate/br Content-Encoding accepted), anything
// else snappy-compressed protobuf, as Loki reads them. Tenant: X-Scope-OrgID, else x-sluice-tenant;
// with SLUICE_AUTH=true the key's (Promtail's and Alloy's basic_auth with the key as password, or
// bearer_token), a multi-tenant key choosing by X-Scope-OrgID. Answers as Loki does, in plain text:
//   204  every entry stored (or nothing to store)
//   400  a body that cannot be read ("couldn't parse push request: …"), a bad tenant header, or
//        refused streams/entries: one line per error, naming stream and entry. As in Loki's
//        distributor, the request's good entries are stored all the same: a 4xx tells the client
//        not to retry, so nothing is written twice
//   401  no or an unknown key (WWW-Authenticate); 403 the key lacks the ingest scope or may not act
//        as the tenant named — Promtail and Alloy do not retry either, and log the text
//   413  body over GATEWAY_MAX_BODY_BYTES (after gzip, or as the snappy block announces it)
//   429  the tenant is over its ingest limit (as Loki's ingestion_rate_limit), or too much waiting
//        for Kafka already, with Retry-After; nothing stored — Loki clients retry
//   503  Kafka unreachable or not acknowledging in time, with Retry-After — Loki clients retry
import { z } from 'zod'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { LOKI_TENANT_HEADERS } from '@sluice/auth'
import { SluiceError, nowNs } from '@sluice/core'
import { releaseBody } from '../protocol.js'
import type { ProtocolContext } from '../protocol.js'
import { PushBatch } from './loki-batch.js'
import { readJsonPush, readProtobufPush } from './loki-wire.js'

function isJson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false
  const semi = contentType.indexOf(';')
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase() === 'application/json'
}

/**
 * Loki clients log an error response's body as text. The shared error handler keeps the one status
 * mapping (and Retry-After) and answers JSON; on this route its message goes out as plain text.
 */
async function plainTextErrors(_req: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  if (reply.statusCode < 400 || typeof payload !== 'string' || !String(reply.getHeader('content-type')).startsWith('application/json')) return payload
  let message: unknown
  try {
    message = (JSON.parse(payload) as { message?: unknown }).message
  } catch {
    return payload
  }
  if (typeof message !== 'string') return payload
  reply.type('text/plain; charset=utf-8')
  return `${message}\n`
}

export function registerLoki(api: FastifyInstance, ctx: ProtocolContext): void {
  // A scope of its own: Loki reads every body itself (JSON by content type, anything else as
  // snappy protobuf), where the other protocols parse application/json their way.
  void api.register(async (loki) => {
    loki.removeAllContentTypeParsers()
    loki.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))
    // Some clients label the snappy body with Content-Encoding: snappy; Loki ignores it (the
    // protobuf reader undoes snappy anyway), and so must request decompression.
    loki.addHook('onRequest', async (req) => {
      if (req.headers['content-encoding'] === 'snappy') delete req.headers['content-encoding']
    })
    loki.addHook('onSend', plainTextErrors)

    const schema = {
      tags: ['ingest'],
      summary: 'Loki push (snappy-compressed protobuf PushRequest, or JSON); Promtail, Alloy, the Docker driver, Loki clients',
      consumes: ['application/x-protobuf', 'application/json'],
      body: z.unknown(),
    }
    loki.post('/loki/api/v1/push', { schema }, async (req, reply) => {
      const tenant = ctx.tenantOf(req, LOKI_TENANT_HEADERS)
      const observedNs = nowNs()
      const body = req.body
      if (!Buffer.isBuffer(body) || body.length === 0) throw new SluiceError('VALIDATION_FAILED', "couldn't parse push request: empty body")
      const batch = new PushBatch(ctx.config.maxRecordBytes)
      if (isJson(req.headers['content-type'])) readJsonPush(body, batch)
      else await readProtobufPush(body, ctx.config.maxBodyBytes, batch)
      if (batch.records.length === 0) return reply.code(204).send()
      const accepting = ctx.ingest.records(batch.records, { tenant, source: 'http', observedNs, access: req.access }, batch.known)
      batch.releaseRecords()
      releaseBody(req)
      const result = await accepting
      if (result.errors.length === 0) return reply.code(204).send()
      return reply.code(400).type('text/plain; charset=utf-8').send(batch.describe(result, ctx.config.maxErrorsReported))
    })
  })
}
