// The record selection every /v1 read endpoint shares: tenant, service, time range, level, text,
// the enriched fields and any attribute, as WHERE clauses over <db>.logs with bound parameters
// (values never reach SQL as text).
//
//   ?service=checkout&level=error,fatal&q=timeout&from=2026-12-01T00:00:00Z&to=…
//   &host=… &category=… &pattern_id=… &user_id=… &session_id=… &trace_id=… &error_code=…
//   &attr.city=Paris            LogAttributes['city'] = 'Paris'
//   &resource.k8s.pod.name=…    ResourceAttributes['k8s.pod.name'] = …
import { z } from 'zod'
import { CATEGORIES, SluiceError, TENANT_PATTERN, parseSeverity, parseTimestampNs } from '@sluice/core'
import { Params, bodyContains } from './loki/sql.js'

/** ISO-8601 or epoch seconds/ms/ns → epoch nanoseconds. */
export const time = z
  .string()
  .max(64)
  .transform((v, ctx) => {
    // The text itself: epoch nanoseconds as digits keep every digit (a double would round them).
    const ns = parseTimestampNs(v)
    if (ns === undefined) {
      ctx.addIssue({ code: 'custom', message: 'expected ISO-8601 or epoch seconds/ms/ns' })
      return z.NEVER
    }
    return ns
  })

/**
 * The start of a window of `spanNs` ending at `toNs`, no earlier than the Unix epoch: no record is
 * older (`time` refuses times before 1970, as ingestion does), so the window selects the same
 * records, and its ends print as RFC 3339 times the endpoints read back (the AI endpoints pass them
 * on to the others).
 */
export function windowStart(toNs: bigint, spanNs: bigint): bigint {
  const fromNs = toNs - spanNs
  return fromNs > 0n ? fromNs : 0n
}

/**
 * [from, to) of a request: `from` when sent, else windowStart(to, `spanNs`). An empty one is a 400
 * naming the parameter the client sent: without `from`, only a `to` at the epoch leaves nothing.
 */
export function timeWindow(from: bigint | undefined, toNs: bigint, spanNs: bigint): { fromNs: bigint; toNs: bigint } {
  const fromNs = from ?? windowStart(toNs, spanNs)
  if (fromNs < toNs) return { fromNs, toNs }
  throw new SluiceError('VALIDATION_FAILED', from === undefined ? 'parameter to: must be after 1970-01-01T00:00:00Z' : 'parameter from: must be before to')
}

/** `30s`, `15m`, `1h`, `7d` (or bare seconds) → milliseconds. */
export const duration = z.string().transform((v, ctx) => {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)?$/.exec(v.trim())
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const
  const ms = m ? Number(m[1]) * unit[(m[2] ?? 's') as keyof typeof unit] : NaN
  if (!Number.isFinite(ms) || ms <= 0) {
    ctx.addIssue({ code: 'custom', message: 'expected a duration like 30s, 15m, 1h or 7d' })
    return z.NEVER
  }
  return Math.round(ms)
})

/** A duration over the per-minute counts (the volume table): whole minutes, in milliseconds. */
export const wholeMinutes = duration.refine((ms) => ms % 60_000 === 0, 'must be a whole number of minutes (counts are kept per minute)')

