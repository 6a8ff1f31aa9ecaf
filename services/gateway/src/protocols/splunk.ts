// Splunk's HTTP Event Collector (HEC) API, so what ships to Splunk ships to Sluice by changing the
// URL: Splunk's logging libraries, the OpenTelemetry Collector's splunk_hec exporter, Vector's
// splunk_hec_logs, Fluent Bit's and Fluentd's splunk outputs, Docker's splunk log driver.
//   POST /services/collector, /services/collector/event[/1.0]   event objects (splunk-hec.ts)
//   POST /services/collector/raw[/1.0]                          lines of text, one event each
//   GET  /services/collector/health[/1.0]                       {"text":"HEC is healthy","code":17}, or
//        503 {"code":18} naming the failing readiness check; no key asked, as load balancers probe it
//   OPTIONS on the event and raw paths                          200 (Docker's splunk driver checks it)
//   POST /services/collector/ack                                400 {"text":"ACK is disabled","code":14}:
//        Sluice answers only once Kafka holds the events, so a 200 already is the acknowledgement
// Credentials: `Authorization: Splunk <key>` (HEC's token) with SLUICE_AUTH=true, or any other form
// the gateway takes. Tenant: X-Sluice-Tenant or X-Scope-OrgID, else the key's. Any Content-Type;
// gzip (and the gateway's other codings) by Content-Encoding. Channels (X-Splunk-Request-Channel,
// ?channel=) are accepted and need not be sent. Answers, in HEC's shape {"text", "code"}:
//   200  {"text":"Success","code":0}: every event stored
//   400  {"text":"No data","code":5}: an empty body. Refused events (a bad JSON object, no event
//        field, a blank one, an object among indexed fields): the others are stored all the same,
//        and the answer names the first refused one as HEC does ("invalid-event-number") with its
//        code (6 invalid data format, 12 event required, 13 event blank, 15 indexed fields), every
//        error as {index, field, message} in `errors`, and the counts — HEC clients do not retry a
//        400, so nothing is written twice
//   401  {"code":2} no token, {"code":4} an unknown one (with WWW-Authenticate); 403 {"code":4}
//   413  a body over GATEWAY_MAX_BODY_BYTES; 429 and 503 {"code":9,"text":"Server is busy…"} with
//        Retry-After: nothing of the request was stored, HEC clients retry
import { z } from 'zod'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { SluiceError, nowNs } from '@sluice/core'
import { runHealthChecks } from '@sluice/observability'
import { invalidUtf8Lines, utf8Problem } from '../body.js'
import { fieldMapping, fieldMappingQuery } from '../fields.js'
import { errorsShaped, releaseBody } from '../protocol.js'
import type { ProtocolContext } from '../protocol.js'
import type { EventDefaults } from '../ingest.js'
import { HEC_CODES, readEvents, readRaw } from './splunk-hec.js'
import type { HecBatch, HecDefaults, HecError } from './splunk-hec.js'

const EVENT_PATHS = ['/services/collector', '/services/collector/event', '/services/collector/event/1.0']
const RAW_PATHS = ['/services/collector/raw', '/services/collector/raw/1.0']
const HEALTH_PATHS = ['/services/collector/health', '/services/collector/health/1.0']

/** HEC's words for its codes, which its answers begin with. */
const HEC_TEXT: Record<number, string> = {
  0: 'Success',
  2: 'Token is required',
  4: 'Invalid token',
  5: 'No data',
  6: 'Invalid data format',
  8: 'Internal server error',
  9: 'Server is busy',
  12: 'Event field is required',
  13: 'Event field cannot be blank',
  14: 'ACK is disabled',
  15: 'Error in handling indexed fields',
  17: 'HEC is healthy',
  18: 'HEC is unhealthy',
}

/** An answer in HEC's shape: its words for `code`, then Sluice's `detail`. */
function hecBody(code: number, detail?: string, extra?: Record<string, unknown>) {
  const words = HEC_TEXT[code]
  const text = words === undefined ? (detail ?? '') : detail ? `${words}: ${detail}` : words
  return { text, code, ...extra }
}

/** The HEC code of an error answer of the shared handler, by its status. */
function codeOf(status: number, req: FastifyRequest): number {
  if (status === 400) return HEC_CODES.invalidDataFormat
  if (status === 401) return req.headers.authorization === undefined && req.headers['x-api-key'] === undefined ? 2 : 4
  if (status === 403) return 4
  if (status === 429 || status === 503) return 9
  if (status >= 500) return 8
  // No HEC code of its own (404, 405, 413, 415): Splunk answers such with the status as the code.
  return status
}

const META = ['host', 'source', 'sourcetype', 'index'] as const

const querystring = z.looseObject({
  ...fieldMappingQuery.shape,
  ...Object.fromEntries(META.map((m) => [m, z.string().optional().describe(`the ${m} of events that name none`)])),
  channel: z.string().optional().describe('HEC request channel (accepted, not needed)'),
})

function defaultsOf(req: FastifyRequest): HecDefaults {
  const q = req.query as Record<string, string | undefined>
  const d: HecDefaults = {}
  for (const m of META) {
    const v = q[m]
    if (v !== undefined && v !== '') {
      if (!v.isWellFormed()) throw new SluiceError('VALIDATION_FAILED', `query parameter ${m} is not well-formed Unicode`)
      d[m] = v
    }
  }
  return d
}

