// Deletions: a tenant's logs matching a selector removed as an asynchronous task — GDPR erasure
// requests ("everything about user u-42"), or what a lowered retention should no longer keep.
//
//   POST /v1/deletions       {"tenant":"acme","selector":{"user_id":"u-42"}}  → 202 task
//   GET  /v1/deletions       ?tenant=&limit=                                  → 200 {"tasks":[task…]}
//   GET  /v1/deletions/{id}                                                   → 200 task
//   task = {id, tenant, status: pending|running|done|failed, selector, rows_matched, created_at,
//           finished_at, error}
//
// Admin scope. A deletion names exactly one tenant: the body's `tenant`, x-sluice-tenant or
// X-Scope-OrgID (checked against the key), else the key's own; a `*` key (or no authentication)
// naming none is refused (400), as is a selector with no criterion.
//
// Selector (every criterion given must match; values are bound parameters, never SQL text):
//   service      ServiceName
//   from, to     time range of the records (ISO-8601 or epoch s/ms/ns), from inclusive, to exclusive
//   level        a level or a list of them (SeverityText)
//   user_id      UserId, or LogAttributes['user_id']
//   session_id   SessionId, or LogAttributes['session_id']
//   trace_id     TraceId
//   attributes   {"key":"value", …}: LogAttributes[key] = value
//
// A task runs on the instance that accepted it, one task at a time: it counts the matching
// records (rows_matched), blanks the sample message of the pattern hours they fall in (patterns
// keep one), deletes their error_events rows, then the records. Deletes are ALTER TABLE … DELETE
// mutations, waited for (mutations_sync): they rewrite the parts that hold the rows, so the data
// is gone from disk when the task is done (a lightweight DELETE would only hide the rows until a
// later merge). What stays: counts in volume, label_values and patterns (no content; label values
// are service, level, host and resource attributes), attribute key names (attribute_keys), pattern templates (variables masked), and
// the records still in Kafka topics until those topics' own retention passes.
//
// Task state is stored in <db>.deletions (schemas/clickhouse/0012), one row per state, so any
// instance answers for any task. On a ClickHouse cluster (CLICKHOUSE_CLUSTER) the mutations go ON
// CLUSTER to the local tables (a Distributed table takes no mutation) and their subqueries read the
// shard's own local logs: error_events and patterns rows are written by views on the shard of the
// log row they come from, so each shard finds its own. A task interrupted by a restart stays `running`; deleting again
// with the same selector is harmless. Creation and completion are audited.
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { TENANT_HEADERS, mayActAs, openSecurity, requestedTenant } from '@sluice/auth'
import type { AuditLog } from '@sluice/auth'
import { clusterTarget } from '@sluice/clickhouse'
import type { ClickHouseClient } from '@sluice/clickhouse'
import { SluiceError, TENANT_PATTERN, errorMessage, parseSeverity, parseTimestampNs, uuidv7 } from '@sluice/core'
import type { ZodTypeProvider } from '@sluice/observability'
import type { Logger } from 'pino'
import { registerAudit } from './audit.js'
import { Params } from './loki/sql.js'

export const TASK_STATUSES = ['pending', 'running', 'done', 'failed'] as const
type TaskStatus = (typeof TASK_STATUSES)[number]
/** ReplacingMergeTree(version): each state supersedes the ones before it. */
const VERSION: Record<TaskStatus, number> = { pending: 1, running: 2, done: 3, failed: 3 }

const text = (max: number) => z.string().min(1).max(max)
const time = z.union([z.string().max(64), z.number()]).refine((v) => parseTimestampNs(v) !== undefined, 'expected ISO-8601 or epoch seconds/ms/ns')
const level = text(32).refine((v) => parseSeverity(v) !== undefined, 'unknown level')

export const selectorSchema = z
  .strictObject({
    service: text(256).optional(),
    from: time.optional(),
    to: time.optional(),
    level: z.union([level, z.array(level).min(1).max(8)]).optional(),
    user_id: text(256).optional(),
    session_id: text(256).optional(),
    trace_id: text(64).optional(),
    attributes: z.record(text(256), z.string().max(1024)).optional(),
  })
  .superRefine((s, ctx) => {
    const criteria = Object.entries(s).filter(([k, v]) => v !== undefined && !(k === 'attributes' && Object.keys(v as object).length === 0))
    if (criteria.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'the selector names no criterion: give at least one of service, from, to, level, user_id, session_id, trace_id, attributes' })
    }
    if (s.attributes && Object.keys(s.attributes).length > 16) ctx.addIssue({ code: 'custom', path: ['attributes'], message: 'at most 16 attributes' })
    if (s.from !== undefined && s.to !== undefined && parseTimestampNs(s.from)! >= parseTimestampNs(s.to)!) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'to must be after from' })
    }
  })
