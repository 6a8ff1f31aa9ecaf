// The audit log as stored in <db>.audit (schemas/clickhouse/0013): who — the key id — did what,
// newest first. Admin scope.
//
//   GET /v1/audit?tenant=&action=&key_id=&outcome=&from=&to=&limit=   → 200 {"entries":[row…]}
//   row = {id, time, service, action, outcome, tenant, key_id, target, reason, remote, details}
//
// Tenant: the one named (?tenant=, x-sluice-tenant, X-Scope-OrgID), checked against the key, else
// the key's. A key of every tenant (or no authentication) naming none reads every row, including
// the rows of no tenant (credentials refused before any tenant was known).
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { AUDIT_OUTCOMES, TENANT_HEADERS, requestedTenant } from '@sluice/auth'
import type { AuditRow } from '@sluice/auth'
import type { ClickHouseClient } from '@sluice/clickhouse'
import { SluiceError, TENANT_PATTERN } from '@sluice/core'
import type { ZodTypeProvider } from '@sluice/observability'
import { time as selectionTime } from './selection.js'

/** An epoch or ISO-8601 time (selection.ts), in milliseconds. */
const time = selectionTime.transform((ns) => ns / 1_000_000n)

const auditQuery = z.strictObject({
  tenant: z.string().regex(TENANT_PATTERN, 'expected 1-64 characters of A-Z a-z 0-9 _ . -').optional(),
  action: z.string().min(1).max(128).optional(),
  key_id: z.string().min(1).max(256).optional(),
  outcome: z.enum(AUDIT_OUTCOMES).optional(),
  from: time.optional(),
  to: time.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
})


export interface RegisterAuditOptions {
  database: string
  clickhouse: Pick<ClickHouseClient, 'query'>
}

export function registerAudit(app: FastifyInstance, opts: RegisterAuditOptions): void {
  const api = app.withTypeProvider<ZodTypeProvider>()
  api.get(
    '/v1/audit',
    { config: { scope: 'admin' }, schema: { tags: ['admin'], summary: 'The audit log: who (key id) did what, newest first', querystring: auditQuery } },
    async (req) => {
      const q = req.query
      const header = requestedTenant(req, TENANT_HEADERS)
      if (header !== undefined && q.tenant !== undefined && header !== q.tenant) throw new SluiceError('VALIDATION_FAILED', `the request names two tenants: ${header} (header) and ${q.tenant} (parameter)`)
      const tenant = req.access.tenant(header ?? q.tenant, undefined)
      const params: Record<string, unknown> = {}
      const where: string[] = []
      const eq = (column: string, name: string, value: unknown, type = 'String') => {
        if (value === undefined) return
        params[name] = typeof value === 'bigint' ? String(value) : value
        where.push(`${column} = {${name}:${type}}`)
      }
      eq('tenant', 'tenant', tenant)
      eq('action', 'action', q.action)
      eq('key_id', 'key_id', q.key_id)
      eq('outcome', 'outcome', q.outcome)
      if (q.from !== undefined) {
        params.from = String(q.from)
        where.push(`time >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')`)
      }
      if (q.to !== undefined) {
        params.to = String(q.to)
        where.push(`time < fromUnixTimestamp64Milli({to:Int64}, 'UTC')`)
      }
      const rs = await opts.clickhouse.query({
        query: `SELECT id, toUnixTimestamp64Milli(time) AS ms, service, action, outcome, tenant, key_id, target, reason, remote, details
                FROM ${opts.database}.audit FINAL ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
                ORDER BY time DESC, id DESC LIMIT ${q.limit}`,
        query_params: params,
        format: 'JSONEachRow',
      })
      const rows = await rs.json<Omit<AuditRow, 'time'> & { ms: string | number }>()
      return { entries: rows.map(({ ms, ...r }) => ({ ...r, time: new Date(Number(ms)).toISOString() })) }
    },
  )
}