/** Comma-separated levels, normalised (`warning` → WARN). */
export const levels = z.string().transform((v, ctx) => {
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

export const patternId = z.string().regex(/^[0-9a-f]{16}$/, 'expected 16 hex characters')

const text = (max: number) => z.string().min(1).max(max)

/** Tenant, service and time: the scope of every endpoint. */
export const scopeFields = {
  tenant: z.string().regex(TENANT_PATTERN).optional(),
  service: text(256).optional(),
  from: time.optional(),
  to: time.optional(),
}

/** Everything a selection of records can name besides its scope. */
export const selectionFields = {
  ...scopeFields,
  q: text(1024).optional(),
  level: levels.optional(),
  category: z.enum(CATEGORIES).optional(),
  pattern_id: patternId.optional(),
  host: text(256).optional(),
  user_id: text(256).optional(),
  session_id: text(256).optional(),
  // Stored in lower case, as every door writes hex ids: one sent in upper case is the same id.
  trace_id: text(64)
    .transform((v) => (/^[0-9A-Fa-f]+$/.test(v) ? v.toLowerCase() : v))
    .optional(),
  error_code: text(128).optional(),
}

export interface Selection {
  tenant?: string | undefined
  service?: string | undefined
  from?: bigint | undefined
  to?: bigint | undefined
  q?: string | undefined
  level?: string[] | undefined
  category?: string | undefined
  pattern_id?: string | undefined
  host?: string | undefined
  user_id?: string | undefined
  session_id?: string | undefined
  trace_id?: string | undefined
  error_code?: string | undefined
  /** attr.<key>=value: LogAttributes. */
  attributes?: Record<string, string>
  /** resource.<key>=value: ResourceAttributes. */
  resources?: Record<string, string>
}

const ATTRIBUTE_KEY = /^(attr|resource)\.(.{1,256})$/s

/**
 * A query-string schema over `shape` that also takes `attr.<key>` and `resource.<key>` filters
 * (one value each) into `attributes` and `resources`; any other key is refused by name.
 */
export function withAttributes<T extends z.ZodRawShape>(shape: T) {
  return z
    .object(shape)
    .catchall(z.string().max(1024))
    .superRefine((o, ctx) => {
      const unknown = Object.keys(o).filter((k) => !(k in shape) && !ATTRIBUTE_KEY.test(k))
      if (unknown.length) ctx.addIssue({ code: 'custom', path: [], message: `unknown parameter(s): ${unknown.join(', ')}` })
    })
    .transform((o) => {
      const attributes: Record<string, string> = {}
      const resources: Record<string, string> = {}
      const rest: Record<string, unknown> = {}
      for (const [k, v] of Object.entries(o)) {
        const m = ATTRIBUTE_KEY.exec(k)
        if (m && !(k in shape)) (m[1] === 'attr' ? attributes : resources)[m[2]!] = v as string
        else rest[k] = v
      }
      return Object.assign(rest as z.infer<z.ZodObject<T>>, { attributes, resources })
    })
}

/**
 * WHERE clauses over <db>.logs. Times restrict TimestampTime (the partition and sorting key hold
 * it, so ClickHouse skips whole parts and granules) as well as the exact Timestamp.
 */
export function selectionClauses(db: string, s: Selection, p: Params): string[] {
  const c: string[] = []
  if (s.tenant) c.push(`tenant = ${p.bind(s.tenant)}`)
  if (s.service) c.push(`ServiceName = ${p.bind(s.service)}`)
  if (s.from !== undefined) {
    c.push(`TimestampTime >= toDateTime(${p.bind((s.from / 1_000_000_000n).toString(), 'Int64')})`)
    c.push(`Timestamp >= fromUnixTimestamp64Nano(${p.bind(s.from.toString(), 'Int64')})`)
  }
  if (s.to !== undefined) {
    c.push(`TimestampTime <= toDateTime(${p.bind(((s.to + 999_999_999n) / 1_000_000_000n).toString(), 'Int64')})`)
    c.push(`Timestamp < fromUnixTimestamp64Nano(${p.bind(s.to.toString(), 'Int64')})`)
  }
  if (s.q) c.push(bodyContains(s.q, p))
  if (s.level?.length) c.push(`SeverityText IN ${p.bind(s.level, 'Array(String)')}`)
  const columns = [
    ['category', 'Category'],
    ['host', 'HostName'],
    ['user_id', 'UserId'],
    ['session_id', 'SessionId'],
    ['trace_id', 'TraceId'],
    ['error_code', 'ErrorCode'],
  ] as const
  for (const [name, column] of columns) {
    const v = s[name]
    if (v) c.push(`${column} = ${p.bind(v)}`)
  }
  if (s.pattern_id) c.push(patternClause(db, s.tenant, s.pattern_id, p))
  for (const [k, v] of Object.entries(s.attributes ?? {})) c.push(`LogAttributes[${p.bind(k)}] = ${p.bind(v)}`)
  for (const [k, v] of Object.entries(s.resources ?? {})) c.push(`ResourceAttributes[${p.bind(k)}] = ${p.bind(v)}`)
  return c
}

/**
 * A template group keeps its id, but groups merged into it keep theirs on the records stored
 * before the merge: match the id, the group it was merged into (when it is an alias), and every
 * alias of either (pattern_aliases, schemas/clickhouse/0004).
 */
export function patternClause(db: string, tenant: string | undefined, id: string, p: Params): string {
  const v = p.bind(id)
  const scope = tenant ? `tenant = ${p.bind(tenant)} AND ` : ''
  const canonical = `SELECT PatternId FROM ${db}.pattern_aliases WHERE ${scope}Alias = ${v}`
  return `PatternId IN (SELECT ${v} UNION ALL ${canonical} UNION ALL SELECT Alias FROM ${db}.pattern_aliases WHERE ${scope}(PatternId = ${v} OR PatternId IN (${canonical})))`
}

export function where(clauses: readonly string[]): string {
  return clauses.length ? `WHERE ${clauses.join(' AND ')}` : ''
}

export { Params }