export type Selector = z.infer<typeof selectorSchema>

const createBody = z.strictObject({
  tenant: z.string().regex(TENANT_PATTERN, 'expected 1-64 characters of A-Z a-z 0-9 _ . -').optional(),
  selector: selectorSchema,
})

export interface DeletionTask {
  id: string
  tenant: string
  status: TaskStatus
  selector: Selector
  rows_matched: number
  created_at: string
  finished_at: string | null
  error: string | null
}

export interface DeletionsDeps {
  database: string
  /** CLICKHOUSE_CLUSTER, when the tables are a cluster's. */
  cluster?: string | undefined
  clickhouse: Pick<ClickHouseClient, 'query' | 'command'>
  logger: Logger
  /** Where completions are audited (creations go through the request's access). */
  audit?: AuditLog | undefined
}


/** The WHERE clause over <db>.logs of a tenant's selector. */
export function selectorWhere(tenant: string, s: Selector, p: Params): string {
  const c = [`tenant = ${p.bind(tenant)}`]
  if (s.service !== undefined) c.push(`ServiceName = ${p.bind(s.service)}`)
  // TimestampTime is in the partition and sorting keys: whole parts are skipped.
  if (s.from !== undefined) {
    const ns = parseTimestampNs(s.from)!
    c.push(`TimestampTime >= toDateTime(${p.bind(String(ns / 1_000_000_000n), 'Int64')})`, `Timestamp >= fromUnixTimestamp64Nano(${p.bind(String(ns), 'Int64')})`)
  }
  if (s.to !== undefined) {
    const ns = parseTimestampNs(s.to)!
    c.push(`TimestampTime <= toDateTime(${p.bind(String((ns + 999_999_999n) / 1_000_000_000n), 'Int64')})`, `Timestamp < fromUnixTimestamp64Nano(${p.bind(String(ns), 'Int64')})`)
  }
  if (s.level !== undefined) {
    const levels = (Array.isArray(s.level) ? s.level : [s.level]).map((l) => parseSeverity(l)!.text)
    c.push(`SeverityText IN ${p.bind(levels, 'Array(String)')}`)
  }
  if (s.user_id !== undefined) {
    const v = p.bind(s.user_id)
    c.push(`(UserId = ${v} OR LogAttributes['user_id'] = ${v})`)
  }
  if (s.session_id !== undefined) {
    const v = p.bind(s.session_id)
    c.push(`(SessionId = ${v} OR LogAttributes['session_id'] = ${v})`)
  }
  if (s.trace_id !== undefined) c.push(`TraceId = ${p.bind(s.trace_id)}`)
  for (const [k, v] of Object.entries(s.attributes ?? {})) c.push(`LogAttributes[${p.bind(k)}] = ${p.bind(v)}`)
  return c.join(' AND ')
}

/** Runs deletion tasks one at a time and keeps their state in <db>.deletions. */
export class Deletions {
  readonly #deps: DeletionsDeps
  #queue: Promise<void> = Promise.resolve()

  constructor(deps: DeletionsDeps) {
    this.#deps = deps
  }

  /** Records a pending task and queues it; resolves once the task is stored. */
  async create(tenant: string, selector: Selector, keyId: string): Promise<DeletionTask> {
    const task: DeletionTask = { id: uuidv7(), tenant, status: 'pending', selector, rows_matched: 0, created_at: new Date().toISOString(), finished_at: null, error: null }
    await this.#store(task, keyId)
    this.#queue = this.#queue.then(() => this.#run(task, keyId))
    return task
  }

  /** Waits for the queued tasks (shutdown, tests). */
  idle(): Promise<void> {
    return this.#queue
  }

  async get(id: string): Promise<DeletionTask | undefined> {
    const p = new Params()
    const [task] = await this.#read(`id = ${p.bind(id)}`, p, 1)
    return task
  }

  /** The newest tasks of a tenant (every tenant when undefined). */
  list(tenant: string | undefined, limit: number): Promise<DeletionTask[]> {
    const p = new Params()
    return this.#read(tenant === undefined ? '1' : `tenant = ${p.bind(tenant)}`, p, limit)
  }

