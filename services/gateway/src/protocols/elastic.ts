// The Elasticsearch bulk API, so that shippers with an Elasticsearch output (Filebeat, Logstash,
// Fluent Bit, Vector, the official clients, pino-elasticsearch …) send to Sluice unchanged:
//   POST|PUT /_bulk, /{index}/_bulk   NDJSON action/source pairs (elastic-bulk.ts), each source
//                                      document mapped to a record (elastic-map.ts)
//   GET / and the handshake shippers make before sending (elastic-handshake.ts)
// Tenant: header x-sluice-tenant (or X-Scope-OrgID); with SLUICE_AUTH=true the key's (Beats'
// `api_key: id:key` as `Authorization: ApiKey`, Basic auth with the key as password, Bearer), on the
// handshake as on _bulk. Answers the way Elasticsearch does, which is what the clients read:
//   200  {"took":ms,"errors":bool,"items":[{"create":{"_index","_id","status":201,"result":"created",…}}
//        or {"index":{"_index","_id","status":400,"error":{"type":"mapper_parsing_exception","reason":…}}}]}
//        once Kafka acknowledged every stored item; a bad item is refused in its place only.
//        An `_id` stored earlier in the same request (in the same index): a second `create` is
//        refused, 409 version_conflict_engine_exception, as Elasticsearch refuses it; a second
//        `index` is stored and answered as Elasticsearch's update, 200 "updated" with the next
//        _version — both records reach Kafka with that id, and ClickHouse's ReplacingMergeTree
//        keeps the later one where it collapses them (same service and time). Ids from earlier
//        requests are not known here: a retry is stored again, under its id, as before.
//   400  nothing to do (no action in the body), a bad path index or tenant header
//   405  GET, DELETE or PATCH on a _bulk path: {"error":"Incorrect HTTP method …","status":405}
//        with Allow: POST, PUT, as Elasticsearch answers it
//   401  no or an unknown key: security_exception, WWW-Authenticate (Basic, Bearer, ApiKey) as
//        Elasticsearch answers it — Beats and Logstash log it and retry with backoff
//   403  the key lacks the ingest scope or may not act as the tenant named: security_exception
//   413  body over GATEWAY_MAX_BODY_BYTES after decompression (Beats split the batch and retry)
//   415  a content type other than JSON or NDJSON (also the vendor types of the 8 and 9 clients)
//   429  the tenant is over its ingest limit, or the gateway waits on Kafka for too much already:
//        es_rejected_execution_exception for the whole request, nothing written, Retry-After.
//        Elasticsearch answers its indexing-pressure limit the same way; items
//        rejected with 429 one by one would be dropped by shippers that retry only whole requests
//        (Vector by default), and nothing of the request was written anyway.
//   503  Kafka did not acknowledge: the whole request, Retry-After (the clients retry 503 themselves)
// Error bodies have Elasticsearch's shape {"error":{"type","reason",…},"status"}: the shared error
// handler picks the status (libs/observability/src/http.ts) and a preSerialization hook here
// rewrites its body; every answer carries `X-Elastic-Product: Elasticsearch`, which the official
// clients check.
//
// Body parsing: native.ts registers parsers for application/json and NDJSON in the scope all
// protocols share, and they read JSON records, not bulk bodies (a multi-line body sent as
// application/json — Logstash and Beats do — is not one JSON value). These routes live in their own
// encapsulated plugin, which starts from no parsers and takes its bodies as strings; fastify keeps
// parsers per plugin, so neither module sees the other's, and the body limit and request
// decompression (@fastify/compress, registered above) apply unchanged.
import { z } from 'zod'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { WWW_AUTHENTICATE } from '@sluice/auth'
import { nowNs, uuidv7, validateLogInput } from '@sluice/core'
import type { FieldError } from '@sluice/core'
import { invalidUtf8Lines } from '../body.js'
import { SKIP, Validated } from '../ingest.js'
import type { EventDefaults } from '../ingest.js'
import { releaseBody } from '../protocol.js'
import type { ProtocolContext } from '../protocol.js'
import { indexNameProblem, isPlainObject, parseBulk, shown } from './elastic-bulk.js'
import type { ItemError } from './elastic-bulk.js'
import { esError, registerHandshake } from './elastic-handshake.js'
import { documentField, toRecord } from './elastic-map.js'

