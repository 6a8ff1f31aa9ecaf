// How the services are doing: the health overview, trends per service, and the top (and trending)
// log patterns. Counts come from the aggregates the materialised views keep (volume per minute,
// schemas/clickhouse/0005; patterns per hour, 0004) wherever their resolution answers the question,
// and from the logs table where it must be exact.
//
//   GET /v1/services?window=15m&service=          health of every service seen in the lookback
//   GET /v1/trends?service=&from=&to=&step=       counts by level and error rate per bucket
//   GET /v1/patterns?service=&level=&from=&to=&sort=count|growth|errors&limit=
import type { ZodTypeProvider } from '@sluice/observability'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { SluiceError, formatNs } from '@sluice/core'
import { Params, levels, scopeFields, selectionClauses, where, wholeMinutes, windowStart } from '../selection.js'
import type { AnalystContext } from './context.js'
import { registeredServices } from './registry.js'
import type { Registered } from './registry.js'
import { MS, S } from './context.js'

/** Levels whose records count as errors (IsError is SeverityNumber ≥ 17). */
const ERROR_LEVELS = ['error', 'fatal']
const STATUS_ORDER = { down: 0, degraded: 1, healthy: 2 } as const
/** Trend buckets: the volume table's minute, and the steps a chart picks from. */
const STEPS_S = [60, 300, 900, 1800, 3600, 10_800, 21_600, 43_200, 86_400]
const MAX_POINTS = 2000

export const servicesQuerySchema = z.strictObject({
  tenant: scopeFields.tenant,
  service: scopeFields.service,
  window: wholeMinutes.default(15 * 60_000),
})

export const trendsQuerySchema = z.strictObject({
  ...scopeFields,
  step: wholeMinutes.optional(),
})

export const patternsQuerySchema = (maxLimit: number) =>
  z.strictObject({
    ...scopeFields,
    level: levels.optional(),
    sort: z.enum(['count', 'growth', 'errors']).default('count'),
    limit: z.coerce.number().int().min(1).max(maxLimit).default(50),
  })

const iso = (ns: bigint | string) => formatNs(BigInt(ns))

interface ServiceHealth {
  service: string
  status: keyof typeof STATUS_ORDER
  reasons: string[]
  /** The newest record's time; null for a registered service with none in the lookback. */
  last_seen: string | null
  silent_ms: number | null
  events: number
  errors: number
  error_rate: number
  rate_per_minute: number
  open_alerts: { firing: number; acknowledged: number }
  registration: Registered | null
}
const seconds = (ns: bigint) => (ns / S).toString()

