// The index endpoints: /index/stats (streams, entries, bytes of a selector) and /index/volume,
// /index/volume_range (bytes per series). Selectors over service_name and level read the
// per-minute `volume` table; any other reads logs, without the bodies where it can.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { SluiceError } from '@sluice/core'
import type { LogExpr, Matcher } from '../logql/ast.js'
import { JSON_TYPE, matrixBody, num, seconds, stats } from './answer.js'
import { compileSelect } from './compile.js'
import type { LogStatement, Scope, Steps } from './compile.js'
import { READ_METHODS } from './context.js'
import type { LokiContext } from './context.js'
import { labelKey } from './evaluate.js'
import type { Series } from './evaluate.js'
import { int, str } from './params.js'
import { Params } from './sql.js'

export function registerIndex(api: FastifyInstance, ctx: LokiContext): void {
  const { params, streamSelector, window, stepsOf, run, scopeOf, prepare } = ctx
  const db = ctx.opts.database
  api.route({ method: READ_METHODS, url: '/index/stats', handler: async (req, reply) => {
    const q = params(req)
    const only = streamSelector(q)
    const { startNs, endNs } = window(req, reply, q)
    const scope = scopeOf(req, reply)
    const streamsOf = () => prepare(reply, scope, (s) => compileSelect(s, only, startNs, endNs + 1n, () => 'uniqExact(ServiceName, SeverityText, HostName, mapFilter((k, v) -> k != \'service.name\', ResourceAttributes)) AS streams, count() AS entries'))
    type Stats = { streams?: string; entries: string; bytes?: string }
    const rows: Stats[] = onVolumeTable(only.matchers, [])
      ? [
          {
            ...(await run<Stats>(reply, 'loki_index_stats', volumeStatement(db, scope.tenant, only.matchers, startNs, endNs, 'sum(Count) AS entries, sum(Bytes) AS bytes')))[0]!,
            streams: (await run<Stats>(reply, 'loki_index_stats', await streamsOf()))[0]?.streams ?? '0',
          },
        ]
      : await run<Stats>(reply, 'loki_index_stats', await prepare(reply, scope, (s) => compileSelect(s, only, startNs, endNs + 1n, () => `uniqExact(ServiceName, SeverityText, HostName, mapFilter((k, v) -> k != 'service.name', ResourceAttributes)) AS streams, count() AS entries, sum(length(Body)) AS bytes`)))
    const r = { streams: '0', entries: '0', bytes: '0', ...rows[0] }
    // Sluice keeps no chunks; a stream's rows in a time range stand in for one.
    return { streams: Number(r.streams), chunks: Number(r.streams), entries: Number(r.entries), bytes: Number(r.bytes) }
  } })

  const volume = async (req: FastifyRequest, reply: FastifyReply, ranged: boolean) => {
    const q = params(req)
    const e = streamSelector(q)
    const { startNs, endNs } = window(req, reply, q)
    const limit = int(q, 'limit', 100, 10_000)
    const aggregateBy = str(q, 'aggregateBy') ?? 'series'
    if (aggregateBy !== 'series' && aggregateBy !== 'labels') throw new SluiceError('VALIDATION_FAILED', `invalid parameter aggregateBy: expected series or labels, got ${JSON.stringify(aggregateBy)}`)
    const targets = (str(q, 'targetLabels') ?? '').split(',').map((s) => s.trim()).filter(Boolean)
    const by = targets.length ? targets : [...new Set(e.matchers.map((m) => m.name))]
    const steps = ranged ? stepsOf(q, startNs, endNs) : { startNs, endNs, stepNs: endNs - startNs + 1n }
    const fast = onVolumeTable(e.matchers, by)
    const st = fast ? volumeRange(db, scopeOf(req, reply).tenant, e.matchers, by, steps, aggregateBy) : await prepare(reply, scopeOf(req, reply), (s) => logsVolumeRange(s, e, by, steps, aggregateBy))
    const rows = await run<{ labels: Record<string, string>; i: string; v: string }>(reply, ranged ? 'loki_volume_range' : 'loki_volume', st)
    const bySeries = new Map<string, Series>()
    for (const r of rows) {
      const key = labelKey(r.labels)
      let s = bySeries.get(key)
      if (!s) bySeries.set(key, (s = { metric: r.labels, points: new Map() }))
      const i = ranged ? Number(r.i) : 0
      s.points.set(i, (s.points.get(i) ?? 0) + Number(r.v))
    }
    const total = (s: Series) => [...s.points.values()].reduce((a, b) => a + b, 0)
    const top = [...bySeries.values()].sort((a, b) => total(b) - total(a)).slice(0, limit)
    if (ranged) return reply.type(JSON_TYPE).send(matrixBody(top, steps, stats(0, 0, 0)))
    const at = seconds(endNs)
    return { status: 'success', data: { resultType: 'vector', result: top.map((s) => ({ metric: s.metric, value: [at, num(total(s))] })), stats: stats(0, 0, 0) } }
  }
  api.route({ method: READ_METHODS, url: '/index/volume', handler: (req, reply) => volume(req, reply, false) })
  api.route({ method: READ_METHODS, url: '/index/volume_range', handler: (req, reply) => volume(req, reply, true) })
}