/** What Elasticsearch and its clients send: JSON and NDJSON, plain or as the 8/9 clients' vendor types. */
export const ES_CONTENT_TYPES = ['application/json', 'application/x-ndjson', 'application/vnd.elasticsearch+json', 'application/vnd.elasticsearch+x-ndjson'] as const

/** Exception type of an error answered for the whole request, by status. */
const TYPE_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'illegal_argument_exception',
  401: 'security_exception',
  403: 'security_exception',
  413: 'content_too_long_exception',
  415: 'media_type_header_exception',
  429: 'es_rejected_execution_exception',
  503: 'unavailable_shards_exception',
}

const SHARDS = '{"total":1,"successful":1,"failed":0}'
/** A created item's fields between its id and its sequence number, as filter_path may keep them. */
const CREATED_CONSTANTS: ReadonlyArray<readonly [string, string]> = [
  ['_version', '"_version":1'],
  ['result', '"result":"created"'],
  ['_shards', `"_shards":${SHARDS}`],
]

/**
 * What a bulk answer keeps under `filter_path`, as Beats and Logstash send it
 * (`filter_path=errors,items.*.error,items.*.status`) to keep answers small: the top-level keys
 * named, and of each item the fields named after `items.*.` (a deeper path keeps its whole first
 * field). Undefined: everything. Exclusions (`-path`) are not supported and ignored.
 */
export interface BulkFilter {
  top: ReadonlySet<string>
  item: ReadonlySet<string> | 'all'
}

export function bulkFilter(param: unknown): BulkFilter | undefined {
  if (typeof param !== 'string' || param.trim() === '') return undefined
  const top = new Set<string>()
  let item: Set<string> | 'all' | undefined
  for (const raw of param.split(',')) {
    const path = raw.trim()
    if (path === '' || path.startsWith('-')) continue
    const [head = '', , field] = path.split('.')
    if (head === '*' || head === '**') return undefined
    top.add(head)
    if (head !== 'items') continue
    if (field === undefined || field === '*' || field === '**') item = 'all'
    else if (item === undefined) item = new Set([field])
    else if (item !== 'all') item.add(field)
  }
  return { top, item: item ?? 'all' }
}

/** One item of the answer, `{"<op>": fields}`, with only the fields `filter` keeps. */
function itemJson(op: string, fields: Record<string, unknown>, filter: BulkFilter | undefined): string {
  if (!filter || filter.item === 'all') return JSON.stringify({ [op]: fields })
  const kept: Record<string, unknown> = {}
  for (const k of Object.keys(fields)) if (filter.item.has(k)) kept[k] = fields[k]
  return JSON.stringify({ [op]: kept })
}

/** The shared error handler's `{ error: CODE, message }` as Elasticsearch's error body. */
function asEsError(req: FastifyRequest, reply: FastifyReply, payload: unknown): unknown {
  if (reply.statusCode < 400 || !isPlainObject(payload) || typeof payload.error !== 'string' || typeof payload.message !== 'string') return payload
  const { error: code, message, ...extra } = payload
  const reason = reply.statusCode === 415 && !code.includes('ENCODING') ? `Content-Type header [${req.headers['content-type'] ?? ''}] is not supported: send ${ES_CONTENT_TYPES.join(', ')}` : message
  // Elasticsearch repeats its challenges in a 401's body, under `header`.
  const challenge = reply.statusCode === 401 && { header: { 'WWW-Authenticate': ES_CHALLENGES } }
  return esError(reply.statusCode, TYPE_BY_STATUS[reply.statusCode] ?? 'exception', reason, { ...challenge, sluice_error: code, ...extra })
}

/** The credentials Elasticsearch's 401 asks for, ApiKey (Beats' `api_key`) beside Sluice's Bearer and Basic. */
const ES_CHALLENGES = [...WWW_AUTHENTICATE, 'ApiKey realm="sluice"']

