// What shippers ask an Elasticsearch cluster before they send: its version and product (every
// client starts with GET /), its license and features (Beats, Logstash), whether their index
// template, lifecycle policy, ingest pipeline and index exist — and they create them if not —,
// and whether the cluster is healthy (Vector's healthcheck, Fluent Bit's, monitoring). Sluice
// answers as a one-node, green cluster that has what it was given: templates, policies and
// pipelines are remembered by name (at most MAX_NAMED of each, per process) and acknowledged but
// never applied — Sluice maps documents itself (elastic-map.ts) and keeps its own retention. Every
// index exists: a document may go to any. Any other request under these paths is a 400 naming it,
// as Elasticsearch answers a URI it has no handler for.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { indexNameProblem, isPlainObject } from './elastic-bulk.js'

/**
 * The version Sluice claims: 8.19 is the release every current shipper accepts — Beats and
 * Logstash 8 and 9 (9.x talks to 8.19), Vector and Fluent Bit (which know majors up to 8), the
 * official clients 8 and 9 (which check the product header, not the version).
 */
const VERSION = {
  number: '8.19.0',
  build_flavor: 'default',
  build_type: 'docker',
  build_hash: '0000000000000000000000000000000000000000',
  build_date: '2025-07-24T00:00:00.000000000Z',
  build_snapshot: false,
  lucene_version: '9.12.2',
  minimum_wire_compatibility_version: '7.17.0',
  minimum_index_compatibility_version: '7.0.0',
} as const

const CLUSTER = 'sluice'
const NODE = 'sluice-gateway'
const CLUSTER_UUID = 'c2x1aWNlLWdhdGV3YXkwMA'
const MAX_NAMED = 1000

/** Elasticsearch's error body: the exception type and reason, also as the root cause. */
export function esError(status: number, type: string, reason: string, extra: Record<string, unknown> = {}) {
  const cause = { type, reason, ...extra }
  return { error: { root_cause: [cause], ...cause }, status }
}

const noHandler = (req: FastifyRequest) =>
  esError(400, 'illegal_argument_exception', `no handler found for uri [${req.url}] and method [${req.method}]: Sluice's Elasticsearch endpoint serves _bulk and the handshake shippers make before it`)

/** Names remembered in insertion order; past MAX_NAMED the oldest is forgotten. */
function named<T>() {
  const map = new Map<string, T>()
  return {
    put(name: string, value: T) {
      map.delete(name)
      map.set(name, value)
      if (map.size > MAX_NAMED) map.delete(map.keys().next().value!)
    },
    /** Entries matching a comma-separated list of names or `*` patterns (all when undefined); undefined: an exact name is missing. */
    find(pattern: string | undefined): Array<[string, T]> | undefined {
      if (pattern === undefined || pattern === '*' || pattern === '_all') return [...map]
      const out: Array<[string, T]> = []
      for (const part of pattern.split(',')) {
        if (!part.includes('*')) {
          const v = map.get(part)
          if (v === undefined) return undefined
          out.push([part, v])
          continue
        }
        const re = new RegExp(`^${part.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`)
        for (const [k, v] of map) if (re.test(k)) out.push([k, v])
      }
      return out
    },
  }
}

/** The JSON object a PUT carries, or an Elasticsearch error body saying why there is none. */
function objectBody(req: FastifyRequest): { ok: true; body: Record<string, unknown> } | { ok: false; error: ReturnType<typeof esError> } {
  const raw = Buffer.isBuffer(req.body) ? req.body.toString().trim() : typeof req.body === 'string' ? req.body.trim() : ''
  if (raw === '') return { ok: false, error: esError(400, 'parse_exception', 'request body is required') }
  try {
    const body: unknown = JSON.parse(raw)
    if (isPlainObject(body)) return { ok: true, body }
    return { ok: false, error: esError(400, 'parse_exception', 'request body must be a JSON object') }
  } catch (err) {
    return { ok: false, error: esError(400, 'x_content_parse_exception', `request body is not JSON: ${err instanceof Error ? err.message : String(err)}`) }
  }
}

/** A template, policy or pipeline name fit to remember, or the error that says why not. */
function nameProblem(name: string): string | undefined {
  if (name === '' || Buffer.byteLength(name) > 255) return 'must be 1-255 bytes'
  if (/[*,\s]/.test(name)) return "must not contain '*', ',' or whitespace"
  return undefined
}

const acknowledged = { acknowledged: true }

interface Template {
  index_patterns: string[]
  composed_of: string[]
  priority?: number
  version?: number
  data_stream?: Record<string, unknown>
}

