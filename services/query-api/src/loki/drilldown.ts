// What Logs Drilldown asks beyond queries: patterns (Sluice's templates, counted per step and
// level), detected labels and their cardinality, detected fields (detect.ts) and their values,
// and the limits that tell it which views to offer.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { LogExpr } from '../logql/ast.js'
import { seconds } from './answer.js'
import { compileSelect } from './compile.js'
import type { LogStatement, Scope } from './compile.js'
import { LOKI_API_VERSION, READ_METHODS } from './context.js'
import type { LokiContext } from './context.js'
import { detectFields } from './detect.js'
import { int, str } from './params.js'
import type { Query } from './params.js'
import { Params, STREAM_MAP, hourScope } from './sql.js'
import { TemplateTexts } from './template-texts.js'

/** How long /patterns uses a template's text before reading it again (a group gains parameters rarely). */
const TEMPLATE_TEXT_TTL_MS = 30_000

export function registerDrilldown(api: FastifyInstance, ctx: LokiContext): void {
  const { params, selector, window, stepsOf, run, scopeOf, logLines, prepare, opts } = ctx
  const db = opts.database
  const texts = new TemplateTexts({ ttlMs: TEMPLATE_TEXT_TTL_MS, maxEntries: 100_000 })
  api.route({ method: READ_METHODS, url: '/patterns', handler: async (req, reply) => {
    const q = params(req)
    const e = selector(q)
    const { startNs, endNs } = window(req, reply, q)
    const steps = stepsOf(q, startNs, endNs)
    const scope = scopeOf(req, reply)
    const statement = await prepare(reply, scope, (s) =>
      compileSelect(
        s,
        e,
        startNs,
        endNs + 1n,
        (_pipe, p) => `PatternId AS id, lower(SeverityText) AS level, intDiv(toUnixTimestamp64Nano(Timestamp) - ${p.bind(startNs.toString(), 'Int64')}, ${p.bind(steps.stepNs.toString(), 'Int64')}) AS i, count() AS c`,
        () => 'GROUP BY id, level, i',
        () => ["PatternId != ''"],
      ),
    )
    const counts = await run<{ id: string; level: string; i: string; c: string }>(reply, 'loki_patterns', statement)
    const ids = [...new Set(counts.map((r) => r.id))]
    const text = await texts.get(scope.tenant, ids, (missing) => {
      const p = new Params()
      return run<{ id: string; template: string }>(reply, 'loki_patterns', {
        query: `SELECT PatternId AS id, argMaxMerge(Template) AS template FROM ${db}.patterns WHERE tenant = ${p.bind(scope.tenant)} AND PatternId IN ${p.bind(missing, 'Array(String)')} GROUP BY id`,
        params: p.values,
      })
    })
    const out = new Map<string, { pattern: string; level: string; samples: Map<number, number>; total: number }>()
    for (const r of counts) {
      const template = text.get(r.id)
      if (!template) continue
      const key = `${r.id}\u0000${r.level}`
      let o = out.get(key)
      if (!o) out.set(key, (o = { pattern: template.replaceAll('<*>', '<_>'), level: r.level, samples: new Map(), total: 0 }))
      const i = Number(r.i)
      o.samples.set(i, (o.samples.get(i) ?? 0) + Number(r.c))
      o.total += Number(r.c)
    }
    const data = [...out.values()]
      .sort((a, b) => b.total - a.total)
      .slice(0, 1000)
      .map((o) => ({
        pattern: o.pattern,
        level: o.level,
        samples: [...o.samples].sort((a, b) => a[0] - b[0]).map(([i, c]) => [seconds(startNs + BigInt(i) * steps.stepNs), c]),
      }))
    return { status: 'success', data }
  } })

  api.route({ method: READ_METHODS, url: '/detected_labels', handler: async (req, reply) => {
    const q = params(req)
    const { startNs, endNs } = window(req, reply, q)
    const sel = str(q, 'query')
    const scope = scopeOf(req, reply)
    if (sel && sel.trim() !== '{}') {
      const rows = await run<{ label: string; cardinality: string }>(
        reply,
        'loki_detected_labels',
        await prepare(reply, scope, (s) => detectedLabelsStatement(s, selector(q), startNs, endNs)),
      )
      return { detectedLabels: rows.map((r) => ({ label: r.label, cardinality: Number(r.cardinality) })) }
    }
    const p = new Params()
    const rows = await run<{ label: string; cardinality: string }>(reply, 'loki_detected_labels', {
      query: `SELECT Name AS label, uniqExact(Value) AS cardinality FROM ${db}.label_values WHERE ${hourScope(p, scope.tenant, startNs, endNs)} GROUP BY label ORDER BY label`,
      params: p.values,
    })
    return { detectedLabels: rows.map((r) => ({ label: r.label, cardinality: Number(r.cardinality) })) }
  } })

  const sample = async (req: FastifyRequest, reply: FastifyReply, q: Query) => {
    const e = selector(q)
    const { startNs, endNs } = window(req, reply, q)
    const limit = int(q, 'line_limit', 1000, opts.maxLines)
    return logLines(reply, 'loki_detected_fields', scopeOf(req, reply), e, { fromNs: startNs, toNs: endNs + 1n, limit, direction: 'backward' })
  }
  api.route({ method: READ_METHODS, url: '/detected_fields', handler: async (req, reply) => {
    const q = params(req)
    const limit = int(q, 'limit', 1000, 100_000)
    const fields = detectFields(await sample(req, reply, q))
    return { fields: fields.slice(0, limit).map(({ values: _values, ...f }) => f), limit }
  } })
  api.route({ method: READ_METHODS, url: '/detected_field/:name/values', handler: async (req, reply) => {
    const q = params(req)
    const name = (req.params as { name: string }).name
    const limit = int(q, 'limit', 1000, 100_000)
    const field = detectFields(await sample(req, reply, q)).find((f) => f.label === name)
    return { values: field ? [...field.values].slice(0, limit) : [] }
  } })

  // What Logs Drilldown reads to decide which of its views to offer (Loki's tenant limits
  // endpoint): volume and patterns are served, levels detected, and the query limits as set.
  api.get('/drilldown-limits', async (req) => {
    // The tenant's own range limit, when it is the tighter one.
    const tenantHours = ctx.access.settings(ctx.access.tenant(req, 'default')).queryMaxRangeHours
    const maxHours = tenantHours > 0 ? Math.min(tenantHours, opts.maxRangeHours) : opts.maxRangeHours
    return {
    limits: {
      volume_enabled: true,
      discover_log_levels: true,
      pattern_persistence_enabled: true,
      max_entries_limit_per_query: opts.maxLines,
      max_query_series: opts.maxSeries,
      max_query_length: `${maxHours}h`,
      query_timeout: `${Math.ceil(opts.timeoutMs / 1000)}s`,
    },
    pattern_ingester_enabled: true,
    version: LOKI_API_VERSION,
    }
  })
}

function detectedLabelsStatement(scope: Scope, e: LogExpr, startNs: bigint, endNs: bigint): LogStatement {
  return compileSelect(
    scope,
    { ...e, pipeline: [] },
    startNs,
    endNs + 1n,
    () => `(arrayJoin(arrayZip(mapKeys(${STREAM_MAP}), mapValues(${STREAM_MAP}))) AS kv).1 AS label, uniqExact(kv.2) AS cardinality`,
    () => 'GROUP BY label ORDER BY label',
  )
}