  async #read(where: string, p: Params, limit: number): Promise<DeletionTask[]> {
    const rs = await this.#deps.clickhouse.query({
      query: `SELECT id, tenant, status, selector, toString(rows_matched) AS rows_matched, toUnixTimestamp64Milli(created_at) AS created_ms,
                     if(isNull(finished_at), -1, toUnixTimestamp64Milli(assumeNotNull(finished_at))) AS finished_ms, error
              FROM ${this.#deps.database}.deletions FINAL WHERE ${where} ORDER BY created_at DESC, id DESC LIMIT ${Math.trunc(limit)}`,
      query_params: p.values,
      format: 'JSONEachRow',
    })
    const rows = await rs.json<{ id: string; tenant: string; status: TaskStatus; selector: string; rows_matched: string; created_ms: string | number; finished_ms: string | number; error: string }>()
    return rows.map((r) => ({
      id: r.id,
      tenant: r.tenant,
      status: r.status,
      selector: JSON.parse(r.selector) as Selector,
      rows_matched: Number(r.rows_matched),
      created_at: new Date(Number(r.created_ms)).toISOString(),
      finished_at: Number(r.finished_ms) < 0 ? null : new Date(Number(r.finished_ms)).toISOString(),
      error: r.error === '' ? null : r.error,
    }))
  }

  async #store(task: DeletionTask, keyId: string): Promise<void> {
    const p = new Params()
    const finished = task.finished_at === null ? 'NULL' : `fromUnixTimestamp64Milli(${p.bind(Date.parse(task.finished_at), 'Int64')}, 'UTC')`
    await this.#deps.clickhouse.command({
      query: `INSERT INTO ${this.#deps.database}.deletions (id, tenant, status, selector, rows_matched, created_at, finished_at, error, key_id, version)
              SELECT ${p.bind(task.id)}, ${p.bind(task.tenant)}, ${p.bind(task.status)}, ${p.bind(JSON.stringify(task.selector))}, ${p.bind(task.rows_matched, 'UInt64')},
                     fromUnixTimestamp64Milli(${p.bind(Date.parse(task.created_at), 'Int64')}, 'UTC'), ${finished}, ${p.bind(task.error ?? '')}, ${p.bind(keyId)}, ${p.bind(VERSION[task.status], 'UInt8')}`,
      query_params: p.values,
    })
  }

  async #run(task: DeletionTask, keyId: string): Promise<void> {
    const log = this.#deps.logger.child({ deletion: task.id, tenant: task.tenant })
    const db = this.#deps.database
    const target = clusterTarget(db, this.#deps.cluster)
    const ch = this.#deps.clickhouse
    const matching = (p: Params) => selectorWhere(task.tenant, task.selector, p)
    const statement = async (build: (p: Params) => string) => {
      const p = new Params()
      const query = build(p)
      await ch.command({ query, query_params: p.values })
    }
    let done: DeletionTask
    try {
      await this.#store({ ...task, status: 'running' }, keyId)
      const p = new Params()
      const rs = await ch.query({ query: `SELECT toString(count()) AS n FROM ${db}.logs FINAL WHERE ${matching(p)}`, query_params: p.values, format: 'JSONEachRow' })
      const [{ n } = { n: '0' }] = await rs.json<{ n: string }>()
      const rowsMatched = Number(n)
      if (rowsMatched > 0) {
        // Before the records go: both statements find their rows through them.
        await statement(
          (q) => `ALTER TABLE ${target.mutate('patterns')} UPDATE Sample = initializeAggregation('anyState', '')
                  WHERE tenant = ${q.bind(task.tenant)} AND (ServiceName, PatternId, Bucket) IN
                    (SELECT ServiceName, PatternId, toDateTime(toStartOfHour(Timestamp)) FROM ${target.local('logs')} WHERE ${matching(q)})
                  SETTINGS ${target.mutationSettings}`,
        )
        await statement(
          (q) => `ALTER TABLE ${target.mutate('error_events')} DELETE WHERE tenant = ${q.bind(task.tenant)} AND id IN (SELECT id FROM ${target.local('logs')} WHERE ${matching(q)}) SETTINGS ${target.mutationSettings}`,
        )
        await statement((q) => `ALTER TABLE ${target.mutate('logs')} DELETE WHERE ${matching(q)} SETTINGS ${target.mutationSettings}`)
      }
      done = { ...task, status: 'done', rows_matched: rowsMatched, finished_at: new Date().toISOString() }
      log.info({ rows: rowsMatched }, 'deletion done')
    } catch (err) {
      done = { ...task, status: 'failed', finished_at: new Date().toISOString(), error: errorMessage(err).slice(0, 2000) }
      log.error({ err: errorMessage(err) }, 'deletion failed')
    }
    this.#deps.audit?.record({
      action: 'deletion.complete',
      outcome: done.status === 'done' ? 'ok' : 'failed',
      tenant: task.tenant,
      keyId,
      target: task.id,
      ...(done.error !== null && { reason: done.error }),
      details: { rows_matched: done.rows_matched },
    })
    try {
      await this.#store(done, keyId)
    } catch (err) {
      log.error({ err: errorMessage(err), status: done.status }, 'deletion state not stored: the task reads as running')
    }
  }
}