export function registerSplunk(api: FastifyInstance, ctx: ProtocolContext): void {
  void api.register(async (hec) => {
    // HEC reads every body itself, whatever it is labelled (clients send application/json,
    // text/plain, form-urlencoded from curl -d, or nothing).
    hec.removeAllContentTypeParsers()
    hec.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))
    hec.addHook('onSend', errorsShaped((status, message, req) => hecBody(codeOf(status, req), message), (body) => 'text' in body))

    /**
     * Reads the request's events with `read` (given what they share) and stores them, answering as
     * HEC does; `fields`: the request's field mapping, read once by the route.
     */
    async function store(req: FastifyRequest, reply: FastifyReply, read: (d: EventDefaults) => HecBatch, fields = fieldMapping(req)) {
      const d: EventDefaults = { tenant: ctx.tenantOf(req), source: 'http', observedNs: nowNs() }
      const batch = read(d)
      if (batch.records.length === 0) return reply.code(400).send(hecBody(HEC_CODES.noData))
      const accepting = ctx.ingest.records(batch.records, { ...d, access: req.access, ...(fields && { fields }) }, batch.errors)
      releaseBody(req)
      const result = await accepting
      if (result.errors.length === 0) return reply.code(200).send(hecBody(0))
      const errors = [...result.errors].sort((a, b) => a.index - b.index)
      const first = errors[0]!
      const code = (first as Partial<HecError>).code ?? HEC_CODES.invalidDataFormat
      const where = first.field ? `${first.field}: ` : ''
      const max = ctx.config.maxErrorsReported
      const status = result.accepted === 0 && result.forbidden > 0 && result.forbidden === result.rejected ? 403 : 400
      return reply.code(status).send(
        hecBody(status === 403 ? 4 : code, `event ${first.index}: ${where}${first.message}`, {
          'invalid-event-number': first.index,
          accepted: result.accepted,
          rejected: result.rejected,
          errors: errors.slice(0, max).map(({ index, field, message }) => ({ index, field, message })),
          ...(errors.length > max && { errorsTruncated: true }),
        }),
      )
    }

    const body = (req: FastifyRequest): Buffer => (Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0))

    const eventSchema = {
      tags: ['ingest'],
      summary: 'Splunk HEC events: JSON event objects, one after another',
      description: 'Splunk HTTP Event Collector events ({"time", "host", "source", "sourcetype", "index", "event", "fields"}), concatenated or one per line. 200 {"text":"Success","code":0}; refused events are answered 400 with HEC\'s code and `invalid-event-number`, the others stored.',
      querystring,
      body: z.unknown(),
    }
    for (const url of [...EVENT_PATHS, ...RAW_PATHS]) {
      // Docker's splunk log driver checks the URL with an OPTIONS request before a container starts,
      // and refuses to start it unless the answer is 200.
      hec.options(url, { config: { public: true }, schema: { hide: true } }, async (_req, reply) => reply.code(200).header('allow', 'POST, OPTIONS').send())
    }
    for (const url of EVENT_PATHS) {
      hec.post(url, { schema: { ...eventSchema, ...(url !== EVENT_PATHS[1] && { hide: true }) } }, async (req, reply) => {
        const buf = body(req)
        const problem = utf8Problem(buf)
        if (problem) throw new SluiceError('VALIDATION_FAILED', `the body is ${problem}`)
        const fields = fieldMapping(req)
        const defaults = defaultsOf(req)
        return store(req, reply, (d) => readEvents(buf.toString('utf8'), defaults, fields?.message !== undefined, d), fields)
      })
    }

    const rawSchema = {
      tags: ['ingest'],
      summary: 'Splunk HEC raw: lines of text, one event each',
      description: 'Each non-blank line is an event, with the host, source, sourcetype and index of the query string.',
      querystring,
      body: z.unknown(),
    }
    for (const url of RAW_PATHS) {
      hec.post(url, { schema: { ...rawSchema, ...(url !== RAW_PATHS[0] && { hide: true }) } }, async (req, reply) => {
        const buf = body(req)
        const defaults = defaultsOf(req)
        return store(req, reply, () => readRaw(buf.toString('utf8'), defaults, invalidUtf8Lines(buf)))
      })
    }

    for (const url of HEALTH_PATHS) {
      // Open, as Splunk's is: load balancers probe it without a token.
      hec.get(url, { config: { public: true }, schema: { tags: ['ingest'], summary: 'Splunk HEC health (no key asked)', ...(url !== HEALTH_PATHS[0] && { hide: true }) } }, async (_req, reply) => {
        const report = await runHealthChecks(ctx.checks ?? {})
        if (report.ok) return reply.send(hecBody(17))
        const failing = Object.entries(report.checks).filter(([, v]) => v !== 'ok').map(([k, v]) => `${k}: ${v}`)
        return reply.code(503).send(hecBody(18, failing.join('; ')))
      })
    }

    hec.post('/services/collector/ack', { schema: { tags: ['ingest'], summary: 'Splunk HEC indexer acknowledgement (disabled: a 200 is the acknowledgement)' } }, async (_req, reply) =>
      reply.code(400).send(hecBody(14, 'Sluice answers 200 only once Kafka holds the events, so no acknowledgement is to be polled')),
    )
  })
}
