// Following one thread through the logs: a user session's timeline, the blast radius of an error,
// and the field facets of any selection. Read from <db>.logs (the skip indexes on SessionId,
// UserId and ErrorCode, schemas/clickhouse/0006, let ClickHouse skip the granules without them),
// and for an error code's blast radius from <db>.error_events (0007), which holds only the
// records with an error code, ordered by it.
// A record re-delivered and not yet merged is counted once (uniqExact(id), LIMIT 1 BY id).
//
//   GET /v1/sessions/{session_id}?from=&to=&limit=            every record of the session, in order
//   GET /v1/blast-radius?error_code=|pattern_id=&by=city,plan  who and what an error touched
//   GET /v1/fields?<selection>&sample=&top=                    field names and their top values
import type { ZodTypeProvider } from '@sluice/observability'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { formatNs } from '@sluice/core'
import { RECORD_COLUMNS, holdsCopy, toRecord } from '../records.js'
import type { StoredRow } from '../records.js'
import { Params, patternId, scopeFields, selectionClauses, selectionFields, where, withAttributes } from '../selection.js'
import type { AnalystContext } from './context.js'

const DAY_MS = 86_400_000

export const sessionQuerySchema = (maxLimit: number) =>
  z.strictObject({
    tenant: scopeFields.tenant,
    from: scopeFields.from,
    to: scopeFields.to,
    limit: z.coerce.number().int().min(1).max(maxLimit).default(maxLimit),
  })

/** Names of the breakdowns of the blast radius: attribute keys (LogAttributes, then ResourceAttributes). */
const byNames = z.string().transform((v, ctx) => {
  const names = [...new Set(v.split(',').map((s) => s.trim()).filter(Boolean))]
  if (names.length > 10 || names.some((n) => n.length > 256)) {
    ctx.addIssue({ code: 'custom', message: 'expected at most 10 comma-separated attribute names' })
    return z.NEVER
  }
  return names
})

export const blastQuerySchema = z
  .strictObject({
    ...scopeFields,
    error_code: z.string().min(1).max(128).optional(),
    pattern_id: patternId.optional(),
    by: byNames.optional(),
    top: z.coerce.number().int().min(1).max(100).default(10),
  })
  .refine((p) => p.error_code !== undefined || p.pattern_id !== undefined, { message: 'name the error: error_code or pattern_id', path: ['error_code'] })

export const fieldsQuerySchema = withAttributes({
  ...selectionFields,
  sample: z.coerce.number().int().min(1).max(100_000).default(10_000),
  top: z.coerce.number().int().min(1).max(100).default(10),
})

/**
 * The facets of a record: (name, value) for the enriched columns, `attr.<key>` for LogAttributes
 * and `resource.<key>` for ResourceAttributes, the names /v1/logs filters by. A map's pairs are
 * read from its keys and values side by side: a lookup by key (m[k]) scans the map, once per key.
 */
const FACETS = `arrayFilter(kv -> kv.2 != '', arrayConcat(
  [('service', toString(ServiceName)), ('level', toString(SeverityText)), ('host', toString(HostName)), ('category', toString(Category)),
   ('pattern_id', toString(PatternId)), ('source', toString(Source)), ('http_status', toString(ifNull(HttpStatus, 0))), ('error_code', toString(ErrorCode)),
   ('user_id', UserId), ('session_id', SessionId)],
  arrayMap((k, v) -> (concat('attr.', k), v), mapKeys(LogAttributes), mapValues(LogAttributes)),
  arrayMap((k, v) -> (concat('resource.', k), v), mapKeys(ResourceAttributes), mapValues(ResourceAttributes))))`

const COLUMN_FACETS = new Set(['service', 'level', 'host', 'category', 'pattern_id', 'source', 'http_status', 'error_code', 'user_id', 'session_id'])

const iso = (ns: string) => formatNs(BigInt(ns))

interface SessionSummary {
  events: number
  errors: number
  first: bigint
  last: bigint
  services: string[]
  users: string[]
  /** The id of the session's first error record ('' or undefined: none). */
  firstError: string | undefined
}

/** The summary of a session from all of its records, oldest first (what longSession's SQL sums up). */
function summaryOf(rows: readonly StoredRow[]): SessionSummary {
  const services = new Set<string>()
  const users = new Set<string>()
  let errors = 0
  let firstError: string | undefined
  for (const e of rows) {
    services.add(e.service)
    if (e.user_id) users.add(e.user_id)
    if (e.is_error) {
      errors++
      firstError ??= e.id
    }
  }
  return { events: rows.length, errors, first: BigInt(rows[0]!.ts), last: BigInt(rows.at(-1)!.ts), services: [...services], users: [...users], firstError }
}

