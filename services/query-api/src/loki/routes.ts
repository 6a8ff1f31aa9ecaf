// The Loki HTTP API over Sluice's ClickHouse tables, so Grafana's Loki data source, Explore, live
// tail, the log-volume histogram and Logs Drilldown work pointed at query-api. Shapes, status
// codes and error bodies follow the Loki HTTP API reference: JSON `{status, data}` answers, and
// plain-text 400s (`parse error at line 1, col 5: …`) for anything the client sent wrong.
//
//   GET|POST /loki/api/v1/query_range  query_range (log → streams, metric → matrix)
//   GET|POST /loki/api/v1/query        instant metric query (vector or scalar)
//   GET|POST /loki/api/v1/labels, /label/{name}/values, /series
//   GET      /loki/api/v1/index/stats, /index/volume, /index/volume_range
//   GET      /loki/api/v1/patterns, /detected_labels, /detected_fields, /detected_field/{name}/values
//   GET      /loki/api/v1/tail (WebSocket), /format_query, /status/buildinfo, /drilldown-limits;  GET /ready
// This module holds the queries, the label browser, the error handling and the guard rails;
// index-routes.ts and drilldown.ts the rest, on the helpers it shares with them (context.ts).
// Tenant: the request's (tenancy.ts: X-Scope-OrgID, or the key's), default `default`; every
// statement is scoped to it before the selector's matchers, which can only narrow it (a label
// named `tenant` is an attribute like any other). Guard rails: QUERY_TIMEOUT_MS (ClickHouse
// max_execution_time, and the query is cancelled when the client goes away), QUERY_MAX_RANGE_HOURS,
// QUERY_MAX_SERIES, QUERY_MAX_LINES, QUERY_MAX_ROWS_READ, QUERY_MAX_BYTES_READ; per tenant
// query_max_concurrent (429) and query_max_range_hours (400).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { WWW_AUTHENTICATE } from '@sluice/auth'
import { SluiceError, isSluiceError } from '@sluice/core'
import type { ClickHouseClient } from '@sluice/clickhouse'
import type { Histogram } from 'prom-client'
import { guardSettings, guardedRunner, limitMessage, runTextSearch, runUnscanned, searchNewestFirst } from '../guard.js'
import type { Expr, LogExpr } from '../logql/ast.js'
import { LogQLParseError } from '../logql/ast.js'
import { formatLogQL } from '../logql/format.js'
import { parseLogQL } from '../logql/parse.js'
import { JSON_TYPE, matrixBody, num, seconds, stats, streams } from './answer.js'
import { compileLogQuery, compileSelect, stepCount, uniqueLines } from './compile.js'
import type { LinesStatement, LogLine, LogStatement, Scope, Steps } from './compile.js'
import { HOUR_NS, LOKI_API_VERSION, READ_METHODS } from './context.js'
import type { LokiContext, LokiOptions } from './context.js'
import { registerDrilldown } from './drilldown.js'
import { evaluate, labelKey } from './evaluate.js'
import type { Series } from './evaluate.js'
import { registerIndex } from './index-routes.js'
import { all, defaultStepNs, direction, durationNs, int, step, str, time } from './params.js'
import type { Query } from './params.js'
import type { AttributeKeys, OutputRow } from './pipeline.js'
import { META_LABELS, Params, STREAM_MAP, hourScope } from './sql.js'
import { registerTail } from './tail.js'
import type { QueryAccess } from '../tenancy.js'


export interface LokiDeps {
  clickhouse: Pick<ClickHouseClient, 'query'>
  querySeconds: Histogram<'endpoint'>
  /** The tenant rule and per-tenant query limits. */
  access: QueryAccess
}

/** The tenant of Loki API requests that name none (and whose key does not decide), as Loki's. */
export const LOKI_DEFAULT_TENANT = 'default'

/** How long the attribute keys a label name stands for in a tenant's data are remembered. */
const ATTRIBUTE_KEYS_TTL_MS = 30_000
const MAX_POINTS = 11_000