export function registerOverview(app: FastifyInstance, ctx: AnalystContext): void {
  const maxLimit = ctx.opts.maxLimit
  const api = app.withTypeProvider<ZodTypeProvider>()
  const tags = ['analysts']
  const db = ctx.opts.database

  api.get('/v1/services', { schema: { tags, summary: 'Health of every service: healthy, degraded or down, and why', querystring: servicesQuerySchema } }, async (req, reply) => {
    const p = req.query
    const read = ctx.open(req, reply, p.tenant)
    const tenant = read.tenant
    ctx.access.checkSpan(read, ctx.opts.maxRangeHours, BigInt(p.window) * MS)
    const nowNs = BigInt(Date.now()) * MS
    const windowFromNs = nowNs - BigInt(p.window) * MS
    // Whole minutes: the window starts at the first minute bucket it covers.
    const windowFromS = (windowFromNs / S / 60n) * 60n
    const b = new Params()
    const scope = [
      ...(tenant ? [`tenant = ${b.bind(tenant)}`] : []),
      ...(p.service ? [`ServiceName = ${b.bind(p.service)}`] : []),
    ]
    const volume = await ctx.run<{ service: string; last_minute: string; events: string; errors: string }>(reply, 'services', {
      query: `SELECT ServiceName AS service, toString(toUnixTimestamp(max(Minute))) AS last_minute,
                sumIf(Count, Minute >= toDateTime(${b.bind(windowFromS.toString(), 'Int64')})) AS events,
                sumIf(Count, Minute >= toDateTime(${b.bind(windowFromS.toString(), 'Int64')}) AND Level IN ${b.bind(ERROR_LEVELS, 'Array(String)')}) AS errors
              FROM ${db}.volume
              ${where([...scope, `Minute >= toDateTime(${b.bind(seconds(nowNs - BigInt(ctx.opts.serviceLookbackHours) * 3_600_000_000_000n), 'Int64')})`])}
              GROUP BY service ORDER BY service`,
      params: b.values,
    })
    const registered = (await registeredServices(ctx, reply, tenant)).filter((r) => p.service === undefined || r.service === p.service)
    const registration = new Map<string, Registered>(registered.map((r) => [r.service, r]))

    // The exact last record: each service's last minute bucket, read from logs (one minute of rows each).
    const l = new Params()
    const last = volume.length === 0 ? [] : await ctx.run<{ service: string; last: string }>(reply, 'services', {
      query: `SELECT ServiceName AS service, toString(toUnixTimestamp64Nano(max(Timestamp))) AS last FROM ${db}.logs
              WHERE ${tenant ? `tenant = ${l.bind(tenant)} AND ` : ''}(${volume
                .map((v) => `(ServiceName = ${l.bind(v.service)} AND TimestampTime >= toDateTime(${l.bind(v.last_minute, 'Int64')}))`)
                .join(' OR ')})
              GROUP BY service`,
      params: l.values,
    })
    const lastNs = new Map(last.map((r) => [r.service, BigInt(r.last)]))

    const a = new Params()
    const alerts = await ctx.run<{ service: string; status: string; severity: string; n: string }>(reply, 'services', {
      query: `SELECT ServiceName AS service, Status AS status, Severity AS severity, count() AS n FROM ${db}.alerts FINAL
              ${where([...(tenant ? [`Tenant = ${a.bind(tenant)}`] : []), "Status IN ('firing', 'acknowledged')"])}
              GROUP BY service, status, severity`,
      params: a.values,
    })

    const windowMinutes = Math.max(1, Math.round(Number(nowNs / S - windowFromS) / 60))
    const services = volume.map((v): ServiceHealth => {
      const seenNs = lastNs.get(v.service) ?? BigInt(v.last_minute) * S
      const silentMs = Math.max(0, Number((nowNs - seenNs) / MS))
      const events = Number(v.events)
      const errors = Number(v.errors)
      const errorRate = events > 0 ? errors / events : 0
      const mine = alerts.filter((x) => x.service === v.service)
      const count = (pred: (x: (typeof alerts)[number]) => boolean) => mine.filter(pred).reduce((n, x) => n + Number(x.n), 0)
      const firing = count((x) => x.status === 'firing')
      const firingSerious = count((x) => x.status === 'firing' && x.severity !== 'info')
      const reasons: string[] = []
      if (silentMs > ctx.opts.serviceDownAfterMs) reasons.push(`no logs for ${Math.round(silentMs / 60_000)} min (down after ${Math.round(ctx.opts.serviceDownAfterMs / 60_000)} min)`)
      if (events > 0 && errorRate >= ctx.opts.serviceDegradedErrorRate) {
        reasons.push(`error rate ${(errorRate * 100).toFixed(1)} % ≥ ${(ctx.opts.serviceDegradedErrorRate * 100).toFixed(1)} %`)
      }
      if (firingSerious > 0) reasons.push(`${firingSerious} firing alert${firingSerious === 1 ? '' : 's'}`)
      const status = silentMs > ctx.opts.serviceDownAfterMs ? 'down' : reasons.length > 0 ? 'degraded' : 'healthy'
      return {
        service: v.service,
        status,
        reasons,
        last_seen: iso(seenNs),
        silent_ms: silentMs,
        events,
        errors,
        error_rate: errorRate,
        rate_per_minute: events / windowMinutes,
        open_alerts: { firing, acknowledged: count((x) => x.status === 'acknowledged') },
        registration: registration.get(v.service) ?? null,
      }
    })
    // Registered services that logged nothing in the lookback: down, as far as the logs tell.
    const seen = new Set(volume.map((v) => v.service))
    for (const r of registered) {
      if (seen.has(r.service)) continue
      const mine = alerts.filter((x) => x.service === r.service)
      const firing = mine.filter((x) => x.status === 'firing').reduce((n, x) => n + Number(x.n), 0)
      const acknowledged = mine.filter((x) => x.status === 'acknowledged').reduce((n, x) => n + Number(x.n), 0)
      services.push({
        service: r.service,
        status: 'down',
        reasons: [`no logs in the last ${ctx.opts.serviceLookbackHours} h (registered, QUERY_SERVICE_LOOKBACK_HOURS)`],
        last_seen: null,
        silent_ms: null,
        events: 0,
        errors: 0,
        error_rate: 0,
        rate_per_minute: 0,
        open_alerts: { firing, acknowledged },
        registration: r,
      })
    }
    services.sort((x, y) => STATUS_ORDER[x.status] - STATUS_ORDER[y.status] || x.service.localeCompare(y.service))
    const summary = { healthy: 0, degraded: 0, down: 0 }
    for (const s of services) summary[s.status]++
    return { now: iso(nowNs), window_ms: p.window, down_after_ms: ctx.opts.serviceDownAfterMs, summary, services }
  })

  api.get('/v1/trends', { schema: { tags, summary: 'Records by level and error rate per time bucket and service', querystring: trendsQuerySchema } }, async (req, reply) => {
    const p = req.query
    const read = ctx.open(req, reply, p.tenant)
    const tenant = read.tenant
    const { fromNs, toNs } = ctx.window(p, 24 * 3_600_000, read)
    const spanS = Number((toNs - fromNs) / S)
    const stepS = p.step === undefined ? (STEPS_S.find((s) => spanS / s <= 300) ?? 86_400) : p.step / 1000
    if (spanS / stepS > MAX_POINTS) throw new SluiceError('VALIDATION_FAILED', `parameter step: ${spanS / stepS} buckets exceed the limit of ${MAX_POINTS}; choose a larger step`)
    // Buckets are aligned to the step (from the epoch), the first one holding `from`, the last the
    // minute holding `to` (counts are kept per minute): up to `to`'s second, rounded up.
    const firstS = (fromNs / S / BigInt(stepS)) * BigInt(stepS)
    const endS = (toNs + S - 1n) / S
    const b = new Params()
    const rows = await ctx.run<{ service: string; t: string; level: string; n: string }>(reply, 'trends', {
      query: `SELECT ServiceName AS service, toString(toUnixTimestamp(toStartOfInterval(Minute, toIntervalSecond(${b.bind(stepS, 'UInt32')})))) AS t, Level AS level, sum(Count) AS n
              FROM ${db}.volume
              ${where([
                ...(tenant ? [`tenant = ${b.bind(tenant)}`] : []),
                ...(p.service ? [`ServiceName = ${b.bind(p.service)}`] : []),
                `Minute >= toDateTime(${b.bind(((fromNs / S / 60n) * 60n).toString(), 'Int64')})`,
                `Minute < toDateTime(${b.bind(endS.toString(), 'Int64')})`,
              ])}
              GROUP BY service, t, level ORDER BY service, t`,
      params: b.values,
    })
    const buckets = Math.max(1, Math.ceil(Number(endS - firstS) / stepS))
    const series = new Map<string, { service: string; total: number; errors: number; points: { t: string; total: number; errors: number; error_rate: number; levels: Record<string, number> }[] }>()
    for (const r of rows) {
      let s = series.get(r.service)
      if (!s) {
        s = {
          service: r.service,
          total: 0,
          errors: 0,
          points: Array.from({ length: buckets }, (_, i) => ({ t: iso((firstS + BigInt(i * stepS)) * S), total: 0, errors: 0, error_rate: 0, levels: {} })),
        }
        series.set(r.service, s)
      }
      const point = s.points[Math.floor((Number(r.t) - Number(firstS)) / stepS)]
      if (!point) continue
      const n = Number(r.n)
      point.levels[r.level] = (point.levels[r.level] ?? 0) + n
      point.total += n
      s.total += n
      if (ERROR_LEVELS.includes(r.level)) {
        point.errors += n
        s.errors += n
      }
    }
    for (const s of series.values()) for (const pt of s.points) pt.error_rate = pt.total > 0 ? pt.errors / pt.total : 0
    return { from: iso(firstS * S), to: iso(toNs), step_seconds: stepS, services: [...series.values()] }
  })

  api.get('/v1/patterns', { schema: { tags, summary: 'Top and trending log templates against the window before', querystring: patternsQuerySchema(maxLimit) } }, async (req, reply) => {
    const p = req.query
    const read = ctx.open(req, reply, p.tenant)
    const tenant = read.tenant
    const { fromNs, toNs } = ctx.window(p, 3_600_000, read)
    // The window is compared with the one just before it, of the same length (from the epoch at the earliest).
    const prevNs = windowStart(fromNs, toNs - fromNs)
    const b = new Params()
    const from = b.bind(fromNs.toString(), 'Int64')
    const order = { count: 'count DESC', errors: 'errors DESC, count DESC', growth: '(count + 1) / (previous + 1) DESC, count DESC' }[p.sort]
    const counts = await ctx.run<{ service: string; id: string; count: string; previous: string; errors: string; first: string; last: string }>(reply, 'patterns', {
      query: `SELECT ServiceName AS service, PatternId AS id,
                countIf(Timestamp >= fromUnixTimestamp64Nano(${from})) AS count,
                countIf(Timestamp < fromUnixTimestamp64Nano(${from})) AS previous,
                countIf(Timestamp >= fromUnixTimestamp64Nano(${from}) AND IsError) AS errors,
                toString(toUnixTimestamp64Nano(minIf(Timestamp, Timestamp >= fromUnixTimestamp64Nano(${from})))) AS first,
                toString(toUnixTimestamp64Nano(maxIf(Timestamp, Timestamp >= fromUnixTimestamp64Nano(${from})))) AS last
              FROM ${db}.logs
              ${where([...selectionClauses(db, { tenant, service: p.service, level: p.level, from: prevNs, to: toNs }, b), "PatternId != ''"])}
              GROUP BY service, id HAVING count > 0
              ORDER BY ${order}, id LIMIT ${b.bind(p.limit, 'UInt32')}`,
      params: b.values,
    })
    if (counts.length === 0) return { from: iso(fromNs), to: iso(toNs), previous_from: iso(prevNs), patterns: [] }
    // Template, a sample and the first sighting ever, from the hourly pattern aggregates.
    const t = new Params()
    const about = await ctx.run<{ service: string; id: string; template: string; sample: string; first_seen: string }>(reply, 'patterns', {
      query: `SELECT ServiceName AS service, PatternId AS id, argMaxMerge(Template) AS template, anyMerge(Sample) AS sample,
                toString(toUnixTimestamp64Nano(minMerge(FirstSeen))) AS first_seen
              FROM ${db}.patterns
              ${where([...(tenant ? [`tenant = ${t.bind(tenant)}`] : []), `ServiceName IN ${t.bind([...new Set(counts.map((c) => c.service))], 'Array(String)')}`, `PatternId IN ${t.bind(counts.map((c) => c.id), 'Array(String)')}`])}
              GROUP BY service, id`,
      params: t.values,
    })
    const info = new Map(about.map((r) => [`${r.service}\u0000${r.id}`, r]))
    const patterns = counts.map((c) => {
      const i = info.get(`${c.service}\u0000${c.id}`)
      const count = Number(c.count)
      const previous = Number(c.previous)
      const firstSeen = i ? BigInt(i.first_seen) : BigInt(c.first)
      const trend = firstSeen >= fromNs ? 'new' : count >= 2 * previous ? 'rising' : 2 * count <= previous ? 'falling' : 'steady'
      return {
        pattern_id: c.id,
        service: c.service,
        template: i?.template ?? null,
        sample: i?.sample ?? null,
        count,
        errors: Number(c.errors),
        previous,
        growth: previous > 0 ? count / previous : null,
        trend,
        first_seen: iso(firstSeen),
        first_in_window: iso(c.first),
        last_seen: iso(c.last),
      }
    })
    return { from: iso(fromNs), to: iso(toNs), previous_from: iso(prevNs), patterns }
  })
}