export function registerInvestigate(app: FastifyInstance, ctx: AnalystContext): void {
  const maxLimit = ctx.opts.maxLimit
  const api = app.withTypeProvider<ZodTypeProvider>()
  const tags = ['analysts']
  const db = ctx.opts.database

  const sessionSchema = {
    tags,
    summary: "A session's timeline: every record in order, its duration and first error",
    params: z.object({ session_id: z.string().min(1).max(256) }),
    querystring: sessionQuerySchema(maxLimit),
  }
  api.get('/v1/sessions/:session_id', { schema: sessionSchema }, async (req, reply) => {
    const sessionId = req.params.session_id
    const p = req.query
    const read = ctx.open(req, reply, p.tenant)
    const tenant = read.tenant
    const { fromNs, toNs } = ctx.window(p, 7 * DAY_MS, read)
    const sel = (b: Params) => where(selectionClauses(db, { tenant, session_id: sessionId, from: fromNs, to: toNs }, b))
    // The records first, one more than asked: a session that fits is summed up from its records
    // (most do), so only a longer one costs a second statement over the range. Read without LIMIT
    // 1 BY id (a copy of a re-delivered record is a neighbour of its record): a page holding one
    // is read again with it.
    const page = (byId: boolean) => {
      const r = new Params()
      return ctx.run<StoredRow>(reply, 'session', {
        query: `SELECT ${RECORD_COLUMNS} FROM ${db}.logs ${sel(r)} ORDER BY Timestamp, id ${byId ? 'LIMIT 1 BY id ' : ''}LIMIT ${r.bind(p.limit + 1, 'UInt32')}`,
        params: r.values,
      })
    }
    let rows = await page(false)
    if (holdsCopy(rows)) rows = await page(true)
    if (rows.length === 0) {
      return reply.code(404).send({ error: 'NOT_FOUND', message: `no records of session_id ${JSON.stringify(sessionId)} between ${formatNs(fromNs)} and ${formatNs(toNs)}` })
    }
    const events = rows.slice(0, p.limit).map(toRecord)
    const summary = rows.length <= p.limit ? summaryOf(rows) : await longSession()
    const firstError = summary.firstError ? (events.find((e) => e.id === summary.firstError) ?? { id: summary.firstError }) : null
    return {
      session_id: sessionId,
      user_ids: summary.users.sort(),
      services: summary.services.sort(),
      first_seen: formatNs(summary.first),
      last_seen: formatNs(summary.last),
      duration_ms: Number((summary.last - summary.first) / 1_000_000n),
      event_count: summary.events,
      error_count: summary.errors,
      first_error: firstError,
      truncated: summary.events > events.length,
      events,
    }

    /** A session longer than the page: its summary over every record of the range. */
    async function longSession(): Promise<SessionSummary> {
      const s = new Params()
      const [row] = await ctx.run<{ events: string; errors: string; first: string; last: string; services: string[]; users: string[]; first_error: string }>(reply, 'session', {
        query: `SELECT uniqExact(id) AS events, uniqExactIf(id, IsError) AS errors,
                  toString(toUnixTimestamp64Nano(min(Timestamp))) AS first, toString(toUnixTimestamp64Nano(max(Timestamp))) AS last,
                  groupUniqArray(toString(ServiceName)) AS services, groupUniqArrayIf(UserId, UserId != '') AS users,
                  argMinIf(id, (Timestamp, id), IsError) AS first_error
                FROM ${db}.logs ${sel(s)}`,
        params: s.values,
      })
      return { events: Number(row!.events), errors: Number(row!.errors), first: BigInt(row!.first), last: BigInt(row!.last), services: row!.services, users: row!.users, firstError: row!.first_error }
    }
  })

  api.get('/v1/blast-radius', { schema: { tags, summary: 'What an error code or pattern touched: users, sessions, services, hosts, attributes', querystring: blastQuerySchema } }, async (req, reply) => {
    const p = req.query
    const read = ctx.open(req, reply, p.tenant)
    const tenant = read.tenant
    const { fromNs, toNs } = ctx.window(p, DAY_MS, read)
    const selection = { tenant, service: p.service, error_code: p.error_code, pattern_id: p.pattern_id, from: fromNs, to: toNs }
    // error_events has every column the selection and the breakdowns read.
    const table = p.error_code !== undefined ? `${db}.error_events` : `${db}.logs`
    const s = new Params()
    const [summary] = await ctx.run<{ occurrences: string; users: string; sessions: string; first: string; last: string; sample_users: string[] }>(reply, 'blast_radius', {
      query: `SELECT uniqExact(id) AS occurrences, uniqExactIf(UserId, UserId != '') AS users, uniqExactIf(SessionId, SessionId != '') AS sessions,
                toString(toUnixTimestamp64Nano(min(Timestamp))) AS first, toString(toUnixTimestamp64Nano(max(Timestamp))) AS last,
                groupUniqArrayIf(20)(UserId, UserId != '') AS sample_users
              FROM ${table} ${where(selectionClauses(db, selection, s))}`,
      params: s.values,
    })
    const occurrences = Number(summary?.occurrences ?? 0)
    const base = {
      error_code: p.error_code ?? null,
      pattern_id: p.pattern_id ?? null,
      from: formatNs(fromNs),
      to: formatNs(toNs),
      occurrences,
    }
    if (!summary || occurrences === 0) return { ...base, affected_users: 0, affected_sessions: 0, first_seen: null, last_seen: null, sample_users: [], breakdown: {} }
    // Every breakdown in one pass over the selected records: the service and host columns, then
    // each named attribute (one value per record and name, so the records are selected first).
    const b = new Params()
    const names = ['service', 'host', ...(p.by ?? [])]
    const rows = await ctx.run<{ name: string; value: string; n: string; users: string; distinct: string }>(reply, 'blast_radius', {
      query: `SELECT name, value, n, users, count() OVER (PARTITION BY name) AS distinct FROM (
                SELECT name, multiIf(name = 'service', toString(ServiceName), name = 'host', toString(HostName),
                                     mapContains(LogAttributes, name), LogAttributes[name], ResourceAttributes[name]) AS value,
                  uniqExact(id) AS n, uniqExactIf(UserId, UserId != '') AS users
                FROM (SELECT id, UserId, ServiceName, HostName, LogAttributes, ResourceAttributes FROM ${table} ${where(selectionClauses(db, selection, b))})
                ARRAY JOIN ${b.bind(names, 'Array(String)')} AS name
                GROUP BY name, value HAVING value != '')
              ORDER BY name, n DESC, value LIMIT ${b.bind(p.top, 'UInt32')} BY name`,
      params: b.values,
    })
    const breakdown: Record<string, { distinct: number; top: { value: string; occurrences: number; users: number }[] }> = {}
    for (const name of names) breakdown[name] = { distinct: 0, top: [] }
    for (const r of rows) {
      const e = breakdown[r.name]!
      e.distinct = Number(r.distinct)
      e.top.push({ value: r.value, occurrences: Number(r.n), users: Number(r.users) })
    }
    return {
      ...base,
      affected_users: Number(summary.users),
      affected_sessions: Number(summary.sessions),
      first_seen: iso(summary.first),
      last_seen: iso(summary.last),
      sample_users: summary.sample_users.sort(),
      breakdown,
    }
  })

  api.get('/v1/fields', { schema: { tags, summary: 'Field names of a selection with their top values', querystring: fieldsQuerySchema } }, async (req, reply) => {
    const p = req.query
    const read = ctx.open(req, reply, p.tenant)
    const tenant = read.tenant
    const { fromNs, toNs } = ctx.window(p, 3_600_000, read)
    const b = new Params()
    // The newest `sample` records of the selection (Loki's detected_fields reads a sample too).
    const rows = await ctx.run<{ name: string; rows: string; distinct: string; top: [string, string][] }>(reply, 'fields', {
      query: `SELECT kv.1 AS name, sum(n) AS rows, count() AS distinct, arraySlice(arraySort(x -> (-x.2, x.1), groupArray((kv.2, n))), 1, ${b.bind(p.top, 'UInt32')}) AS top
              FROM (
                SELECT kv, count() AS n FROM (
                  SELECT id, ${FACETS} AS facets FROM ${db}.logs
                  ${where(selectionClauses(db, { ...p, tenant, from: fromNs, to: toNs }, b))}
                  ORDER BY Timestamp DESC, id LIMIT 1 BY id LIMIT ${b.bind(p.sample, 'UInt32')}
                ) ARRAY JOIN facets AS kv
                GROUP BY kv
              )
              GROUP BY name ORDER BY rows DESC, name`,
      params: b.values,
    })
    const sampled = rows.find((r) => r.name === 'service')
    return {
      from: formatNs(fromNs),
      to: formatNs(toNs),
      sampled_records: Number(sampled?.rows ?? 0),
      fields: rows.map((r) => ({
        name: r.name,
        kind: COLUMN_FACETS.has(r.name) ? 'column' : r.name.startsWith('attr.') ? 'attribute' : 'resource',
        records: Number(r.rows),
        distinct: Number(r.distinct),
        top: r.top.map(([value, n]) => ({ value, count: Number(n) })),
      })),
    }
  })
}