export function registerLoki(app: FastifyInstance, opts: LokiOptions, deps: LokiDeps): void {
  const db = opts.database
  const nowNs = () => BigInt(Date.now()) * 1_000_000n
  const attributeKeys = new Map<string, { keys: AttributeKeys; at: number }>()

  // Probes hold no keys.
  app.get('/ready', { config: { public: true } }, async (_req, reply) => reply.type('text/plain').send('ready'))

  void app.register(
    async (api) => {
      // Loki accepts POSTed forms for its query endpoints, and no other body: JSON is refused like
      // any type no parser takes (415), rather than read as parameters of any JSON type.
      api.removeContentTypeParser('application/json')
      api.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
        const out: Query = {}
        for (const [k, v] of new URLSearchParams(body as string)) {
          const have = out[k]
          out[k] = have === undefined ? v : Array.isArray(have) ? [...have, v] : [have, v]
        }
        done(null, out)
      })
      api.setErrorHandler((err, req, reply) => {
        // Refusals of the door and the limits keep their status, in Loki's plain-text form.
        if (isSluiceError(err) && REFUSAL_STATUS[err.code] !== undefined) {
          if (err.code === 'UNAUTHORIZED') reply.header('www-authenticate', [...WWW_AUTHENTICATE])
          if (err.retryAfterSeconds !== undefined) reply.header('retry-after', String(err.retryAfterSeconds))
          return reply.code(REFUSAL_STATUS[err.code]!).type('text/plain').send(err.message)
        }
        if (err instanceof LogQLParseError || (isSluiceError(err) && err.code === 'VALIDATION_FAILED')) return reply.code(400).type('text/plain').send(err.message)
        const ch = limitMessage(err, opts)
        if (ch) return reply.code(400).type('text/plain').send(ch)
        // Fastify's own client errors (a content type no parser takes: 415, a body over the limit: 413) keep their status.
        const status = (err as { statusCode?: number }).statusCode
        if ((err as { code?: string }).code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
          return reply.code(415).type('text/plain').send(`unsupported Content-Type ${req.headers['content-type'] ?? ''}: send the parameters in the query string or as a form (application/x-www-form-urlencoded)`)
        }
        if (status !== undefined && status >= 400 && status < 500) return reply.code(status).type('text/plain').send((err as Error).message)
        req.log.error({ err }, 'loki api request failed')
        return reply.code(500).type('text/plain').send('internal error')
      })

      const params = (req: FastifyRequest): Query => ({ ...(req.query as Query), ...(req.body && typeof req.body === 'object' ? (req.body as Query) : {}) })
      /** The request's tenant, admitted under its query limits (once per request). */
      const scopeOf = (req: FastifyRequest, reply: FastifyReply): Scope => ({ db, tenant: deps.access.open(req, reply, LOKI_DEFAULT_TENANT).tenant })

      const limits = guardSettings(opts)
      const run = guardedRunner(deps.clickhouse, opts, deps.querySeconds) as <T>(reply: FastifyReply, endpoint: string, st: LogStatement) => Promise<T[]>

      /** A statement's rows: a line search over few rows without the text index's dictionary scan (runTextSearch). */
      const rowsOf = (reply: FastifyReply, endpoint: string, st: LinesStatement): Promise<OutputRow[]> =>
        st.bodyLike ? runTextSearch<OutputRow>(run, reply, endpoint, st, opts.textScanMinRows) : run<OutputRow>(reply, endpoint, st)

      /** The lines of the rows `read` answers (undefined: it refused the statement). */
      const linesBy = async (read: (st: LinesStatement) => Promise<OutputRow[] | undefined>, st: LinesStatement): Promise<LogLine[] | undefined> => {
        const rows = await read(st)
        if (rows === undefined) return undefined
        const first = uniqueLines(st, rows)
        if (first) return first
        // The page may hold a copy of a record not yet merged: ClickHouse drops copies (LIMIT 1 BY id).
        const exact = st.dedup!.exact()
        return (await read(exact))?.map(exact.shape)
      }

      /**
       * The lines of a log query: one statement, or for a line search for a word (not an
       * identifier: Pipeline.rareTerm) the newest slice first (searchNewestFirst). Copies of a
       * record share their time, so each is in one slice.
       */
      const logLines = async (reply: FastifyReply, endpoint: string, scope: Scope, e: LogExpr, range: { fromNs: bigint; toNs: bigint; limit: number; direction: 'backward' | 'forward' }): Promise<LogLine[]> => {
        let settled = scope
        const st = await prepare(reply, scope, (s) => compileLogQuery((settled = s), e, range))
        if (!st.bodyLike || st.rareTerm || opts.textScanMinRows === 0) return (await linesBy((s) => rowsOf(reply, endpoint, s), st))!
        return searchNewestFirst({ ...range, backward: range.direction === 'backward' }, (fromNs, toNs, limit, scan) =>
          linesBy(
            (s) => (scan ? run<OutputRow>(reply, endpoint, s) : runUnscanned<OutputRow>(run, reply, endpoint, s, opts.textScanMinRows)),
            compileLogQuery(settled, e, { ...range, fromNs, toNs, limit }),
          ),
        )
      }

      /**
       * Builds a statement with the attribute keys its labels stand for in the tenant's data, as
       * remembered (each answer for ATTRIBUTE_KEYS_TTL_MS); for the labels it looked up as possible
       * attributes that are not, first one read of the attribute_keys table (0016) by its primary
       * key (with `read`), then again with them settled.
       */
      const settle = async <S extends LogStatement>(scope: Scope, build: (scope: Scope) => S, read: (st: LogStatement) => Promise<unknown[]>): Promise<S> => {
        const remembered = (name: string) => {
          const cached = attributeKeys.get(`${scope.tenant}\u0000${name}`)
          return cached && Date.now() - cached.at < ATTRIBUTE_KEYS_TTL_MS ? cached.keys : undefined
        }
        const known = new Map<string, AttributeKeys>()
        const settled: Scope = { ...scope, attributes: { get: (name) => known.get(name) ?? remembered(name) } }
        const first = build(settled)
        const missing = (first.attributes ?? []).filter((name) => remembered(name) === undefined)
        if (missing.length === 0) return first
        const p = new Params()
        const rows = (await read({
          query: `SELECT Name AS name, Kind AS kind, Key AS key FROM ${db}.attribute_keys WHERE tenant = ${p.bind(scope.tenant)} AND Name IN ${p.bind(missing, 'Array(String)')} GROUP BY name, kind, key ORDER BY name, kind, key`,
          params: p.values,
        })) as { name: string; kind: 'resource' | 'log'; key: string }[]
        if (attributeKeys.size > 10_000) attributeKeys.clear()
        const found = new Map(missing.map((name) => [name, { resource: [] as string[], log: [] as string[] }]))
        for (const r of rows) found.get(r.name)?.[r.kind].push(r.key)
        for (const [name, keys] of found) {
          attributeKeys.set(`${scope.tenant}\u0000${name}`, { keys, at: Date.now() })
          known.set(name, keys)
        }
        return build(settled)
      }
      /** settle() for a request: the read is one of its statements (guarded, timed, cancelled with it). */
      const prepare = <S extends LogStatement>(reply: FastifyReply, scope: Scope, build: (scope: Scope) => S): Promise<S> => settle(scope, build, (st) => run(reply, 'loki_attribute_keys', st))

      const parse = (q: Query): Expr => {
        const text = str(q, 'query')
        if (text === undefined || text.trim() === '') throw new SluiceError('VALIDATION_FAILED', 'query must be supplied')
        return parseLogQL(text)
      }
      const selector = (q: Query, name = 'query'): LogExpr => {
        const text = str(q, name)
        if (text === undefined || text.trim() === '') throw new SluiceError('VALIDATION_FAILED', `${name} must be supplied`)
        const e = parseLogQL(text)
        if (e.kind !== 'log') throw new SluiceError('VALIDATION_FAILED', `${name} must be a log selector like {service_name="api"}, not a metric query`)
        return e
      }
      const streamSelector = (q: Query): LogExpr => {
        const e = selector(q)
        if (e.pipeline.length > 0) throw new SluiceError('VALIDATION_FAILED', 'only label matchers are supported')
        return e
      }
      /** start/end with Loki's defaults (the last `since`, one hour unless given) and the range limits. */
      const window = (req: FastifyRequest, reply: FastifyReply, q: Query, defaultNs = HOUR_NS) => {
        const read = deps.access.open(req, reply, LOKI_DEFAULT_TENANT)
        const endNs = time(q, 'end', nowNs())
        const since = str(q, 'since')
        // A default range (no start, no since) is cut to the tenant's range limit, not refused.
        const tenantNs = read.maxRangeHours > 0 ? BigInt(read.maxRangeHours) * HOUR_NS : undefined
        const sinceNs = since ? durationNs(since) : tenantNs !== undefined && tenantNs < defaultNs ? tenantNs : defaultNs
        if (sinceNs === undefined) throw new SluiceError('VALIDATION_FAILED', `invalid parameter since: ${JSON.stringify(since)} is not a duration`)
        const startNs = time(q, 'start', endNs - sinceNs)
        if (endNs < startNs) throw new SluiceError('VALIDATION_FAILED', 'end timestamp must not be before or equal to start time')
        if (endNs - startNs > BigInt(opts.maxRangeHours) * HOUR_NS)
          throw new SluiceError('VALIDATION_FAILED', `the query time range exceeds the limit (query length: ${hours(endNs - startNs)}h, limit: ${opts.maxRangeHours}h, QUERY_MAX_RANGE_HOURS)`)
        deps.access.checkRange(read, endNs - startNs)
        return { startNs, endNs }
      }
      const stepsOf = (q: Query, startNs: bigint, endNs: bigint, name = 'step'): Steps => {
        const stepNs = step(q, name) ?? defaultStepNs(startNs, endNs)
        if (stepNs <= 0n) throw new SluiceError('VALIDATION_FAILED', 'zero or negative query resolution step widths are not accepted. Try a positive integer')
        const steps = { startNs, endNs, stepNs }
        if (stepCount(steps) > MAX_POINTS) throw new SluiceError('VALIDATION_FAILED', `exceeded maximum resolution of ${MAX_POINTS} points per timeseries. Try decreasing the query resolution (?step=XX)`)
        return steps
      }

      const logs = async (req: FastifyRequest, reply: FastifyReply, e: LogExpr, q: Query, startNs: bigint, endNs: bigint) => {
        const limit = int(q, 'limit', 100, opts.maxLines)
        const dir = direction(q)
        const t0 = performance.now()
        const rows = await logLines(reply, 'loki_logs', scopeOf(req, reply), e, { fromNs: startNs, toNs: endNs, limit, direction: dir })
        const categorize = String(req.headers['x-loki-response-encoding-flags'] ?? '').split(',').includes('categorize-labels')
        return {
          status: 'success',
          data: {
            resultType: 'streams',
            result: streams(rows, categorize),
            stats: stats(rows.length, rows.reduce((n, r) => n + r.line.length, 0), performance.now() - t0),
            ...(categorize && { encodingFlags: ['categorize-labels'] }),
          },
        }
      }

      const metric = async (req: FastifyRequest, reply: FastifyReply, e: Exclude<Expr, LogExpr>, steps: Steps) => {
        const scope = scopeOf(req, reply)
        return evaluate(e, {
          scope,
          steps,
          maxSeries: opts.maxSeries,
          run: (st) => run(reply, 'loki_metric', st),
          prepare: (build) => prepare(reply, scope, build),
        })
      }

      const queryRange = async (req: FastifyRequest, reply: FastifyReply) => {
        const q = params(req)
        const e = parse(q)
        const { startNs, endNs } = window(req, reply, q)
        if (e.kind === 'log') return logs(req, reply, e, q, startNs, endNs)
        // Loki's sketches answer one time only.
        if (holdsVectorOp(e, 'approx_topk')) throw new SluiceError('VALIDATION_FAILED', 'approx_topk error: count min sketches are only supported on instant queries')
        const steps = stepsOf(q, startNs, endNs)
        const t0 = performance.now()
        const v = await metric(req, reply, e, steps)
        const series: Series[] = v.kind === 'scalar' ? [{ metric: {}, points: new Map(Array.from({ length: stepCount(steps) }, (_, i) => [i, v.value])) }] : v.series
        return reply.type(JSON_TYPE).send(matrixBody(series, steps, stats(0, 0, performance.now() - t0)))
      }
      api.route({ method: READ_METHODS, url: '/query_range', handler: queryRange })

      const instant = async (req: FastifyRequest, reply: FastifyReply) => {
        const q = params(req)
        const e = parse(q)
        if (e.kind === 'log') throw new SluiceError('VALIDATION_FAILED', 'log queries are not supported as an instant query type, please change your query to a range query type')
        const t = time(q, 'time', nowNs())
        // An instant query reads as far back as its longest range (and offset).
        deps.access.checkRange(deps.access.open(req, reply, LOKI_DEFAULT_TENANT), longestRangeNs(e))
        const steps = { startNs: t, endNs: t, stepNs: 1_000_000_000n }
        const t0 = performance.now()
        const v = await metric(req, reply, e, steps)
        const at = seconds(t)
        if (v.kind === 'scalar') return { status: 'success', data: { resultType: 'scalar', result: [at, num(v.value)], stats: stats(0, 0, performance.now() - t0) } }
        const result = v.series.flatMap((s) => (s.points.has(0) ? [{ metric: s.metric, value: [at, num(s.points.get(0)!)] }] : []))
        if (isSort(e)) result.sort((a, b) => (Number(a.value[1]) - Number(b.value[1])) * (e.kind === 'vector' && e.op === 'sort_desc' ? -1 : 1))
        return { status: 'success', data: { resultType: 'vector', result, stats: stats(0, 0, performance.now() - t0) } }
      }
      api.route({ method: READ_METHODS, url: '/query', handler: instant })

      // ---- label browser ---------------------------------------------------------------------

      const labels = async (req: FastifyRequest, reply: FastifyReply) => {
        const q = params(req)
        const { startNs, endNs } = window(req, reply, q, 6n * HOUR_NS)
        const sel = str(q, 'query')
        if (sel) {
          const rows = await run<{ name: string }>(
            reply,
            'loki_labels',
            await prepare(reply, scopeOf(req, reply), (s) => compileSelect(s, selector(q), startNs, endNs + 1n, () => `DISTINCT arrayJoin(mapKeys(${STREAM_MAP})) AS name`, () => 'ORDER BY name')),
          )
          return { status: 'success', data: rows.map((r) => r.name) }
        }
        const p = new Params()
        const rows = await run<{ name: string }>(reply, 'loki_labels', {
          query: `SELECT DISTINCT Name AS name FROM ${db}.label_values WHERE ${hourScope(p, scopeOf(req, reply).tenant, startNs, endNs)} ORDER BY name`,
          params: p.values,
        })
        return { status: 'success', data: rows.map((r) => r.name) }
      }
      api.route({ method: READ_METHODS, url: '/labels', handler: labels })

      api.route({ method: READ_METHODS, url: '/label/:name/values', handler: async (req, reply) => {
        const q = params(req)
        const name = (req.params as { name: string }).name
        const { startNs, endNs } = window(req, reply, q, 6n * HOUR_NS)
        const sel = str(q, 'query')
        if (sel || META_LABELS.includes(name)) {
          const e = sel ? selector(q) : ({ kind: 'log', matchers: [{ name, op: '=~', value: '.+' }], pipeline: [] } satisfies LogExpr)
          const rows = await run<{ v: string }>(
            reply,
            'loki_label_values',
            await prepare(reply, scopeOf(req, reply), (s) => compileSelect(s, e, startNs, endNs + 1n, (pipe) => `DISTINCT ${pipe.lookup(name).val} AS v`, () => `HAVING v != '' ORDER BY v LIMIT 10000`)),
          )
          return { status: 'success', data: rows.map((r) => r.v) }
        }
        const p = new Params()
        const rows = await run<{ v: string }>(reply, 'loki_label_values', {
          query: `SELECT DISTINCT Value AS v FROM ${db}.label_values WHERE ${hourScope(p, scopeOf(req, reply).tenant, startNs, endNs)} AND Name = ${p.bind(name)} ORDER BY v LIMIT 10000`,
          params: p.values,
        })
        return { status: 'success', data: rows.map((r) => r.v) }
      } })

      const series = async (req: FastifyRequest, reply: FastifyReply) => {
        const q = params(req)
        const { startNs, endNs } = window(req, reply, q, 6n * HOUR_NS)
        const matches = [...all(q, 'match[]'), ...all(q, 'match')]
        if (matches.length === 0) throw new SluiceError('VALIDATION_FAILED', 'at least one match[] selector must be supplied')
        const selectors = [...new Set(matches)].map((m) => {
          const e = parseLogQL(m)
          if (e.kind !== 'log') throw new SluiceError('VALIDATION_FAILED', `match[] must be a log selector, got ${JSON.stringify(m)}`)
          return e
        })
        // One statement per selector: QUERY_TIMEOUT_MS bounds the request, not each of thousands.
        const deadline = performance.now() + opts.timeoutMs
        const seen = new Map<string, Record<string, string>>()
        for (const [i, e] of selectors.entries()) {
          if (performance.now() > deadline) {
            throw new SluiceError('VALIDATION_FAILED', `query timed out after ${opts.timeoutMs} ms (QUERY_TIMEOUT_MS) with ${i} of ${selectors.length} match[] selectors answered; send fewer selectors`)
          }
          const rows = await run<{ s: Record<string, string> }>(
            reply,
            'loki_series',
            await prepare(reply, scopeOf(req, reply), (s) => compileSelect(s, e, startNs, endNs + 1n, () => `DISTINCT ${STREAM_MAP} AS s`, (p) => `LIMIT ${p.bind(opts.maxSeries + 1, 'UInt32')}`)),
          )
          for (const r of rows) seen.set(labelKey(r.s), r.s)
          if (seen.size > opts.maxSeries) throw new SluiceError('VALIDATION_FAILED', `maximum number of series (${opts.maxSeries}) reached for a single query (QUERY_MAX_SERIES)`)
        }
        return { status: 'success', data: [...seen.values()] }
      }
      api.route({ method: READ_METHODS, url: '/series', handler: series })

      const ctx: LokiContext = { opts, params, scopeOf, run, logLines, prepare, selector, streamSelector, window, stepsOf, access: deps.access }
      registerIndex(api, ctx)
      registerDrilldown(api, ctx)

      // ---- the rest ----------------------------------------------------------------------------

      // No data, but the same door: a tenant the key does not hold is refused here too.
      api.route({ method: READ_METHODS, url: '/format_query', handler: async (req) => {
        deps.access.tenant(req, LOKI_DEFAULT_TENANT)
        const q = params(req)
        return { status: 'success', data: formatLogQL(parse(q)) }
      } })
      api.get('/status/buildinfo', async (req) => {
        deps.access.tenant(req, LOKI_DEFAULT_TENANT)
        return { version: LOKI_API_VERSION, revision: 'sluice', branch: 'sluice', buildUser: 'sluice', buildDate: '', goVersion: '' }
      })

      const tailQuery = async <T = OutputRow>(st: LogStatement): Promise<T[]> => {
        const rs = await deps.clickhouse.query({ query: `${st.query}\n${limits}`, query_params: st.params, format: 'JSON' })
        return (await rs.json<T>()).data
      }
      registerTail(api, {
        maxConnections: opts.tailMaxConnections,
        pollMs: opts.tailPollMs,
        maxLines: opts.maxLines,
        parse: (q) => selector(q),
        // A tail is one long request: it does not hold a query slot (QUERY_TAIL_MAX_CONNECTIONS bounds
        // tails), but its backlog reaches back no further than the tenant's range limit.
        scopeOf: (req, backlogNs) => {
          const tenant = deps.access.tenant(req, LOKI_DEFAULT_TENANT)
          deps.access.checkRange({ tenant, maxRangeHours: deps.access.settings(tenant).queryMaxRangeHours }, backlogNs)
          return { db, tenant }
        },
        query: tailQuery,
        prepare: (scope, build) => settle(scope, build, tailQuery),
        refusal: (err) => (isSluiceError(err) && err.code === 'VALIDATION_FAILED' ? err.message : limitMessage(err, opts)),
        stream: (rows) => streams(rows, false),
      })
    },
    { prefix: '/loki/api/v1' },
  )

}


