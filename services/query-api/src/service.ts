// Query API: read access to stored logs for people and dashboards.
//   GET /v1/logs?q=&service=&level=&category=&pattern_id=&from=&to=&limit=&tenant= → { logs: [...newest first] }
//       pattern_id also matches the ids of template groups merged into it (pattern_aliases)
//   GET /v1/stats?service=&from=&to=&tenant=                     → counts by level and service
//   GET /v1/alerts?status=&service=&rule_kind=&tenant=&limit=     → { alerts: [...latest state, newest update first] }
// Reads use FINAL so re-delivered duplicates (and, for alerts, superseded versions) never show.
import type { FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import { formatNs } from '@sluice/core'
import type { ClickHouseClient } from '@sluice/clickhouse'
import { LATENCY_BUCKETS_SECONDS, createHttpApp, histogram } from '@sluice/observability'
import type { BaseDeps, DepsFor, ServiceInstance } from '@sluice/service'
import type { Config } from './config.js'
import { registerLoki } from './loki/routes.js'
import { alertFilters, alertsQuerySchema, containsPattern, filters, logsQuerySchema, parseQuery, statsQuerySchema, where } from './params.js'

export interface QueryDeps extends Pick<BaseDeps, 'logger' | 'registry' | 'checks'> {
  clickhouse: Pick<ClickHouseClient, 'query'>
}

interface StoredRow {
  id: string
  tenant: string
  ts: string
  observed: string
  service: string
  host: string
  severity_text: string
  severity_number: number
  message: string
  trace_id: string
  span_id: string
  attributes: Record<string, string>
  resource: Record<string, string>
  source: string
  category: string
  is_error: boolean
  pattern_id: string
  template: string
  classifier: string
  http_status: number | null
  duration_ms: number | null
  user_id: string
  session_id: string
  error_code: string
}

interface StoredAlert {
  id: string
  tenant: string
  rule_id: string
  rule_name: string
  rule_kind: string
  service: string
  pattern_id: string
  severity: string
  status: string
  value: number
  threshold: number
  window_start: string
  window_end: string
  started_at: string
  updated_at: string
  resolved_at: string | null
  acknowledged_by: string
  summary: string
  sample_log_ids: string[]
  version: number
}

export function buildApp(config: Config, deps: QueryDeps): FastifyInstance {
  const app = createHttpApp({ logger: deps.logger.child({ service: 'query-api' }), registry: deps.registry, checks: deps.checks })
  const querySeconds = histogram(deps.registry, 'sluice_query_seconds', 'Query API ClickHouse query duration.', LATENCY_BUCKETS_SECONDS, ['endpoint'])
  const table = `${config.database}.logs`
  const logsSchema = logsQuerySchema(config.maxLimit)
  const alertsSchema = alertsQuerySchema(config.maxLimit)

  void app.register(websocket, { options: { maxPayload: 64 * 1024 } })
  registerLoki(app, config.loki, { clickhouse: deps.clickhouse, querySeconds })

  const tenantOf = (header: unknown, param?: string) => param ?? (typeof header === 'string' && header !== '' ? header : undefined)

  app.get('/v1/logs', async (req) => {
    const p = parseQuery(logsSchema, req.query)
    const f = filters({ ...p, tenant: tenantOf(req.headers['x-sluice-tenant'], p.tenant) })
    if (p.q) {
      f.clauses.push('Body LIKE {pattern:String}')
      f.params.pattern = containsPattern(p.q)
    }
    if (p.level) {
      f.clauses.push('SeverityText IN {levels:Array(String)}')
      f.params.levels = p.level
    }
    if (p.category) {
      f.clauses.push('Category = {category:String}')
      f.params.category = p.category
    }
    if (p.pattern_id) {
      // A group keeps its id, but groups merged into it keep theirs on records stored before the
      // merge: the id, the group it was merged into (when it is an alias), and every alias of either.
      const scope = f.params.tenant === undefined ? '' : 'tenant = {tenant:String} AND '
      const canonical = `SELECT PatternId FROM ${config.database}.pattern_aliases WHERE ${scope}Alias = {pattern_id:String}`
      f.clauses.push(
        `PatternId IN (SELECT {pattern_id:String} UNION ALL ${canonical} UNION ALL SELECT Alias FROM ${config.database}.pattern_aliases WHERE ${scope}(PatternId = {pattern_id:String} OR PatternId IN (${canonical})))`,
      )
      f.params.pattern_id = p.pattern_id
    }
    const end = querySeconds.startTimer({ endpoint: 'logs' })
    const rs = await deps.clickhouse.query({
      query: `SELECT id, tenant, toString(toUnixTimestamp64Nano(Timestamp)) AS ts, toString(toUnixTimestamp64Nano(ObservedTimestamp)) AS observed,
                ServiceName AS service, HostName AS host, SeverityText AS severity_text, SeverityNumber AS severity_number,
                Body AS message, TraceId AS trace_id, SpanId AS span_id, LogAttributes AS attributes, ResourceAttributes AS resource, Source AS source,
                Category AS category, IsError AS is_error, PatternId AS pattern_id, Template AS template, Classifier AS classifier,
                HttpStatus AS http_status, DurationMs AS duration_ms, UserId AS user_id, SessionId AS session_id, ErrorCode AS error_code
              FROM ${table} FINAL ${where(f.clauses)}
              ORDER BY Timestamp DESC, id DESC LIMIT {limit:UInt32}`,
      query_params: { ...f.params, limit: p.limit },
      format: 'JSONEachRow',
    })
    const rows = await rs.json<StoredRow>()
    end()
    return {
      logs: rows.map(({ ts, observed, host, trace_id, span_id, user_id, session_id, error_code, ...r }) => ({
        ...r,
        timestamp: formatNs(BigInt(ts)),
        observed_timestamp: formatNs(BigInt(observed)),
        host: host || null,
        trace_id: trace_id || null,
        span_id: span_id || null,
        user_id: user_id || null,
        session_id: session_id || null,
        error_code: error_code || null,
      })),
    }
  })

  app.get('/v1/stats', async (req) => {
    const p = parseQuery(statsQuerySchema, req.query)
    const f = filters({ ...p, tenant: tenantOf(req.headers['x-sluice-tenant'], p.tenant) })
    const end = querySeconds.startTimer({ endpoint: 'stats' })
    const rs = await deps.clickhouse.query({
      query: `SELECT ServiceName AS service, SeverityText AS level, count() AS count FROM ${table} FINAL ${where(f.clauses)} GROUP BY service, level ORDER BY service, level`,
      query_params: f.params,
      format: 'JSONEachRow',
    })
    const rows = await rs.json<{ service: string; level: string; count: string }>()
    end()
    const byLevel: Record<string, number> = {}
    const byService: Record<string, { total: number; byLevel: Record<string, number> }> = {}
    let total = 0
    for (const r of rows) {
      const n = Number(r.count)
      total += n
      byLevel[r.level] = (byLevel[r.level] ?? 0) + n
      const s = (byService[r.service] ??= { total: 0, byLevel: {} })
      s.total += n
      s.byLevel[r.level] = n
    }
    return { total, byLevel, byService }
  })

  // FINAL applies WHERE after replacing, so a status filter sees only each alert's latest version
  // (ClickHouse moves only sorting-key conditions to PREWHERE under FINAL).
  app.get('/v1/alerts', async (req) => {
    const p = parseQuery(alertsSchema, req.query)
    const f = alertFilters({ ...p, tenant: tenantOf(req.headers['x-sluice-tenant'], p.tenant) })
    const ns = (column: string, alias: string) => `toString(toUnixTimestamp64Nano(${column})) AS ${alias}`
    const end = querySeconds.startTimer({ endpoint: 'alerts' })
    const rs = await deps.clickhouse.query({
      query: `SELECT Id AS id, Tenant AS tenant, RuleId AS rule_id, RuleName AS rule_name, RuleKind AS rule_kind, ServiceName AS service,
                PatternId AS pattern_id, Severity AS severity, Status AS status, Value AS value, Threshold AS threshold,
                ${ns('WindowStart', 'window_start')}, ${ns('WindowEnd', 'window_end')}, ${ns('StartedAt', 'started_at')},
                ${ns('UpdatedAt', 'updated_at')}, ${ns('ResolvedAt', 'resolved_at')},
                AcknowledgedBy AS acknowledged_by, Summary AS summary, SampleLogIds AS sample_log_ids, Version AS version
              FROM ${config.database}.alerts FINAL ${where(f.clauses)}
              ORDER BY UpdatedAt DESC, Id DESC LIMIT {limit:UInt32}`,
      query_params: { ...f.params, limit: p.limit },
      format: 'JSONEachRow',
    })
    const rows = await rs.json<StoredAlert>()
    end()
    return {
      alerts: rows.map((r) => ({
        ...r,
        pattern_id: r.pattern_id || null,
        window_start: formatNs(BigInt(r.window_start)),
        window_end: formatNs(BigInt(r.window_end)),
        started_at: formatNs(BigInt(r.started_at)),
        updated_at: formatNs(BigInt(r.updated_at)),
        resolved_at: r.resolved_at === null ? null : formatNs(BigInt(r.resolved_at)),
        acknowledged_by: r.acknowledged_by || null,
      })),
    }
  })

  return app
}

export function createService(config: Config, deps: DepsFor<{ clickhouse: true }>): ServiceInstance {
  return { app: buildApp(config, { ...deps, clickhouse: deps.clickhouse.client }), listen: { host: config.host, port: config.port } }
}
