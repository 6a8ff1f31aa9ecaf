// Alerts as stored from the compacted `alerts` topic: the latest state of each.
//   GET /v1/alerts?status=&service=&rule_kind=&tenant=&limit=   → { alerts: [...newest update first] }
//   GET /v1/alerts/{id}?tenant=                                  → { alert }, 404 when the tenant has none of that id
// The tenant is the request's (tenancy.ts): an alert of another tenant is not found, whatever its id.
import type { ZodTypeProvider } from '@sluice/observability'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { z } from 'zod'
import { ALERT_RULE_KINDS, ALERT_STATUSES, formatNs } from '@sluice/core'
import type { Run } from './guard.js'
import { Params, scopeFields, where } from './selection.js'
import type { QueryAccess } from './tenancy.js'

export const alertsQuerySchema = (maxLimit: number) =>
  z.strictObject({
    tenant: scopeFields.tenant,
    service: scopeFields.service,
    status: z.enum(ALERT_STATUSES).optional(),
    rule_kind: z.enum(ALERT_RULE_KINDS).optional(),
    limit: z.coerce.number().int().min(1).max(maxLimit).default(100),
  })

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
  resolved_by: string
  resolve_reason: string
  explanation: string
  runbook: string[]
  summary: string
  sample_log_ids: string[]
  version: number
}

const ns = (column: string, alias: string) => `toString(toUnixTimestamp64Nano(${column})) AS ${alias}`
const ALERT_COLUMNS = `Id AS id, Tenant AS tenant, RuleId AS rule_id, RuleName AS rule_name, RuleKind AS rule_kind, ServiceName AS service,
  PatternId AS pattern_id, Severity AS severity, Status AS status, Value AS value, Threshold AS threshold,
  ${ns('WindowStart', 'window_start')}, ${ns('WindowEnd', 'window_end')}, ${ns('StartedAt', 'started_at')},
  ${ns('UpdatedAt', 'updated_at')}, ${ns('ResolvedAt', 'resolved_at')},
  AcknowledgedBy AS acknowledged_by, ResolvedBy AS resolved_by, ResolveReason AS resolve_reason, Explanation AS explanation, Runbook AS runbook, Summary AS summary, SampleLogIds AS sample_log_ids, Version AS version`

function toAlert(r: StoredAlert) {
  return {
    ...r,
    pattern_id: r.pattern_id || null,
    window_start: formatNs(BigInt(r.window_start)),
    window_end: formatNs(BigInt(r.window_end)),
    started_at: formatNs(BigInt(r.started_at)),
    updated_at: formatNs(BigInt(r.updated_at)),
    resolved_at: r.resolved_at === null ? null : formatNs(BigInt(r.resolved_at)),
    acknowledged_by: r.acknowledged_by || null,
    resolved_by: r.resolved_by || null,
    resolve_reason: r.resolve_reason || null,
    explanation: r.explanation || null,
  }
}

export const alertIdParams = z.object({ id: z.string().min(1).max(256) })

export function registerAlerts(app: FastifyInstance, opts: { database: string; maxLimit: number }, run: Run, access: QueryAccess): void {
  const schema = alertsQuerySchema(opts.maxLimit)
  const api = app.withTypeProvider<ZodTypeProvider>()
  const select = (reply: FastifyReply, clauses: string[], b: Params, limit: number) =>
    // FINAL applies WHERE after replacing, so a status filter sees only each alert's latest version
    // (ClickHouse moves only sorting-key conditions to PREWHERE under FINAL).
    run<StoredAlert>(reply, 'alerts', {
      query: `SELECT ${ALERT_COLUMNS} FROM ${opts.database}.alerts FINAL ${where(clauses)} ORDER BY UpdatedAt DESC, Id DESC LIMIT ${b.bind(limit, 'UInt32')}`,
      params: b.values,
    })

  api.get('/v1/alerts', { schema: { tags: ['alerts'], summary: 'The latest state of every stored alert, newest update first', querystring: schema } }, async (req, reply) => {
    const p = req.query
    const { tenant } = access.open(req, reply, undefined, p.tenant)
    const b = new Params()
    const columns = [
      ['Tenant', tenant],
      ['ServiceName', p.service],
      ['Status', p.status],
      ['RuleKind', p.rule_kind],
    ] as const
    const clauses = columns.flatMap(([column, v]) => (v ? [`${column} = ${b.bind(v)}`] : []))
    return { alerts: (await select(reply, clauses, b, p.limit)).map(toAlert) }
  })

  api.get(
    '/v1/alerts/:id',
    { schema: { tags: ['alerts'], summary: 'The latest state of one alert of the tenant (404 when it has none of that id)', params: alertIdParams, querystring: z.strictObject({ tenant: scopeFields.tenant }) } },
    async (req, reply) => {
      const { tenant } = access.open(req, reply, undefined, req.query.tenant)
      const b = new Params()
      const clauses = [...(tenant ? [`Tenant = ${b.bind(tenant)}`] : []), `Id = ${b.bind(req.params.id)}`]
      const [row] = await select(reply, clauses, b, 1)
      if (!row) return reply.code(404).send({ error: 'NOT_FOUND', message: `no alert ${JSON.stringify(req.params.id)}${tenant ? ` of tenant ${tenant}` : ''}` })
      return { alert: toAlert(row) }
    },
  )
}