const hours = (ns: bigint) => (Number(ns) / 3.6e12).toFixed(1)

const REFUSAL_STATUS: Partial<Record<string, number>> = { UNAUTHORIZED: 401, FORBIDDEN: 403, RATE_LIMITED: 429, UNSUPPORTED_MEDIA_TYPE: 415, CLIENT_CLOSED: 499 }

/** The longest range (plus offset) of the range aggregations in `e`: how far back an instant query reads. */
export function longestRangeNs(e: unknown): bigint {
  if (e === null || typeof e !== 'object') return 0n
  const r = e as { kind?: unknown; rangeNs?: unknown; offsetNs?: unknown }
  let max = r.kind === 'range' && typeof r.rangeNs === 'bigint' ? r.rangeNs + (typeof r.offsetNs === 'bigint' && r.offsetNs > 0n ? r.offsetNs : 0n) : 0n
  for (const v of Object.values(e)) {
    const m = longestRangeNs(v)
    if (m > max) max = m
  }
  return max
}
const isSort = (e: Expr) => e.kind === 'vector' && (e.op === 'sort' || e.op === 'sort_desc')

/** Whether `e` holds an aggregation of operator `op` anywhere. */
function holdsVectorOp(e: unknown, op: string): boolean {
  if (e === null || typeof e !== 'object') return false
  const v = e as { kind?: unknown; op?: unknown }
  return (v.kind === 'vector' && v.op === op) || Object.values(e).some((x) => holdsVectorOp(x, op))
}