/** `_cat` answers: JSON with ?format=json, else text columns (with a header line when ?v). */
function cat(req: FastifyRequest, reply: FastifyReply, rows: Array<Record<string, string>>, columns: readonly string[]) {
  const q = req.query as Record<string, string | undefined>
  if (q.format === 'json') return reply.send(rows)
  const lines = rows.map((r) => columns.map((c) => r[c] ?? '-').join(' '))
  if (q.v !== undefined) lines.unshift(columns.join(' '))
  return reply.type('text/plain; charset=UTF-8').send(lines.map((l) => `${l}\n`).join(''))
}

function clusterHealth() {
  return {
    cluster_name: CLUSTER,
    status: 'green',
    timed_out: false,
    number_of_nodes: 1,
    number_of_data_nodes: 1,
    active_primary_shards: 0,
    active_shards: 0,
    relocating_shards: 0,
    initializing_shards: 0,
    unassigned_shards: 0,
    unassigned_primary_shards: 0,
    delayed_unassigned_shards: 0,
    number_of_pending_tasks: 0,
    number_of_in_flight_fetch: 0,
    task_max_waiting_in_queue_millis: 0,
    active_shards_percent_as_number: 100,
  }
}

const LICENSE = {
  status: 'active',
  uid: '00000000-0000-4000-8000-000000000000',
  type: 'basic',
  issue_date: '2025-01-01T00:00:00.000Z',
  issue_date_in_millis: 1735689600000,
  max_nodes: 1000,
  max_resource_units: null,
  issued_to: CLUSTER,
  issuer: 'elasticsearch',
  start_date_in_millis: -1,
}