const idParams = z.strictObject({ id: z.string().min(1).max(64) })
const listQuery = z.strictObject({
  tenant: z.string().regex(TENANT_PATTERN).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
})

export interface RegisterDeletionsOptions {
  database: string
  cluster?: string | undefined
  clickhouse: Pick<ClickHouseClient, 'query' | 'command'>
  logger: Logger
  security?: { audit: AuditLog } | undefined
}

/** The tenant a deletion request names: the body's or a header's; two different ones are refused. */
function namedTenant(headers: Record<string, string | string[] | undefined>, body: string | undefined): string | undefined {
  const header = requestedTenant({ headers }, TENANT_HEADERS)
  if (header !== undefined && body !== undefined && header !== body) {
    throw new SluiceError('VALIDATION_FAILED', `the request names two tenants: ${header} (header) and ${body} (body); a deletion acts on one`)
  }
  return header ?? body
}

export function registerDeletions(app: FastifyInstance, opts: RegisterDeletionsOptions): Deletions {
  const deletions = new Deletions({
    database: opts.database,
    cluster: opts.cluster,
    clickhouse: opts.clickhouse,
    logger: opts.logger.child({ service: 'query-api', component: 'deletions' }),
    audit: (opts.security ?? openSecurity(opts.logger, 'query-api')).audit,
  })
  app.addHook('onClose', () => deletions.idle())
  const api = app.withTypeProvider<ZodTypeProvider>()
  const tags = ['admin']
  const config = { scope: 'admin' as const }

  api.post(
    '/v1/deletions',
    { config, schema: { tags, summary: "Delete a tenant's logs matching a selector (asynchronous; answers the task)", body: createBody } },
    async (req, reply) => {
      const tenant = req.access.tenant(namedTenant(req.headers, req.body.tenant), undefined)
      if (tenant === undefined) throw new SluiceError('VALIDATION_FAILED', 'a deletion names exactly one tenant: give "tenant" in the body, or x-sluice-tenant / X-Scope-OrgID')
      const task = await deletions.create(tenant, req.body.selector, req.access.keyId)
      req.access.audit({ action: 'deletion.create', outcome: 'ok', tenant, target: task.id, details: { selector: req.body.selector } })
      return reply.code(202).send(task)
    },
  )

  api.get('/v1/deletions', { config, schema: { tags, summary: 'Deletion tasks, newest first', querystring: listQuery } }, async (req) => {
    const tenant = req.access.tenant(namedTenant(req.headers, req.query.tenant), undefined)
    return { tasks: await deletions.list(tenant, req.query.limit) }
  })

  api.get('/v1/deletions/:id', { config, schema: { tags, summary: 'One deletion task and its status', params: idParams } }, async (req, reply) => {
    const task = await deletions.get(req.params.id)
    // Another tenant's task is answered as missing, not as forbidden: its id says nothing then.
    if (task === undefined || !mayActAs(req.access.principal, task.tenant)) return reply.code(404).send({ error: 'NOT_FOUND', message: `no deletion task ${JSON.stringify(req.params.id)}` })
    return task
  })
  return deletions
}

/** query-api's admin routes, deletions and the audit log (audit.ts), in a plugin of their own (the OpenAPI document sees them). */
export function registerAdmin(app: FastifyInstance, opts: RegisterDeletionsOptions): void {
  void app.register(async (admin) => {
    registerAudit(admin, opts)
    registerDeletions(admin, opts)
  })
}
