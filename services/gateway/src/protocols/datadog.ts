// Datadog's log intake API, so the Datadog Agent, Vector's datadog_logs sink and Datadog's API
// clients ship to Sluice by their intake URL:
//   POST /api/v2/logs, /v1/input   a JSON array of logs, or one log (datadog-logs.ts)
//   GET  /api/v1/validate          {"valid":true}: the Agent and Vector check their key with it
// Credentials: the `DD-API-KEY` header (a Sluice key, with SLUICE_AUTH=true), or any other form the
// gateway takes. Tenant: x-sluice-tenant or X-Scope-OrgID, else the key's. gzip, deflate and the
// gateway's other codings by Content-Encoding. Answers, in Datadog's shape:
//   202  {}: every log stored
//   400  {"errors": [{"status": "400", "title": "Bad Request", "detail": …}]} (Datadog's HTTPLogError,
//        as its API clients read it): a body that is not JSON (nothing stored), or refused logs —
//        the others are stored all the same, each refusal named ("log 3: hostname: …"), with the
//        counts; clients do not retry a 400
//   401/403  the same shape: no or an unknown key, a key that may not act as the tenant named
//   413  over GATEWAY_MAX_BODY_BYTES;  429/503  the same shape with Retry-After, nothing stored
import { STATUS_CODES } from 'node:http'
import { z } from 'zod'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { SluiceError, nowNs } from '@sluice/core'
import { jsonText, utf8Problem } from '../body.js'
import { errorsShaped, releaseBody } from '../protocol.js'
import type { ProtocolContext } from '../protocol.js'
import type { EventDefaults } from '../ingest.js'
import { readLogs } from './datadog-logs.js'
import type { DatadogDefaults } from './datadog-logs.js'

const INTAKE_PATHS = ['/api/v2/logs', '/v1/input']

/** The client's name for a field Sluice's validation names. */
const CLIENT_FIELD: Readonly<Record<string, string>> = { host: 'hostname', level: 'status' }

/** Datadog's errors (HTTPLogError, as its API clients read them): one per message. */
function ddErrors(status: number, messages: readonly string[]) {
  const title = STATUS_CODES[status] ?? 'Error'
  return messages.map((detail) => ({ status: String(status), title, detail }))
}

function defaultsOf(req: FastifyRequest): DatadogDefaults {
  const q = req.query as { ddtags?: string }
  const header = req.headers['dd-message-timestamp']
  const d: DatadogDefaults = {}
  if (q.ddtags !== undefined && q.ddtags !== '') d.ddtags = q.ddtags
  if (typeof header === 'string' && header !== '' && header !== '0') {
    if (!/^\d{1,16}$/.test(header)) throw new SluiceError('VALIDATION_FAILED', `header dd-message-timestamp: expected epoch milliseconds, got ${JSON.stringify(header.slice(0, 40))}`)
    d.timestampMs = Number(header)
  }
  return d
}

export function registerDatadog(api: FastifyInstance, ctx: ProtocolContext): void {
  void api.register(async (dd) => {
    // The body is read here whatever its label: the Agent sends application/json, other senders text/plain or nothing.
    dd.removeAllContentTypeParsers()
    dd.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))
    dd.addHook('onSend', errorsShaped((status, message) => ({ errors: ddErrors(status, [message ?? STATUS_CODES[status] ?? 'Error']) }), (body) => 'errors' in body))

    const schema = {
      tags: ['ingest'],
      summary: 'Datadog log intake: a JSON array of logs (the Datadog Agent, Vector datadog_logs, the Datadog API clients)',
      description: '202 {} when every log was stored; 400 {"errors": […]} naming each refused log, the others stored.',
      querystring: z.looseObject({ ddtags: z.string().optional().describe('tags of every log of the request, k:v,…') }),
      body: z.unknown(),
    }
    for (const url of INTAKE_PATHS) {
      dd.post(url, { schema: { ...schema, ...(url !== INTAKE_PATHS[0] && { hide: true }) } }, async (req, reply) => {
        const buf = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)
        if (buf.length === 0) throw new SluiceError('VALIDATION_FAILED', 'empty body: send a JSON array of logs')
        const problem = utf8Problem(buf)
        if (problem) throw new SluiceError('VALIDATION_FAILED', `the body is ${problem}`)
        let body: unknown
        try {
          body = JSON.parse(jsonText(buf))
        } catch (err) {
          throw new SluiceError('VALIDATION_FAILED', `invalid JSON body: ${err instanceof Error ? err.message : String(err)}`)
        }
        const d: EventDefaults = { tenant: ctx.tenantOf(req), source: 'http', observedNs: nowNs() }
        const batch = readLogs(body, defaultsOf(req), d)
        if (batch.records.length === 0) return reply.code(202).send({})
        const accepting = ctx.ingest.records(batch.records, { ...d, access: req.access }, batch.errors)
        releaseBody(req)
        const result = await accepting
        if (result.errors.length === 0) return reply.code(202).send({})
        const max = ctx.config.maxErrorsReported
        const errors = [...result.errors].sort((a, b) => a.index - b.index)
        const status = result.accepted === 0 && result.forbidden > 0 && result.forbidden === result.rejected ? 403 : 400
        return reply.code(status).send({
          errors: ddErrors(status, errors.slice(0, max).map((e) => `log ${e.index}: ${e.field ? `${CLIENT_FIELD[e.field] ?? e.field}: ` : ''}${e.message}`)),
          accepted: result.accepted,
          rejected: result.rejected,
          ...(errors.length > max && { errorsTruncated: true }),
        })
      })
    }

    // The Agent and Vector's healthcheck ask whether their key is valid: with SLUICE_AUTH=true the
    // guard has already refused an unknown one (401); a known one, or any without authentication, is.
    dd.get('/api/v1/validate', { schema: { tags: ['ingest'], summary: 'Datadog API key check: {"valid":true}' } }, async () => ({ valid: true }))
  })
}