export function registerElastic(api: FastifyInstance, ctx: ProtocolContext): void {
  void api.register(async (es) => {
    es.removeAllContentTypeParsers()
    es.addContentTypeParser([...ES_CONTENT_TYPES], { parseAs: 'buffer' }, (_req, body, done) => done(null, body))
    // On every answer, also one refused before the route ran (no key: the guard's onRequest hook
    // comes first): the official clients check it.
    es.addHook('onSend', async (_req, reply, payload) => {
      reply.header('x-elastic-product', 'Elasticsearch')
      if (reply.statusCode === 401) reply.header('www-authenticate', ES_CHALLENGES)
      return payload
    })
    es.addHook('preSerialization', async (req, reply, payload) => asEsError(req, reply, payload))
    // Described for the OpenAPI document: bulk, and the handshake shippers make before it. The
    // catch-alls under the handshake's prefixes (Elasticsearch's "no handler found" 400, on every
    // method) are not an API of their own.
    es.addHook('onRoute', (route) => {
      const hidden = route.url.endsWith('/*') || route.schema?.hide === true
      const bulk = route.url.endsWith('/_bulk') && !hidden
      route.schema = {
        ...(hidden && { hide: true }),
        tags: ['ingest'],
        summary: bulk ? 'Elasticsearch bulk API: Filebeat, Logstash, Fluent Bit, Vector, syslog-ng' : 'Elasticsearch handshake for shippers',
        ...(bulk && { consumes: [...ES_CONTENT_TYPES], body: z.unknown() }),
        ...route.schema,
      }
    })
    registerBulk(es, ctx)
    registerHandshake(es)
  })
}