export function registerHandshake(es: FastifyInstance): void {
  const templates = named<Template>()
  const policies = named<{ version: number; modified_date: string }>()
  const pipelines = named<{ description?: string }>()

  es.get('/', async () => ({ name: NODE, cluster_name: CLUSTER, cluster_uuid: CLUSTER_UUID, version: VERSION, tagline: 'You Know, for Search' }))
  es.get('/_license', async () => ({ license: LICENSE }))
  es.get('/_xpack', async () => ({
    build: { hash: VERSION.build_hash, date: VERSION.build_date },
    license: { uid: LICENSE.uid, type: 'basic', mode: 'basic', status: 'active' },
    features: Object.fromEntries(['ilm', 'slm', 'data_streams', 'data_tiers', 'enrich', 'ml', 'monitoring', 'rollup', 'security', 'watcher'].map((f) => [f, { available: f !== 'ml' && f !== 'watcher', enabled: f !== 'security' }])),
    tagline: 'You know, for X',
  }))
  es.get('/_cluster/health', async () => clusterHealth())
  es.get('/_cluster/health/:index', async () => clusterHealth())

  es.get('/_cat/health', async (req, reply) => {
    const now = new Date()
    const row = { epoch: String(Math.floor(now.getTime() / 1000)), timestamp: now.toISOString().slice(11, 19), cluster: CLUSTER, status: 'green', 'node.total': '1', 'node.data': '1', shards: '0', pri: '0', relo: '0', init: '0', unassign: '0', pending_tasks: '0', max_task_wait_time: '-', active_shards_percent: '100.0%' }
    return cat(req, reply, [row], Object.keys(row))
  })
  es.get('/_cat/nodes', async (req, reply) => cat(req, reply, [{ ip: '127.0.0.1', 'heap.percent': '0', 'ram.percent': '0', cpu: '0', 'node.role': 'dhm', master: '*', name: NODE }], ['ip', 'heap.percent', 'ram.percent', 'cpu', 'node.role', 'master', 'name']))
  // Sluice keeps no per-index statistics: no index is listed.
  const indices = ['health', 'status', 'index', 'uuid', 'pri', 'rep', 'docs.count', 'docs.deleted', 'store.size', 'pri.store.size'] as const
  es.get('/_cat/indices', async (req, reply) => cat(req, reply, [], indices))
  es.get('/_cat/indices/:index', async (req, reply) => cat(req, reply, [], indices))

  es.get('/_index_template', async () => ({ index_templates: templates.find(undefined)!.map(([name, t]) => ({ name, index_template: t })) }))
  es.get<{ Params: { name: string } }>('/_index_template/:name', async (req, reply) => {
    const found = templates.find(req.params.name)
    if (!found) return reply.code(404).send(esError(404, 'resource_not_found_exception', `index template matching [${req.params.name}] not found`))
    return { index_templates: found.map(([name, t]) => ({ name, index_template: t })) }
  })
  es.put<{ Params: { name: string } }>('/_index_template/:name', async (req, reply) => {
    const problem = nameProblem(req.params.name)
    if (problem) return reply.code(400).send(esError(400, 'invalid_index_template_exception', `index_template [${req.params.name}] invalid, cause [name ${problem}]`))
    const parsed = objectBody(req)
    if (!parsed.ok) return reply.code(400).send(parsed.error)
    const { index_patterns: patterns, priority, version, data_stream: dataStream, composed_of: composedOf } = parsed.body
    const list = typeof patterns === 'string' ? [patterns] : patterns
    if (!Array.isArray(list) || list.length === 0 || !list.every((p) => typeof p === 'string')) {
      return reply.code(400).send(esError(400, 'action_request_validation_exception', 'Validation Failed: 1: index patterns are missing;'))
    }
    templates.put(req.params.name, {
      index_patterns: list as string[],
      composed_of: Array.isArray(composedOf) ? composedOf.filter((c): c is string => typeof c === 'string') : [],
      ...(typeof priority === 'number' && { priority }),
      ...(typeof version === 'number' && { version }),
      ...(isPlainObject(dataStream) && { data_stream: { hidden: false, allow_custom_routing: false } }),
    })
    return acknowledged
  })

  const policyBody = (entries: Array<[string, { version: number; modified_date: string }]>) =>
    Object.fromEntries(entries.map(([name, p]) => [name, { ...p, policy: { phases: {}, _meta: { sluice: 'acknowledged, not applied: Sluice keeps its own retention' } } }]))
  es.get('/_ilm/policy', async () => policyBody(policies.find(undefined)!))
  es.get<{ Params: { name: string } }>('/_ilm/policy/:name', async (req, reply) => {
    const found = policies.find(req.params.name)
    if (!found) return reply.code(404).send(esError(404, 'resource_not_found_exception', `Lifecycle policy not found: ${req.params.name}`))
    return policyBody(found)
  })
  es.put<{ Params: { name: string } }>('/_ilm/policy/:name', async (req, reply) => {
    const problem = nameProblem(req.params.name)
    if (problem) return reply.code(400).send(esError(400, 'illegal_argument_exception', `invalid policy name [${req.params.name}]: ${problem}`))
    const parsed = objectBody(req)
    if (!parsed.ok) return reply.code(400).send(parsed.error)
    const version = (policies.find(req.params.name)?.[0]?.[1].version ?? 0) + 1
    policies.put(req.params.name, { version, modified_date: new Date().toISOString() })
    return acknowledged
  })

  const pipelineBody = (entries: Array<[string, { description?: string }]>) =>
    Object.fromEntries(entries.map(([id, p]) => [id, { ...p, processors: [], _meta: { sluice: 'acknowledged, not applied: Sluice maps documents itself' } }]))
  es.get('/_ingest/pipeline', async () => pipelineBody(pipelines.find(undefined)!))
  es.get<{ Params: { id: string } }>('/_ingest/pipeline/:id', async (req, reply) => {
    const found = pipelines.find(req.params.id)
    // Elasticsearch answers an unknown pipeline with an empty object and 404.
    if (!found) return reply.code(404).send({})
    return pipelineBody(found)
  })
  es.put<{ Params: { id: string } }>('/_ingest/pipeline/:id', async (req, reply) => {
    const problem = nameProblem(req.params.id)
    if (problem) return reply.code(400).send(esError(400, 'illegal_argument_exception', `invalid pipeline id [${req.params.id}]: ${problem}`))
    const parsed = objectBody(req)
    if (!parsed.ok) return reply.code(400).send(parsed.error)
    const { description } = parsed.body
    pipelines.put(req.params.id, typeof description === 'string' ? { description: description.slice(0, 1024) } : {})
    return acknowledged
  })

  for (const prefix of ['/_cat', '/_cluster', '/_index_template', '/_ilm', '/_ingest', '/_license', '/_xpack']) {
    es.all(`${prefix}/*`, async (req, reply) => reply.code(400).send(noHandler(req)))
  }

  // Index exists / create. Any name is fine to write to, so any valid name exists; GET takes a
  // list or patterns (logs-*,audit) and names each of its parts.
  const invalidIndex = (name: string, problem: string) => esError(400, 'invalid_index_name_exception', `Invalid index name [${name}], ${problem}`, { index: name })
  es.get<{ Params: { index: string } }>('/:index', async (req, reply) => {
    const names = req.params.index.split(',')
    for (const name of names) {
      const problem = name === '_all' ? undefined : indexNameProblem(name.replaceAll('*', '') || 'all', true)
      if (problem) return reply.code(400).send(invalidIndex(name, problem))
    }
    const settings = (index: string) => ({ index: { number_of_shards: '1', number_of_replicas: '0', provided_name: index, uuid: CLUSTER_UUID, version: { created: '8190099' } } })
    return Object.fromEntries(names.map((index) => [index, { aliases: {}, mappings: {}, settings: settings(index) }]))
  })
  es.put<{ Params: { index: string } }>('/:index', async (req, reply) => {
    const problem = indexNameProblem(req.params.index, true)
    if (problem) return reply.code(400).send(invalidIndex(req.params.index, problem))
    return { acknowledged: true, shards_acknowledged: true, index: req.params.index }
  })
}
