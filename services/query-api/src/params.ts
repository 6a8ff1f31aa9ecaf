// Query-string parameters of the read endpoints, validated with zod. Every error names the
// parameter; values only ever reach SQL as bound parameters.
import { z } from 'zod'
import { ALERT_RULE_KINDS, ALERT_STATUSES, CATEGORIES, SluiceError, TENANT_PATTERN, parseSeverity, parseTimestampNs } from '@sluice/core'

const time = z.string().transform((v, ctx) => {
  const ns = parseTimestampNs(/^\d+(\.\d+)?$/.test(v) ? Number(v) : v)
  if (ns === undefined) {
    ctx.addIssue({ code: 'custom', message: 'expected ISO-8601 or epoch seconds/ms/ns' })
    return z.NEVER
  }
  return ns
})

const levels = z.string().transform((v, ctx) => {
  const out: string[] = []
  for (const part of v.split(',')) {
    const s = parseSeverity(part)
    if (!s) {
      ctx.addIssue({ code: 'custom', message: `unknown level ${JSON.stringify(part)}` })
      return z.NEVER
    }
    out.push(s.text)
  }
  return out
})

const common = {
  tenant: z.string().regex(TENANT_PATTERN).optional(),
  service: z.string().min(1).max(256).optional(),
  from: time.optional(),
  to: time.optional(),
}

export const logsQuerySchema = (maxLimit: number) =>
  z.strictObject({
    ...common,
    q: z.string().min(1).max(1024).optional(),
    level: levels.optional(),
    category: z.enum(CATEGORIES).optional(),
    pattern_id: z.string().regex(/^[0-9a-f]{16}$/, 'expected 16 hex characters').optional(),
    limit: z.coerce.number().int().min(1).max(maxLimit).default(100),
  })

export const statsQuerySchema = z.strictObject(common)

export const alertsQuerySchema = (maxLimit: number) =>
  z.strictObject({
    tenant: common.tenant,
    service: common.service,
    status: z.enum(ALERT_STATUSES).optional(),
    rule_kind: z.enum(ALERT_RULE_KINDS).optional(),
    limit: z.coerce.number().int().min(1).max(maxLimit).default(100),
  })

export function parseQuery<S extends z.ZodType>(schema: S, query: unknown): z.infer<S> {
  const r = schema.safeParse(query)
  if (r.success) return r.data
  const first = r.error.issues[0]
  const name = first?.path.join('.') ?? ''
  const message =
    first?.code === 'unrecognized_keys' ? `unknown parameter(s): ${first.keys.join(', ')}` : `parameter ${name}: ${first?.message ?? 'invalid'}`
  throw new SluiceError('VALIDATION_FAILED', message)
}

/** Builds WHERE clauses and their bound parameters from the common filters. */
export function filters(p: { tenant?: string | undefined; service?: string | undefined; from?: bigint | undefined; to?: bigint | undefined }): {
  clauses: string[]
  params: Record<string, unknown>
} {
  const clauses: string[] = []
  const params: Record<string, unknown> = {}
  if (p.tenant) {
    clauses.push('tenant = {tenant:String}')
    params.tenant = p.tenant
  }
  if (p.service) {
    clauses.push('ServiceName = {service:String}')
    params.service = p.service
  }
  if (p.from !== undefined) {
    clauses.push('Timestamp >= fromUnixTimestamp64Nano({from:Int64})')
    params.from = p.from.toString()
  }
  if (p.to !== undefined) {
    clauses.push('Timestamp < fromUnixTimestamp64Nano({to:Int64})')
    params.to = p.to.toString()
  }
  return { clauses, params }
}

/** WHERE clauses and bound parameters over the columns of <db>.alerts. */
export function alertFilters(p: { tenant?: string | undefined; service?: string | undefined; status?: string | undefined; rule_kind?: string | undefined }): {
  clauses: string[]
  params: Record<string, unknown>
} {
  const clauses: string[] = []
  const params: Record<string, unknown> = {}
  const columns = [
    ['tenant', 'Tenant'],
    ['service', 'ServiceName'],
    ['status', 'Status'],
    ['rule_kind', 'RuleKind'],
  ] as const
  for (const [name, column] of columns) {
    const v = p[name]
    if (v === undefined || v === '') continue
    clauses.push(`${column} = {${name}:String}`)
    params[name] = v
  }
  return { clauses, params }
}

export function where(clauses: readonly string[]): string {
  return clauses.length ? `WHERE ${clauses.join(' AND ')}` : ''
}

/** LIKE pattern matching `q` literally (case-sensitive; served by the token bloom filter). */
export function containsPattern(q: string): string {
  return `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
}