function registerBulk(es: FastifyInstance, ctx: ProtocolContext): void {
  let seqNo = 0

  const bulk = async (req: FastifyRequest<{ Params: { index?: string } }>, reply: FastifyReply) => {
    const started = performance.now()
    const pathIndex = req.params.index
    const problem = pathIndex === undefined ? undefined : indexNameProblem(pathIndex)
    if (problem) return reply.code(400).send(esError(400, 'invalid_index_name_exception', `Invalid index name [${shown(pathIndex!)}], ${problem}`, { index: shown(pathIndex!) }))
    const tenant = ctx.tenantOf(req)
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)
    const items = parseBulk(body.toString(), pathIndex, invalidUtf8Lines(body))
    if (items.length === 0) return reply.code(400).send(esError(400, 'action_request_validation_exception', 'Validation Failed: 1: no requests added;'))

    const defaults: EventDefaults = { tenant, source: 'http', observedNs: nowNs() }
    const records: unknown[] = []
    const known: FieldError[] = []
    const errors: Array<ItemError | undefined> = []
    const from: Array<Readonly<Record<string, string>> | undefined> = []
    const filter = bulkFilter((req.query as Record<string, unknown>).filter_path)
    // Ids are kept (until Kafka answered) only for an answer that names them: Beats' and
    // Logstash's filter_path leaves them out.
    const keepIds = !filter || filter.item === 'all' || filter.item.has('_id')
    const ids: Array<string | null> = []
    // The client's ids this request stores, by index and id: their last _version (see the header).
    const stored = new Map<string, number>()
    /** The _version of an item stored over an earlier one of the request (an `index`), else none. */
    const versions: Array<number | undefined> = []
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!
      let error = item.error
      let id = item.id
      if (item.doc && !error) {
        // An id of our own when the action names none, so that the answer names the stored record.
        id ??= uuidv7()
        const mapped = toRecord(item.doc, id, item.index!, defaults) // an item without error has an index
        if (mapped.ok) {
          let record: unknown = mapped.doc.event ?? mapped.doc.record
          if (item.id !== null) {
            const key = JSON.stringify([item.index, id])
            const version = stored.get(key)
            if (version !== undefined && item.op === 'create') {
              error = { status: 409, type: 'version_conflict_engine_exception', reason: `[${id}]: version conflict, document already exists (current version [${version}])` }
            } else {
              // Only a stored document's id can conflict: one the validator is still to judge is
              // judged now (and handed on as judged).
              if (!(record instanceof Validated)) {
                const judged = validateLogInput(record, i, defaults)
                if (judged.ok) record = new Validated(judged.event)
              }
              if (record instanceof Validated) {
                stored.set(key, (version ?? 0) + 1)
                if (version !== undefined) versions[i] = version + 1
              }
            }
          }
          if (!error) {
            records.push(record)
            from[i] = mapped.doc.from
            if (keepIds) ids[i] = id
            continue
          }
        } else {
          error = { status: 400, type: 'mapper_parsing_exception', reason: mapped.reason }
        }
      }
      error ??= { status: 400, type: 'illegal_argument_exception', reason: 'no document' } // parseBulk sets one of the two
      if (keepIds) ids[i] = id
      errors[i] = error
      records.push(SKIP)
      known.push({ index: i, field: '', message: error.reason })
    }

    const accepting = ctx.ingest.records(records, { ...defaults, access: req.access }, known)
    // The documents and records are encoded now: let them go before the wait for Kafka (see releaseBody).
    for (const item of items) item.doc = undefined
    records.length = 0
    releaseBody(req)
    const result = await accepting
    // What Sluice's validation refused, in the document's field names; one reason per field.
    const reasons = new Map<number, string[]>()
    for (const e of result.errors) {
      if (errors[e.index]) continue // refused before validation, with its own error
      const field = documentField(e.field, from[e.index] ?? {})
      const reason = field === '' ? e.message : `failed to parse field [${field}]: ${e.message}`
      reasons.set(e.index, [...(reasons.get(e.index) ?? []), reason])
    }
    for (const [i, r] of reasons) errors[i] = { status: 400, type: 'mapper_parsing_exception', reason: r.join('; ') }
    // The answer is one item per document: written as text, the few fields of a created item
    // around its index, id and sequence number, rather than a thousand objects to stringify.
    const quoted = new Map<string | null, string>()
    const sameAnswers = new Map<string, string>()
    const q = (v: string | null) => quoted.get(v) ?? (quoted.set(v, JSON.stringify(v)), quoted.get(v)!)
    const answers = items.map((item, i) => {
      const error = errors[i]
      const id = ids[i] ?? null
      if (error) return itemJson(item.op, { _index: item.index, _id: id, status: error.status, error: { type: error.type, reason: error.reason, ...(item.index !== null && { index: item.index }) } }, filter)
      const seq = seqNo++
      const version = versions[i]
      if (version !== undefined) {
        // Stored over an earlier item of the request: Elasticsearch's update.
        return itemJson(item.op, { _index: item.index, _id: id, _version: version, result: 'updated', _shards: JSON.parse(SHARDS) as unknown, _seq_no: seq, _primary_term: 1, status: 200 }, filter)
      }
      if (filter && filter.item !== 'all') {
        const kept = filter.item
        // Without index, id or sequence number (Beats' and Logstash's filter) the answer is the
        // same for every created item of an operation.
        const constant = !kept.has('_index') && !kept.has('_id') && !kept.has('_seq_no')
        const cached = constant ? sameAnswers.get(item.op) : undefined
        if (cached !== undefined) return cached
        const fields: string[] = []
        if (kept.has('_index')) fields.push(`"_index":${q(item.index)}`)
        if (kept.has('_id')) fields.push(`"_id":${JSON.stringify(id)}`)
        for (const [name, text] of CREATED_CONSTANTS) if (kept.has(name)) fields.push(text)
        if (kept.has('_seq_no')) fields.push(`"_seq_no":${seq}`)
        if (kept.has('_primary_term')) fields.push('"_primary_term":1')
        if (kept.has('status')) fields.push('"status":201')
        const answer = `{"${item.op}":{${fields.join(',')}}}`
        if (constant) sameAnswers.set(item.op, answer)
        return answer
      }
      return `{"${item.op}":{"_index":${q(item.index)},"_id":${JSON.stringify(id)},"_version":1,"result":"created","_shards":${SHARDS},"_seq_no":${seq},"_primary_term":1,"status":201}}`
    })
    const parts: string[] = []
    if (!filter || filter.top.has('took')) parts.push(`"took":${Math.round(performance.now() - started)}`)
    if (!filter || filter.top.has('errors')) parts.push(`"errors":${result.rejected > 0}`)
    if (!filter || filter.top.has('items')) parts.push(`"items":[${answers.join(',')}]`)
    return reply.type('application/json; charset=utf-8').send(`{${parts.join(',')}}`)
  }

  for (const url of ['/_bulk', '/:index/_bulk']) {
    es.post(url, bulk)
    es.put(url, bulk)
    // Elasticsearch's answer to another method (RestController's, whose error is a string).
    es.route({
      method: ['GET', 'DELETE', 'PATCH'],
      url,
      schema: { hide: true },
      handler: async (req, reply) =>
        reply
          .code(405)
          .header('allow', 'POST,PUT')
          .send({ error: `Incorrect HTTP method for uri [${shown(req.url)}] and method [${req.method}], allowed: [POST, PUT]`, status: 405 }),
    })
  }
}