/** Label names the volume table has as columns. */
function onVolumeTable(matchers: readonly Matcher[], by: readonly string[]): boolean {
  const ok = (n: string) => n === 'service_name' || n === 'level'
  return matchers.every((m) => ok(m.name)) && by.every(ok)
}

function volumeWhere(p: Params, t: string, matchers: readonly Matcher[], startNs: bigint, endNs: bigint): string {
  const col = (n: string) => (n === 'service_name' ? 'ServiceName' : 'Level')
  const clauses = [
    `tenant = ${p.bind(t)}`,
    `Minute >= toStartOfMinute(toDateTime(${p.bind(Number(startNs / 1_000_000_000n), 'Int64')}))`,
    `Minute <= toDateTime(${p.bind(Number(endNs / 1_000_000_000n), 'Int64')})`,
  ]
  for (const m of matchers) {
    const c = col(m.name)
    const v = p.bind(m.op === '=~' || m.op === '!~' ? `^(?:${m.value})$` : m.value)
    clauses.push(m.op === '=' ? `${c} = ${v}` : m.op === '!=' ? `${c} != ${v}` : m.op === '=~' ? `match(${c}, ${v})` : `NOT match(${c}, ${v})`)
  }
  return clauses.join(' AND ')
}

function volumeStatement(db: string, t: string, matchers: readonly Matcher[], startNs: bigint, endNs: bigint, columns: string): LogStatement {
  const p = new Params()
  return { query: `SELECT ${columns} FROM ${db}.volume WHERE ${volumeWhere(p, t, matchers, startNs, endNs)}`, params: p.values }
}

/** Bytes per series (and step) from the per-minute volume table; steps end at t, as Loki's do. */
function volumeRange(db: string, t: string, matchers: readonly Matcher[], by: readonly string[], steps: Steps, aggregateBy: string): LogStatement {
  const p = new Params()
  const labels = volumeLabels(by, aggregateBy, (n) => (n === 'service_name' ? 'toString(ServiceName)' : 'toString(Level)'), p)
  const i = `greatest(0, intDiv(toInt64(toUnixTimestamp(Minute)) * 1000000000 - ${p.bind(steps.startNs.toString(), 'Int64')} + ${p.bind((steps.stepNs - 1n).toString(), 'Int64')}, ${p.bind(steps.stepNs.toString(), 'Int64')}))`
  return {
    query: `SELECT ${labels} AS labels, ${i} AS i, sum(Bytes) AS v FROM ${db}.volume WHERE ${volumeWhere(p, t, matchers, steps.startNs, steps.endNs)} GROUP BY labels, i`,
    params: p.values,
  }
}

function logsVolumeRange(scope: Scope, e: LogExpr, by: readonly string[], steps: Steps, aggregateBy: string): LogStatement {
  return compileSelect(
    scope,
    e,
    steps.startNs,
    steps.endNs + 1n,
    (pipe, p) => {
      const labels = volumeLabels(by, aggregateBy, (n) => pipe.lookup(n).val, p)
      const i = `greatest(0, intDiv(toUnixTimestamp64Nano(Timestamp) - ${p.bind(steps.startNs.toString(), 'Int64')} + ${p.bind((steps.stepNs - 1n).toString(), 'Int64')}, ${p.bind(steps.stepNs.toString(), 'Int64')}))`
      return `${labels} AS labels, ${i} AS i, sum(length(Body)) AS v`
    },
    () => 'GROUP BY labels, i',
  )
}

/** Volume's series labels: the `by` labels and their values, or (aggregateBy=labels) the label's name alone, valued "". */
function volumeLabels(by: readonly string[], aggregateBy: string, value: (name: string) => string, p: Params): string {
  if (aggregateBy === 'labels') {
    // One series per label name, over the rows that carry it.
    const names = by.map((n) => `if(${value(n)} != '', ${p.bind(n)}, '')`)
    return `CAST(map(arrayJoin(arrayFilter(n -> n != '', [${names.join(', ')}])), ''), 'Map(String, String)')`
  }
  return `mapFilter((k, v) -> v != '', CAST(map(${by.flatMap((n) => [p.bind(n), value(n)]).join(', ') || "'', ''"}), 'Map(String, String)'))`
}
