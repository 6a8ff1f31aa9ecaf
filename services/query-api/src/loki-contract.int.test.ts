// Contract suite for the Loki-compatible HTTP API: replays the requests Grafana's Loki data source
// (Explore, label browser, log volume, health check, live tail) and the Logs Drilldown app
// (service volume, detected labels and fields, patterns, field and label breakdowns) are documented
// to send, against the query API on embedded ClickHouse holding a fixture of a few hundred rows in
// two tenants, and checks both the shapes of the answers (the Loki HTTP API reference) and their
// values, each computed from the fixture (loki-fixture.ts).
//
// Where the Loki documentation leaves a detail open, the suite asserts Loki's behaviour: log
// queries select [start, end); a range aggregation at t covers (t − range, t]; steps with no
// samples give no point; structured metadata and parsed labels are series labels; volumes and
// bytes_over_time count the UTF-8 bytes of lines.
import { once } from 'node:events'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import WebSocket from 'ws'
import { z } from 'zod'
import type { ClickHouseHandle } from '@sluice/clickhouse'
import { createLogger, createRegistry } from '@sluice/observability'
import { loadConfig } from './config.js'
import {
  buildFixture,
  bytesValue,
  detectedType,
  durationSeconds,
  evalRange,
  fixtureWindow,
  labelsKey,
  lineBytes,
  lineLabels,
  lokiPattern,
  omitLabels,
  patternRegExp,
  pickLabels,
  quantile,
  streamLabels,
  structuredMetadata,
  workerFixtureRow,
} from './loki-fixture.js'
import type { FixtureRow, Labels, SeriesPoints } from './loki-fixture.js'
import { buildApp } from './service.js'
import { listenQueryApi, serveTestLogs } from './test-store.js'
import type { ServedLogs } from './test-store.js'

// ---- the running service --------------------------------------------------------------------------

const DATABASE = 'loki_contract'

const win = fixtureWindow(Date.now())
const fixture = buildFixture(win)
const NS = 1_000_000_000n
const START_NS = BigInt(win.windowStartS) * NS
const END_NS = BigInt(win.windowEndS) * NS
/** The whole fixture, as Grafana sends a range: nanosecond epochs. */
const RANGE = { start: START_NS.toString(), end: END_NS.toString() } as const
/** An evaluation time for instant queries, well inside the fixture. */
const T_S = win.windowEndS - 420

let served: ServedLogs
let ch: ClickHouseHandle
let baseUrl: string

beforeAll(async () => {
  served = await serveTestLogs('loki-contract', DATABASE, fixture.map((f) => f.row))
  ch = served.ch
  baseUrl = served.baseUrl
})

afterAll(() => served?.close())

// ---- the fixture, selected --------------------------------------------------------------------------

type Pred = (f: FixtureRow) => boolean

function rowsOf(tenant: string, ...preds: Pred[]): FixtureRow[] {
  return fixture.filter((f) => f.tenant === tenant && preds.every((p) => p(f)))
}
const service =
  (...names: string[]): Pred =>
  (f) =>
    names.includes(f.service)
const level =
  (...levels: string[]): Pred =>
  (f) =>
    levels.includes(f.row.SeverityText.toLowerCase())
const bodyMatches =
  (re: RegExp): Pred =>
  (f) =>
    re.test(f.row.Body)
const between =
  (fromNs: bigint, toNs: bigint): Pred =>
  (f) =>
    f.ts >= fromNs && f.ts < toNs
const field =
  (name: string, test: (v: string) => boolean): Pred =>
  (f) =>
    f.fields[name] !== undefined && test(f.fields[name])
const seconds = (text: string | undefined) => (text === undefined ? NaN : (durationSeconds(text) ?? NaN))

/** The lines Loki returns for `limit` and `direction`: the newest (backward) or oldest (forward) ones. */
function limited(rows: FixtureRow[], limit: number, direction: 'backward' | 'forward' = 'backward'): FixtureRow[] {
  const sorted = [...rows].sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0))
  return direction === 'forward' ? sorted.slice(0, limit) : sorted.reverse().slice(0, limit)
}

const distinct = <T>(xs: Iterable<T>): T[] => [...new Set(xs)]
const sortStrings = (xs: Iterable<string>): string[] => [...xs].sort()
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0)

// ---- HTTP ----------------------------------------------------------------------------------------------

type Params = Record<string, string | number | readonly string[] | undefined>
type Headers = Record<string, string>

const ACME: Headers = { 'X-Scope-OrgID': 'acme' }
const CATEGORIZE: Headers = { 'X-Loki-Response-Encoding-Flags': 'categorize-labels' }

interface Reply {
  /** The request, for failure messages. */
  request: string
  status: number
  contentType: string
  text: string
}

function encode(params: Params): URLSearchParams {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue
    if (Array.isArray(v)) for (const x of v as readonly string[]) q.append(k, x)
    else q.append(k, String(v))
  }
  return q
}

async function get(pathname: string, params: Params = {}, headers: Headers = {}): Promise<Reply> {
  const res = await fetch(`${baseUrl}${pathname}?${encode(params)}`, { headers })
  return { request: `GET ${pathname} ${JSON.stringify(params)}`, status: res.status, contentType: res.headers.get('content-type') ?? '', text: await res.text() }
}

async function postForm(pathname: string, params: Params, headers: Headers = {}): Promise<Reply> {
  const res = await fetch(`${baseUrl}${pathname}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: encode(params).toString(),
  })
  return { request: `POST ${pathname} ${JSON.stringify(params)}`, status: res.status, contentType: res.headers.get('content-type') ?? '', text: await res.text() }
}

/** A 200 whose JSON body has the shape `schema` describes (zod reports every mismatch). */
function parse<T>(reply: Reply, schema: z.ZodType<T>): T {
  expect(reply.status, `${reply.request} → ${reply.text.slice(0, 2000)}`).toBe(200)
  expect(reply.contentType).toMatch(/^application\/json/)
  return schema.parse(JSON.parse(reply.text))
}

/** A refused request: 400 with a plain-text body naming the problem, never a 5xx. */
function expectBadRequest(reply: Reply, names: RegExp): void {
  expect(reply.status, `${reply.request} → ${reply.text}`).toBe(400)
  expect(reply.contentType, reply.request).toMatch(/^text\/plain/)
  expect(reply.text, reply.request).toMatch(names)
}

// ---- response shapes (Loki HTTP API reference) ------------------------------------------------------------

const labelSet = z.record(z.string(), z.string())
const nsString = z.string().regex(/^\d{1,19}$/)
const stats = z.record(z.string(), z.unknown())
const categorized = z.strictObject({ structuredMetadata: labelSet.optional(), parsed: labelSet.optional() })
const streamValue = z.union([z.tuple([nsString, z.string()]), z.tuple([nsString, z.string(), categorized])])
const sample = z.tuple([z.number(), z.string()])
const success = <T extends z.ZodType>(data: T) => z.object({ status: z.literal('success'), data })

const streamsData = z.object({
  resultType: z.literal('streams'),
  result: z.array(z.object({ stream: labelSet, values: z.array(streamValue) })),
  stats,
  encodingFlags: z.array(z.string()).optional(),
})
const matrixData = z.object({ resultType: z.literal('matrix'), result: z.array(z.object({ metric: labelSet, values: z.array(sample) })), stats })
const vectorData = z.object({ resultType: z.literal('vector'), result: z.array(z.object({ metric: labelSet, value: sample })), stats })
const scalarData = z.object({ resultType: z.literal('scalar'), result: sample, stats })
const streamsReply = success(streamsData)
const matrixReply = success(matrixData)
const vectorReply = success(vectorData)
const scalarReply = success(scalarData)
const volumeReply = success(z.object({ resultType: z.literal('vector'), result: z.array(z.object({ metric: labelSet, value: sample })), stats: stats.optional() }))
const volumeRangeReply = success(z.object({ resultType: z.literal('matrix'), result: z.array(z.object({ metric: labelSet, values: z.array(sample) })), stats: stats.optional() }))
const stringListReply = success(z.array(z.string()))
const seriesReply = success(z.array(labelSet))
const indexStats = z.object({ streams: z.number(), chunks: z.number(), entries: z.number(), bytes: z.number() })
const patternsReply = success(z.array(z.object({ pattern: z.string(), samples: z.array(z.tuple([z.number(), z.number()])) })))
const detectedLabelsReply = z.object({ detectedLabels: z.array(z.object({ label: z.string(), cardinality: z.number() })) })
const FIELD_TYPES = ['string', 'int', 'float', 'duration', 'bytes', 'boolean'] as const
const detectedFieldsReply = z.object({
  fields: z.array(
    z.object({
      label: z.string(),
      type: z.enum(FIELD_TYPES),
      cardinality: z.number(),
      parsers: z.array(z.enum(['json', 'logfmt'])).nullable(),
      jsonPath: z.array(z.string()).nullable().optional(),
    }),
  ),
  limit: z.number(),
})
const detectedValuesReply = z.object({ values: z.array(z.string()) })
const tailFrame = z.object({
  streams: z.array(z.object({ stream: labelSet, values: z.array(z.tuple([nsString, z.string()])) })),
  dropped_entries: z.array(z.object({ labels: labelSet, timestamp: z.string() })).nullable(),
})

type StreamsData = z.infer<typeof streamsData>
type MatrixData = z.infer<typeof matrixData>
type VectorData = z.infer<typeof vectorData>

// ---- reading answers --------------------------------------------------------------------------------------

async function queryRange(query: string, params: Params = {}, headers: Headers = {}): Promise<Reply> {
  return get('/loki/api/v1/query_range', { query, ...RANGE, ...params }, headers)
}

async function logQuery(query: string, params: Params = {}, headers: Headers = {}): Promise<StreamsData> {
  return parse(await queryRange(query, params, headers), streamsReply).data
}

async function matrixQuery(query: string, params: Params = {}, headers: Headers = {}): Promise<MatrixData> {
  return parse(await queryRange(query, { step: 60, ...params }, headers), matrixReply).data
}

async function instantQuery(query: string, params: Params = {}, headers: Headers = {}): Promise<VectorData> {
  return parse(await get('/loki/api/v1/query', { query, time: (BigInt(T_S) * NS).toString(), ...params }, headers), vectorReply).data
}

interface Entry {
  ts: string
  line: string
  stream: Labels
  meta?: { structuredMetadata?: Labels; parsed?: Labels }
}

/** Every returned line with its stream; checks each stream's order and that no stream repeats. */
function entriesOf(data: StreamsData, direction: 'backward' | 'forward' = 'backward'): Entry[] {
  const keys = data.result.map((s) => labelsKey(s.stream))
  expect(new Set(keys).size, 'a stream (label set) appears once').toBe(keys.length)
  const out: Entry[] = []
  for (const s of data.result) {
    const ts = s.values.map((v) => BigInt(v[0]))
    const ordered = ts.every((t, i) => i === 0 || (direction === 'backward' ? ts[i - 1]! >= t : ts[i - 1]! <= t))
    expect(ordered, `values of ${labelsKey(s.stream)} are sorted ${direction === 'backward' ? 'newest' : 'oldest'} first`).toBe(true)
    for (const v of s.values) out.push(v.length === 3 ? { ts: v[0], line: v[1], stream: s.stream, meta: v[2] } : { ts: v[0], line: v[1], stream: s.stream })
  }
  return out.sort((a, b) => (BigInt(a.ts) < BigInt(b.ts) ? 1 : -1))
}

const byTsDesc = (a: FixtureRow, b: FixtureRow) => (a.ts < b.ts ? 1 : a.ts > b.ts ? -1 : 0)

/** Without categorize-labels: stream = every label of the line (stream, metadata, parsed). */
function expectLines(data: StreamsData, rows: FixtureRow[], opts: { labels?: (f: FixtureRow) => Labels; line?: (f: FixtureRow) => string; direction?: 'backward' | 'forward' } = {}): void {
  const labels = opts.labels ?? ((f: FixtureRow) => lineLabels(f.row))
  const line = opts.line ?? ((f: FixtureRow) => f.row.Body)
  expect(data.encodingFlags ?? []).not.toContain('categorize-labels')
  const actual = entriesOf(data, opts.direction).map((e) => ({ ts: e.ts, line: e.line, labels: e.stream, meta: e.meta }))
  const expected = [...rows].sort(byTsDesc).map((f) => ({ ts: f.ts.toString(), line: line(f), labels: labels(f), meta: undefined }))
  expect(actual).toEqual(expected)
}

/** With categorize-labels: stream = stream labels; each value's third element splits the rest. */
function expectCategorized(data: StreamsData, rows: FixtureRow[], opts: { metadata?: (f: FixtureRow) => Labels; parsed?: (f: FixtureRow) => Labels; line?: (f: FixtureRow) => string } = {}): void {
  const metadata = opts.metadata ?? ((f: FixtureRow) => structuredMetadata(f.row))
  const parsed = opts.parsed ?? (() => ({}))
  const line = opts.line ?? ((f: FixtureRow) => f.row.Body)
  expect(data.encodingFlags).toContain('categorize-labels')
  const actual = entriesOf(data).map((e) => ({ ts: e.ts, line: e.line, stream: e.stream, meta: e.meta }))
  const expected = [...rows].sort(byTsDesc).map((f) => {
    const md = metadata(f)
    const p = parsed(f)
    return {
      ts: f.ts.toString(),
      line: line(f),
      stream: streamLabels(f.row),
      meta: { ...(Object.keys(md).length > 0 ? { structuredMetadata: md } : {}), ...(Object.keys(p).length > 0 ? { parsed: p } : {}) },
    }
  })
  expect(actual).toEqual(expected)
}

type Compare = 'exact' | 'close'
const shown = (v: number | string, how: Compare) => (how === 'exact' ? String(v) : Number(v).toPrecision(12))

/** Series as `{labels → [[t, value], …]}`; `close` compares values to 12 significant digits. */
function matrixView(result: MatrixData['result'], how: Compare): Record<string, [number, string][]> {
  const keys = result.map((s) => labelsKey(s.metric))
  expect(new Set(keys).size, 'a series (label set) appears once').toBe(keys.length)
  return Object.fromEntries(result.map((s) => [labelsKey(s.metric), s.values.map(([t, v]): [number, string] => [t, shown(v, how)])]))
}

function expectedMatrix(series: Map<string, SeriesPoints>, how: Compare): Record<string, [number, string][]> {
  return Object.fromEntries([...series].map(([k, s]) => [k, [...s.points].map(([t, v]): [number, string] => [t, shown(v, how)])]))
}

function vectorView(result: VectorData['result'], how: Compare): Record<string, string> {
  for (const s of result) expect(s.value[0]).toBe(T_S)
  return Object.fromEntries(result.map((s) => [labelsKey(s.metric), shown(s.value[1], how)]))
}

/** The range aggregation of `rows` at the single instant T_S. */
function expectedVector(rows: FixtureRow[], rangeS: number, group: (f: FixtureRow) => Labels, reduce: (rows: FixtureRow[]) => number | undefined, how: Compare): Record<string, string> {
  const series = evalRange(rows, { startS: T_S, endS: T_S, stepS: 60, rangeS, group, reduce })
  return Object.fromEntries([...series].map(([k, s]) => [k, shown(s.points.get(T_S)!, how)]))
}

const fixtureRange = { startS: win.windowStartS, endS: win.windowEndS }
const count = (rows: FixtureRow[]) => rows.length

async function waitFor(what: string, done: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!done()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

// ---- the suite --------------------------------------------------------------------------------------------

describe('fixture', () => {
  it('is stored: /v1/logs returns every row of each tenant and /v1/stats counts them by service', async () => {
    for (const tenant of ['default', 'acme']) {
      const mine = rowsOf(tenant)
      const window = { from: new Date(win.windowStartS * 1000).toISOString(), to: new Date(win.windowEndS * 1000).toISOString() }
      const logs = await get('/v1/logs', { ...window, limit: 1000 }, { 'x-sluice-tenant': tenant })
      expect(logs.status, logs.text).toBe(200)
      const ids = (JSON.parse(logs.text) as { logs: { id: string }[] }).logs.map((l) => l.id)
      expect(sortStrings(ids)).toEqual(sortStrings(mine.map((f) => f.row.id)))
      const st = await get('/v1/stats', window, { 'x-sluice-tenant': tenant })
      const body = JSON.parse(st.text) as { total: number; byService: Record<string, { total: number }> }
      expect(body.total).toBe(mine.length)
      for (const s of distinct(mine.map((f) => f.service))) expect(body.byService[s]?.total).toBe(rowsOf(tenant, service(s)).length)
    }
    // The fixture exercises what the suite relies on.
    expect(rowsOf('default', service('worker'), level('fatal')).length).toBeGreaterThan(0)
    expect(rowsOf('default', service('auth'), (f) => f.row.PatternId === '').length).toBeGreaterThan(0)
    expect(rowsOf('default', service('checkout'), field('status', (s) => Number(s) >= 500)).length).toBeGreaterThan(0)
  })
})

describe('log queries: /loki/api/v1/query_range → streams', () => {
  it('answers a stream selector with every line of the range, labels merged with structured metadata, newest first', async () => {
    const data = await logQuery('{service_name="worker"}', { limit: 1000 })
    expect(data.stats).toBeTypeOf('object')
    expectLines(data, rowsOf('default', service('worker')))
  })

  it('returns the newest 100 lines across all streams when no limit is given (direction backward by default)', async () => {
    const data = await logQuery('{service_name="checkout"}')
    const all = rowsOf('default', service('checkout'))
    expect(all.length).toBeGreaterThan(100)
    expectLines(data, limited(all, 100))
  })

  it('returns the oldest `limit` lines, oldest first in each stream, for direction=forward', async () => {
    const data = await logQuery('{service_name="checkout"}', { limit: 20, direction: 'forward' })
    expectLines(data, limited(rowsOf('default', service('checkout')), 20, 'forward'), { direction: 'forward' })
  })

  it('with categorize-labels (what Explore sends), keeps stream labels in `stream` and structured metadata per value', async () => {
    // Explore's logs query: limit = max lines, a step it also sends for log queries, direction backward.
    const data = await logQuery('{service_name="checkout"}', { limit: 1000, step: 2, direction: 'backward' }, { ...CATEGORIZE, 'X-Query-Tags': 'Source=grafana' })
    const rows = rowsOf('default', service('checkout'))
    expectCategorized(data, rows)
    expect(sortStrings(data.result.map((s) => labelsKey(s.stream)))).toEqual(sortStrings(distinct(rows.map((f) => labelsKey(streamLabels(f.row))))))
  })

  it('with categorize-labels, puts what a parser extracted under `parsed`', async () => {
    const data = await logQuery('{service_name="checkout"} | json', { limit: 1000 }, CATEGORIZE)
    expectCategorized(data, rowsOf('default', service('checkout')), { parsed: (f) => f.fields })
  })

  it('without categorize-labels, merges parsed labels into the stream labels', async () => {
    const data = await logQuery('{service_name="auth"} | logfmt', { limit: 1000 })
    expectLines(data, rowsOf('default', service('auth')), { labels: (f) => ({ ...lineLabels(f.row), ...f.fields }) })
  })

  it('scopes every query to the X-Scope-OrgID tenant, and to `default` without the header', async () => {
    const none = await logQuery('{service_name="checkout"}', { limit: 1000 })
    const dflt = await logQuery('{service_name="checkout"}', { limit: 1000 }, { 'X-Scope-OrgID': 'default' })
    const acme = await logQuery('{service_name="checkout"}', { limit: 1000 }, ACME)
    expectLines(none, rowsOf('default', service('checkout')))
    expectLines(dflt, rowsOf('default', service('checkout')))
    expectLines(acme, rowsOf('acme', service('checkout')))
    expect((await logQuery('{service_name="billing"}', { limit: 1000 })).result).toEqual([])
    expectLines(await logQuery('{service_name="billing"}', { limit: 1000 }, ACME), rowsOf('acme', service('billing')))
  })

  it('matches selectors with =, !=, =~ (anchored), !~, raw strings, resource attribute labels and absent labels as ""', async () => {
    const cases: [string, FixtureRow[]][] = [
      ['{service_name=~"check.*|auth", level!="info"}', rowsOf('default', service('checkout', 'auth'), (f) => f.row.SeverityText !== 'INFO')],
      ['{service_name=~"heck"}', []],
      ['{service_name="checkout", host!~"web-1"}', rowsOf('default', service('checkout'), (f) => f.row.HostName !== 'web-1')],
      ['{k8s_namespace_name="jobs"}', rowsOf('default', service('worker'))],
      ['{deployment_environment="prod", level=~"warn|error"}', rowsOf('default', service('checkout', 'auth'), level('warn', 'error'))],
      ['{service_name="worker", host=""}', rowsOf('default', service('worker'))],
      ['{service_name=`worker`, level=~`warn|error|fatal`}', rowsOf('default', service('worker'), level('warn', 'error', 'fatal'))],
    ]
    for (const [query, rows] of cases) {
      const data = await logQuery(query, { limit: 1000 })
      expect(entriesOf(data).length, query).toBe(rows.length)
      expectLines(data, rows)
    }
  })

  it('selects on structured metadata, in the selector and in label filters', async () => {
    expectLines(await logQuery('{service_name="checkout", error_code="E_DB"}', { limit: 1000 }), rowsOf('default', service('checkout'), (f) => f.row.ErrorCode === 'E_DB'))
    expectLines(
      await logQuery('{service_name="checkout"} | detected_level="error" | http_route="/cart"', { limit: 1000 }),
      rowsOf('default', service('checkout'), level('error'), (f) => f.row.LogAttributes['http.route'] === '/cart'),
    )
    expectLines(await logQuery('{service_name="auth"} | pattern_id=""', { limit: 1000 }), rowsOf('default', service('auth'), (f) => f.row.PatternId === ''))
  })

  it('applies line filters |=, !=, |~ (unanchored), !~, (?i) and `or` alternatives', async () => {
    const cases: [string, FixtureRow[]][] = [
      ['{service_name="worker"} |= "failed"', rowsOf('default', service('worker'), (f) => f.row.Body.includes('failed'))],
      ['{service_name="worker"} != "job"', rowsOf('default', service('worker'), (f) => !f.row.Body.includes('job'))],
      ['{service_name="worker"} |~ `job \\d+ failed`', rowsOf('default', service('worker'), bodyMatches(/job \d+ failed/))],
      ['{service_name="worker"} !~ "heart.*"', rowsOf('default', service('worker'), (f) => !/heart.*/.test(f.row.Body))],
      ['{service_name=~"worker|auth"} |~ "(?i)timeout"', rowsOf('default', service('worker', 'auth'), bodyMatches(/timeout/i))],
      ['{service_name="worker"} |= "heartbeat" or "crashed"', rowsOf('default', service('worker'), (f) => f.row.Body.includes('heartbeat') || f.row.Body.includes('crashed'))],
      ['{service_name="auth"} |= "login" != "ok"', rowsOf('default', service('auth'), (f) => f.row.Body.includes('login') && !f.row.Body.includes('ok'))],
    ]
    for (const [query, rows] of cases) {
      const data = await logQuery(query, { limit: 1000 })
      expect(entriesOf(data).length, query).toBe(rows.length)
      expectLines(data, rows)
    }
    expect(rowsOf('default', service('worker'), bodyMatches(/TIMEOUT/)).length, 'the fixture has upper-case TIMEOUT').toBeGreaterThan(0)
  })

  it('matches selector regexes as RE2 does: (?i) case-insensitively; one RE2 cannot compile is a 400 naming it', async () => {
    // (?i) in a selector was refused as "empty-compatible" (JavaScript compiles no (?i)).
    expectLines(await logQuery('{service_name=~"(?i)CHECKOUT|Worker"}', { limit: 1000 }), rowsOf('default', service('checkout', 'worker')))
    const bad = await get('/loki/api/v1/query_range', { query: '{service_name=~"("}', ...RANGE })
    expect(bad.status).toBe(400)
    expect(bad.text).toBe('parse error at line 1, col 16: error parsing regexp: missing closing ): `(`')
    // Refused at parse time: over a range with no rows too, where ClickHouse never compiles it.
    const empty = await get('/loki/api/v1/query_range', { query: '{service_name="checkout"} | json | x=~"("', start: '1000000000', end: '2000000000' })
    expect([empty.status, empty.text]).toEqual([400, 'parse error at line 1, col 39: error parsing regexp: missing closing ): `(`'])
  })

  it('applies pattern filters |> and !> as Drilldown does to include or exclude a pattern', async () => {
    const pattern = lokiPattern('processed job <*> in <*> — ok')
    const re = patternRegExp(pattern)
    expectLines(await logQuery(`{service_name="worker"} |> "${pattern}"`, { limit: 1000 }), rowsOf('default', service('worker'), bodyMatches(re)))
    expectLines(await logQuery(`{service_name="worker"} !> "${pattern}"`, { limit: 1000 }), rowsOf('default', service('worker'), (f) => !re.test(f.row.Body)))
  })

  it("includes a structured line by the pattern /patterns gave for it (Sluice's templates are mined from its message)", async () => {
    // As the enricher stores a JSON line: the template is its `msg`'s, not the whole line's.
    const tenant = 'patterns-only'
    const template = 'payment <*> declined for <*>'
    const lines = [
      { msg: 'payment p-1 declined for u-7', code: 51 },
      { msg: 'payment p-2 declined for u-9', code: 5 },
      { msg: 'payment p-3 accepted', code: 0 },
    ]
    const rows = lines.map((doc, i) => ({
      id: `pattern-${i}`,
      tenant,
      Timestamp: (START_NS + BigInt(i + 1) * NS).toString(),
      ObservedTimestamp: (START_NS + BigInt(i + 1) * NS).toString(),
      ServiceName: 'payments',
      SeverityText: 'WARN',
      SeverityNumber: 13,
      Body: JSON.stringify(doc),
      Template: doc.msg.includes('declined') ? template : 'payment <*> accepted',
      PatternId: doc.msg.includes('declined') ? 'aaaaaaaaaaaaaaa1' : 'aaaaaaaaaaaaaaa2',
    }))
    await ch.client.insert({ table: `${DATABASE}.logs`, values: rows, format: 'JSONEachRow' })
    const headers = { 'X-Scope-OrgID': tenant }
    const patterns = parse(await get('/loki/api/v1/patterns', { query: '{service_name="payments"}', ...RANGE, step: '5m' }, headers), patternsReply).data
    const declined = patterns.find((p) => p.pattern.includes('declined'))!.pattern
    expect(declined).toBe('payment <_> declined for <_>')
    const found = await logQuery(`{service_name="payments"} |> "${declined}"`, {}, headers)
    expect(found.result.flatMap((r) => r.values.map((v) => v[1])).sort()).toEqual([rows[0]!.Body, rows[1]!.Body].sort())
    const others = await logQuery(`{service_name="payments"} !> "${declined}"`, {}, headers)
    expect(others.result.flatMap((r) => r.values.map((v) => v[1]))).toEqual([rows[2]!.Body])
  })

  it('unpacks lines packed by Promtail\'s pack stage: string fields become labels, _entry the line', async () => {
    const tenant = 'packed'
    const at = (s: bigint) => (START_NS + s * NS).toString()
    const bodies = [
      JSON.stringify({ container: 'myapp', pod: 'pod-3223f', 'k8s.node': 'n1', _entry: 'level=error msg="disk full" took=3s' }),
      JSON.stringify({ container: 'myapp', pod: 'pod-9', retries: 3, _entry: 'level=info msg=ok took=5ms' }),
      'not packed at all',
    ]
    const rows = bodies.map((Body, i) => ({ id: `pk-${i}`, tenant, Timestamp: at(BigInt(20 + i)), ObservedTimestamp: at(BigInt(20 + i)), ServiceName: 'packed', SeverityText: 'INFO', SeverityNumber: 9, Body }))
    await ch.client.insert({ table: `${DATABASE}.logs`, values: rows, format: 'JSONEachRow' })
    const headers = { 'X-Scope-OrgID': tenant }
    const data = await logQuery('{service_name="packed"} | unpack', { limit: 10, direction: 'forward' }, { ...headers, ...CATEGORIZE })
    const entries = entriesOf(data, 'forward').reverse().map((e) => ({ line: e.line, parsed: e.meta?.parsed }))
    expect(entries).toEqual([
      { line: 'level=error msg="disk full" took=3s', parsed: { container: 'myapp', pod: 'pod-3223f', k8s_node: 'n1' } },
      // A number is no packed label.
      { line: 'level=info msg=ok took=5ms', parsed: { container: 'myapp', pod: 'pod-9' } },
      { line: 'not packed at all', parsed: { __error__: 'JSONParserErr', __error_details__: 'expecting json object(6), but it is not' } },
    ])
    // The unpacked line goes on through the pipeline: logfmt reads _entry, a label filter reads both.
    const slow = await logQuery('{service_name="packed"} | unpack | __error__="" | logfmt | container="myapp" | took > 1s | line_format "{{.pod}}: {{.msg}}"', {}, headers)
    expect(slow.result.flatMap((r) => r.values.map((v) => v[1]))).toEqual(['pod-3223f: disk full'])
  })

  it('answers a record stored twice (re-delivered after a crash, not yet merged) as one line', async () => {
    const tenant = 'redelivered'
    const at = (START_NS + 5n * NS).toString()
    const record = { id: 'dup-1', tenant, Timestamp: at, ObservedTimestamp: at, ServiceName: 'orders', SeverityText: 'INFO', SeverityNumber: 9, Body: 'order 42 shipped' }
    // Two inserts, as two flushes of the sink would write them.
    await ch.client.insert({ table: `${DATABASE}.logs`, values: [record], format: 'JSONEachRow' })
    await ch.client.insert({ table: `${DATABASE}.logs`, values: [record, { ...record, id: 'dup-2', Body: 'order 43 shipped' }], format: 'JSONEachRow' })
    const found = await logQuery('{service_name="orders"}', {}, { 'X-Scope-OrgID': tenant })
    expect(found.result.flatMap((r) => r.values.map((v) => v[1])).sort()).toEqual(['order 42 shipped', 'order 43 shipped'])
    // With a line filter too.
    const filtered = await logQuery('{service_name="orders"} |= "shipped"', {}, { 'X-Scope-OrgID': tenant })
    expect(filtered.result.flatMap((r) => r.values.map((v) => v[1])).sort()).toEqual(['order 42 shipped', 'order 43 shipped'])
  })

  it('answers `limit` distinct lines when the newest `limit` rows hold a record stored twice', async () => {
    const tenant = 'redelivered-page'
    const ns = (s: bigint) => (START_NS + s * NS).toString()
    const record = { id: 'page-1', tenant, Timestamp: ns(6n), ObservedTimestamp: ns(6n), ServiceName: 'orders', SeverityText: 'INFO', SeverityNumber: 9, Body: 'order 44 shipped' }
    const older = { ...record, id: 'page-2', Timestamp: ns(4n), ObservedTimestamp: ns(4n), Body: 'order 45 shipped' }
    await ch.client.insert({ table: `${DATABASE}.logs`, values: [record, older], format: 'JSONEachRow' })
    await ch.client.insert({ table: `${DATABASE}.logs`, values: [record], format: 'JSONEachRow' })
    const found = await logQuery('{service_name="orders"}', { limit: 2 }, { 'X-Scope-OrgID': tenant })
    expect(found.result.flatMap((r) => r.values.map((v) => v[1])).sort()).toEqual(['order 44 shipped', 'order 45 shipped'])
    const filtered = await logQuery('{service_name="orders"} |~ "order 4[45]"', { limit: 2 }, { 'X-Scope-OrgID': tenant })
    expect(filtered.result.flatMap((r) => r.values.map((v) => v[1])).sort()).toEqual(['order 44 shipped', 'order 45 shipped'])
  })

  it('answers two records of the same time and line (a second-precision source repeating itself) as two lines', async () => {
    const tenant = 'same-line'
    const at = (START_NS + 7n * NS).toString()
    const record = { id: 'same-1', tenant, Timestamp: at, ObservedTimestamp: at, ServiceName: 'cron', SeverityText: 'INFO', SeverityNumber: 9, Body: 'job ran' }
    await ch.client.insert({ table: `${DATABASE}.logs`, values: [record, { ...record, id: 'same-2' }, { ...record, id: 'same-3', Body: 'job queued' }], format: 'JSONEachRow' })
    const found = await logQuery('{service_name="cron"}', {}, { 'X-Scope-OrgID': tenant })
    expect(found.result.flatMap((r) => r.values.map((v) => v[1])).sort()).toEqual(['job queued', 'job ran', 'job ran'])
  })

  it('reads Go durations in a label filter (0, .5s, μs too), and marks the rest LabelFilterErr', async () => {
    const tenant = 'go-durations'
    const at = (i: number) => (START_NS + BigInt(10 + i) * NS).toString()
    const took = ['.5s', '1.5s', '+.25h', '0', '-0', '1μs', '1h30m', '2s', '00', 'soon', '1e3s', '5.s']
    const rows = took.map((d, i) => ({ id: `go-${i}`, tenant, Timestamp: at(i), ObservedTimestamp: at(i), ServiceName: 'timer', SeverityText: 'INFO', SeverityNumber: 9, Body: JSON.stringify({ took: d }) }))
    await ch.client.insert({ table: `${DATABASE}.logs`, values: rows, format: 'JSONEachRow' })
    const found = await logQuery('{service_name="timer"} | json | took > 1s', { limit: 100 }, { 'X-Scope-OrgID': tenant })
    const byLine = Object.fromEntries(found.result.flatMap((r) => r.values.map((v) => [JSON.parse(v[1]).took as string, r.stream.__error__ ?? ''])))
    // Kept: longer than a second, or no duration at all (with the error, as Loki keeps them).
    // (`5.s`, a point with no digit after it, is the one Go form not read: README, supported LogQL.)
    expect(byLine).toEqual({ '1.5s': '', '+.25h': '', '1h30m': '', '2s': '', '00': 'LabelFilterErr', soon: 'LabelFilterErr', '1e3s': 'LabelFilterErr', '5.s': 'LabelFilterErr' })
    const sum = await instantQuery('sum(sum_over_time({service_name="timer"} | json | unwrap duration(took) | __error__="" [1h]))', { time: (START_NS + 1800n * NS).toString() }, { 'X-Scope-OrgID': tenant })
    expect(Number(sum.result[0]!.value[1])).toBeCloseTo(0.5 + 1.5 + 900 + 0.000001 + 5400 + 2, 6)
  })

  it('keeps the lines an earlier stage marked with an error through ip filters, not number, duration or bytes ones, as Loki does', async () => {
    const tenant = 'errored-lines'
    const at = (i: number) => (START_NS + BigInt(30 + i) * NS).toString()
    const bodies = [
      JSON.stringify({ took: '2s', size: '2KB', addr: '10.1.2.3', status: 500 }),
      JSON.stringify({ took: '10ms', size: '10B', addr: '192.168.0.1', status: 200 }),
      'took=5s size=9KB addr=10.0.0.1: not JSON',
      JSON.stringify({ took: 'soon', size: 'big', addr: 'nowhere', status: 200 }),
      JSON.stringify({ other: 1 }),
      JSON.stringify({ took: 'soon', size: '5KB', addr: '10.9.9.9', status: 503 }),
    ]
    const rows = bodies.map((Body, i) => ({ id: `err-${i}`, tenant, Timestamp: at(i), ObservedTimestamp: at(i), ServiceName: 'errs', SeverityText: 'INFO', SeverityNumber: 9, Body }))
    await ch.client.insert({ table: `${DATABASE}.logs`, values: rows, format: 'JSONEachRow' })
    const headers = { 'X-Scope-OrgID': tenant }
    /** Kept lines, each as its index in `bodies` and its __error__ ('' for none), in time order. */
    const kept = async (pipeline: string) => {
      const found = await logQuery(`{service_name="errs"} ${pipeline}`, { limit: 100, direction: 'forward' }, headers)
      return found.result
        .flatMap((r) => r.values.map((v) => [bodies.indexOf(v[1]), r.stream.__error__ ?? ''] as const))
        .sort((a, b) => a[0] - b[0])
        .map(([i, error]) => `${i}${error && ` ${error}`}`)
    }
    // Without the label (line 2 is no JSON) a number, duration or bytes filter drops the line; a
    // value that does not convert keeps it, marked.
    expect(await kept('| json | took > 1s')).toEqual(['0', '3 LabelFilterErr', '5 LabelFilterErr'])
    expect(await kept('| json | size > 1KB')).toEqual(['0', '3 LabelFilterErr', '5'])
    // An ip filter lets the line marked JSONParserErr through.
    expect(await kept('| json | addr = ip("10.0.0.0/8")')).toEqual(['0', '2 JSONParserErr', '5'])
    // The second filter of an `and` drops line 3 (status 200) though the first marked it.
    expect(await kept('| json | took > 1s and status >= 500')).toEqual(['0', '5 LabelFilterErr'])
    // `or` runs its right filter only where its left one fails: line 5 (status 503) is not marked
    // for its took, line 3 (status 200) is.
    expect(await kept('| json | status >= 500 or took > 1s')).toEqual(['0', '3 LabelFilterErr', '5'])
    expect(await kept('| json | took > 1s | __error__=""')).toEqual(['0'])
    // keep leaves the error labels whatever it names, as Loki's does.
    expect(await kept('| json | keep status | addr = ip("10.0.0.0/8")')).toEqual(['2 JSONParserErr'])
    // drop __error__ clears the mark: the ip filter no longer lets the line that is no JSON through,
    // and a later filter's mark shows again.
    expect(await kept('| json | drop __error__ | addr = ip("10.0.0.0/8")')).toEqual(['0', '5'])
    expect(await kept('| json | drop __error__ | took > 1s')).toEqual(['0', '3 LabelFilterErr', '5 LabelFilterErr'])
    // A string matcher drops an errored line like any other.
    expect(await kept('| json | took = "2s"')).toEqual(['0'])
    // A metric over lines still marked fails, as Loki's does (PipelineError, 400, word for word),
    // unless a filter drops them or the query groups by __error__.
    const time = (START_NS + 1800n * NS).toString()
    const failing = await get('/loki/api/v1/query', { query: 'sum(count_over_time({service_name="errs"} | json | took > 1s [1h]))', time }, headers)
    expect(failing.status).toBe(400)
    expect(failing.contentType).toMatch(/^text\/plain/)
    expect(failing.text).toMatch(/^pipeline error: 'LabelFilterErr' for series: '\{__error__="LabelFilterErr", [^']*service_name="errs"[^']*\}'\.\n/)
    expect(failing.text).toContain('Use a label filter to intentionally skip this error. (e.g | __error__!="LabelFilterErr").\n')
    expect(failing.text.endsWith('The label filter can also be specified after unwrap. (e.g | unwrap latency | __error__="" )\n')).toBe(true)
    const count = await instantQuery('sum(count_over_time({service_name="errs"} | json | took > 1s | __error__="" [1h]))', { time }, headers)
    expect(count.result.map((s) => s.value[1])).toEqual(['1'])
    const byError = await instantQuery('sum by (__error__) (count_over_time({service_name="errs"} | json | took > 1s [1h]))', { time }, headers)
    expect(Object.fromEntries(byError.result.map((s) => [s.metric.__error__ ?? '', s.value[1]]))).toEqual({ '': '1', LabelFilterErr: '2' })
    for (const query of ['count_over_time({service_name="errs"} | json [1h])', 'sum by (service_name) (count_over_time({service_name="errs"} | json [1h]))']) {
      const parsing = await get('/loki/api/v1/query', { query, time }, headers)
      expect(parsing.status, query).toBe(400)
      expect(parsing.text).toMatch(/^pipeline error: 'JSONParserErr' for series: '\{__error__="JSONParserErr", /)
    }
    // One series whose pipeline names no label: Loki's parser hints say no label is needed, its
    // parsers do not run and mark nothing, and every line counts.
    for (const query of ['sum(count_over_time({service_name="errs"} | json [1h]))', 'sum(rate({service_name="errs"} | json | drop __error__ [1h])) * 3600']) {
      const all = await instantQuery(query, { time }, headers)
      expect(all.result.map((s) => Number(s.value[1])), query).toEqual([6])
    }
    // A line outside every window fails nothing: the step's window (30 s) misses the lines at 30–35 s.
    const missed = await get('/loki/api/v1/query', { query: 'count_over_time({service_name="errs"} | json [30s])', time: (START_NS + 90n * NS).toString() }, headers)
    expect(missed.status, missed.text).toBe(200)
  })

  it('marks an unwrapped value that does not convert SampleExtractionErr, which fails the metric unless a filter after unwrap drops it, as Loki does', async () => {
    const tenant = 'unwrap-errors'
    const at = (i: number) => (START_NS + BigInt(40 + i) * NS).toString()
    const bodies = [{ ms: '12' }, { ms: 'slow' }, { other: 1 }, { ms: '' }]
    const rows = bodies.map((b, i) => ({ id: `uw-${i}`, tenant, Timestamp: at(i), ObservedTimestamp: at(i), ServiceName: 'uw', SeverityText: 'INFO', SeverityNumber: 9, Body: JSON.stringify(b) }))
    await ch.client.insert({ table: `${DATABASE}.logs`, values: rows, format: 'JSONEachRow' })
    const headers = { 'X-Scope-OrgID': tenant }
    const time = (START_NS + 1800n * NS).toString()
    const failing = await get('/loki/api/v1/query', { query: 'sum(sum_over_time({service_name="uw"} | json | unwrap ms [1h]))', time }, headers)
    expect(failing.status).toBe(400)
    // The series is named without the unwrapped label, as Loki's samples are.
    expect(failing.text).toMatch(/^pipeline error: 'SampleExtractionErr' for series: '\{__error__="SampleExtractionErr", [^']*service_name="uw"[^']*\}'\.\n/)
    expect(failing.text).not.toMatch(/\bms=/)
    // Lines without the label, or with it empty, give no sample and no error.
    const summed = await instantQuery('sum(sum_over_time({service_name="uw"} | json | unwrap ms | __error__="" [1h]))', { time }, headers)
    expect(summed.result.map((s) => s.value[1])).toEqual(['12'])
    // Grouped by __error__, the query answers; a value that did not convert is a sample of 0, as in Loki.
    const byError = await instantQuery('sum by (__error__) (sum_over_time({service_name="uw"} | json | unwrap ms [1h]))', { time }, headers)
    expect(Object.fromEntries(byError.result.map((s) => [s.metric.__error__ ?? '', s.value[1]]))).toEqual({ '': '12', SampleExtractionErr: '0' })
  })

  it("gives Loki's __error_details__: the Go converter's error for a label filter or unwrap, jsonparser's for a line that is no object", async () => {
    const tenant = 'error-details'
    const at = (i: number) => (START_NS + BigInt(50 + i) * NS).toString()
    const bodies = [
      JSON.stringify({ took: 'soon', size: 'big', n: 'abc' }),
      'plain text',
      '[1, 2]',
      JSON.stringify({ took: '5x', size: '12 zb', n: '1,5' }),
      '{"broken": ',
      JSON.stringify({ took: 'é"\n', n: 'x"\t' }),
      'a="x',
      JSON.stringify({ took: '2s', size: '2KB', n: '7' }),
      JSON.stringify({ size: 'huge' }),
    ]
    const rows = bodies.map((Body, i) => ({ id: `ed-${i}`, tenant, Timestamp: at(i), ObservedTimestamp: at(i), ServiceName: 'details', SeverityText: 'INFO', SeverityNumber: 9, Body }))
    await ch.client.insert({ table: `${DATABASE}.logs`, values: rows, format: 'JSONEachRow' })
    const headers = { 'X-Scope-OrgID': tenant }
    /** Kept lines: index in `bodies` → [__error__, __error_details__]. */
    const kept = async (pipeline: string) => {
      const found = await logQuery(`{service_name="details"} ${pipeline}`, { limit: 100 }, headers)
      return Object.fromEntries(found.result.flatMap((r) => r.values.map((v) => [bodies.indexOf(v[1]), [r.stream.__error__ ?? '', r.stream.__error_details__ ?? '']])))
    }
    // The texts as Go's strconv.ParseFloat, time.ParseDuration and go-humanize's ParseBytes print them.
    expect(await kept('| json | took > 1s')).toEqual({
      0: ['LabelFilterErr', 'time: invalid duration "soon"'],
      3: ['LabelFilterErr', 'time: unknown unit "x" in duration "5x"'],
      5: ['LabelFilterErr', 'time: invalid duration "\\xc3\\xa9\\"\\x0a"'],
      7: ['', ''],
    })
    expect(await kept('| json | size > 1KB')).toEqual({
      0: ['LabelFilterErr', 'strconv.ParseFloat: parsing "": invalid syntax'],
      3: ['LabelFilterErr', 'unhandled size name: zb'],
      7: ['', ''],
      8: ['LabelFilterErr', 'strconv.ParseFloat: parsing "": invalid syntax'],
    })
    expect(await kept('| json | n > 1')).toEqual({
      0: ['LabelFilterErr', 'strconv.ParseFloat: parsing "abc": invalid syntax'],
      3: ['LabelFilterErr', 'strconv.ParseFloat: parsing "1,5": invalid syntax'],
      5: ['LabelFilterErr', 'strconv.ParseFloat: parsing "x\\"\\t": invalid syntax'],
      7: ['', ''],
    })
    // A filter reads them; an earlier error keeps its own details.
    expect(Object.keys(await kept('| json | took > 1s | __error_details__=~"time: unknown unit.*"'))).toEqual(['3'])
    // | json: a line whose first token is no `{` (an array too) gets jsonparser's error; a line that
    // breaks off inside its object is marked without details. Its error replaces an earlier one.
    const notObject = "Value looks like object, but can't find closing '}' symbol"
    const parsed = await kept('| json')
    expect([1, 2, 4, 6].map((i) => parsed[i])).toEqual([['JSONParserErr', notObject], ['JSONParserErr', notObject], ['JSONParserErr', ''], ['JSONParserErr', notObject]])
    expect([0, 3, 5, 7].map((i) => parsed[i])).toEqual([['', ''], ['', ''], ['', ''], ['', '']])
    expect((await kept('| logfmt --strict | json'))[6]).toEqual(['JSONParserErr', notObject])
    expect((await kept('| unpack'))[1]).toEqual(['JSONParserErr', 'expecting json object(6), but it is not'])
    // drop with a matcher clears __error__ where it matches, as Loki resets it (the details stay).
    expect((await kept('| json | drop __error__="JSONParserErr"'))[1]).toEqual(['', notObject])
    expect((await kept('| json | drop __error__="LabelFilterErr"'))[1]).toEqual(['JSONParserErr', notObject])
    const time = (START_NS + 1800n * NS).toString()
    const cleared = await get('/loki/api/v1/query', { query: 'count_over_time({service_name="details"} | json | drop __error__=~"JSON.*" [1h])', time }, headers)
    expect(cleared.status, cleared.text).toBe(200)
    // unwrap: the converter's error, on the sample of 0 it gives (grouping by __error__ keeps the query from failing).
    const byDetails = await instantQuery('sum by (__error__, __error_details__) (sum_over_time({service_name="details"} | json | unwrap duration(took) | __error__!="" [1h]))', { time }, headers)
    expect(Object.fromEntries(byDetails.result.map((s) => [s.metric.__error_details__ ?? '', s.value[1]]))).toEqual({
      'time: invalid duration "soon"': '0',
      'time: unknown unit "x" in duration "5x"': '0',
      'time: invalid duration "\\xc3\\xa9\\"\\x0a"': '0',
    })
    // Counted with its details (after drop __error__), two values that Go refuses in the same words
    // (big, huge) are one series, as in Loki.
    const bySize = await instantQuery('count_over_time({service_name="details"} | json size | size > 1KB | drop __error__, size [1h])', { time }, headers)
    expect(bySize.result.map((s) => [s.metric.__error_details__ ?? '', s.value[1]]).sort()).toEqual([
      ['', '1'],
      ['strconv.ParseFloat: parsing "": invalid syntax', '2'],
      ['unhandled size name: zb', '1'],
    ])
  })

  it('compares numbers and durations in label filters after | json', async () => {
    const checkout = (...p: Pred[]) => rowsOf('default', service('checkout'), ...p)
    const labels = (f: FixtureRow) => ({ ...lineLabels(f.row), ...f.fields })
    const cases: [string, FixtureRow[]][] = [
      ['{service_name="checkout"} | json | status >= 500', checkout(field('status', (s) => Number(s) >= 500))],
      ['{service_name="checkout"} | json | duration > 1s', checkout(field('duration', (d) => seconds(d) > 1))],
      ['{service_name="checkout"} | json | status >= 400 and duration <= 250ms', checkout(field('status', (s) => Number(s) >= 400), field('duration', (d) => seconds(d) <= 0.25))],
      ['{service_name="checkout"} | json | method="POST" or status == 404', checkout((f) => f.fields.method === 'POST' || f.fields.status === '404')],
      ['{service_name="checkout"} | json | client_ip=~"10\\\\.0\\\\.0\\\\.[1-3]"', checkout(field('client_ip', (s) => /^10\.0\.0\.[1-3]$/.test(s)))],
    ]
    for (const [query, rows] of cases) {
      const data = await logQuery(query, { limit: 1000 })
      expect(entriesOf(data).length, query).toBe(rows.length)
      expectLines(data, rows, { labels })
    }
  })

  it('compares numbers and durations in label filters after | logfmt', async () => {
    const auth = (...p: Pred[]) => rowsOf('default', service('auth'), ...p)
    const labels = (f: FixtureRow) => ({ ...lineLabels(f.row), ...f.fields })
    const cases: [string, FixtureRow[]][] = [
      ['{service_name="auth"} | logfmt | status == 401 and latency >= 480ms', auth(field('status', (s) => s === '401'), field('latency', (d) => seconds(d) >= 0.48))],
      ['{service_name="auth"} | logfmt | latency > 1s', auth(field('latency', (d) => seconds(d) > 1))],
      ['{service_name="auth"} | logfmt | reason != "" | user =~ "u-1.*"', auth(field('reason', (s) => s !== ''), field('user', (s) => /^u-1.*$/.test(s)))],
    ]
    for (const [query, rows] of cases) {
      const data = await logQuery(query, { limit: 1000 })
      expect(entriesOf(data).length, query).toBe(rows.length)
      expectLines(data, rows, { labels })
    }
  })

  it('rewrites lines with line_format from stream labels and parsed fields, keeping their timestamps', async () => {
    const data = await logQuery('{service_name="checkout"} | json | status >= 500 | line_format "{{.level}} {{.method}} {{.path}} -> {{.status}}"', { limit: 1000 }, CATEGORIZE)
    expectCategorized(data, rowsOf('default', service('checkout'), field('status', (s) => Number(s) >= 500)), {
      parsed: (f) => f.fields,
      line: (f) => `${f.row.SeverityText.toLowerCase()} ${f.fields.method} ${f.fields.path} -> ${f.fields.status}`,
    })
  })

  it('runs template functions in line_format and label_format: pipes, nested calls, printf', async () => {
    const query =
      '{service_name="checkout"} | json | status >= 500 | label_format verb=`{{ .method | lower }}` | line_format `{{ printf "%s %s" (.level | upper) .verb }} {{ .path | trimPrefix "/" | trunc 6 | default "-" }}`'
    const data = await logQuery(query, { limit: 1000 }, CATEGORIZE)
    expectCategorized(data, rowsOf('default', service('checkout'), field('status', (s) => Number(s) >= 500)), {
      parsed: (f) => ({ ...f.fields, verb: f.fields.method!.toLowerCase() }),
      line: (f) => `${f.row.SeverityText.toUpperCase()} ${f.fields.method!.toLowerCase()} ${Buffer.from(f.fields.path!.replace(/^\//, '')).subarray(0, 6).toString() || '-'}`,
    })
  })

  it('filters by ip(): a line holding an address in a range, a label holding one outside a CIDR', async () => {
    const ipOf = (f: FixtureRow) => Number(f.fields.client_ip!.split('.')[3])
    const expected = rowsOf('default', service('checkout')).filter((f) => ipOf(f) >= 2 && ipOf(f) <= 4)
    expect(expected.length).toBeGreaterThan(0)
    expectLines(await logQuery('{service_name="checkout"} |= ip("10.0.0.2-10.0.0.4")', { limit: 1000 }), expected)
    const outside = await logQuery('{service_name="checkout"} | json | client_ip != ip("10.0.0.0/30")', { limit: 1000 }, CATEGORIZE)
    expectCategorized(outside, rowsOf('default', service('checkout')).filter((f) => ipOf(f) > 3), { parsed: (f) => f.fields })
    expectBadRequest(await queryRange('{service_name="checkout"} |= ip("10.0.0.0/40")'), /not an IP address, range/)
  })

  it('prints each line\'s own time with __timestamp__ in line_format', async () => {
    const data = await logQuery('{service_name="worker"} | line_format `{{ __timestamp__ | date "2006-01-02T15:04:05.000Z07:00" }} {{ __line__ }}`', { limit: 1000 })
    const iso = (ns: bigint) => new Date(Number(ns / 1_000_000n)).toISOString()
    expectLines(data, rowsOf('default', service('worker')), { line: (f) => `${iso(f.ts)} ${f.row.Body}` })
  })

  it('answers the README\'s line_format example: a time, aligned columns, a condition, an ip() filter', async () => {
    const query = '{service_name="checkout"} | json | client_ip = ip("10.0.0.0/8") | line_format `{{ __timestamp__ | date "15:04:05.000" }} {{ printf "%-6s" (.method | upper) }} {{ .path | trunc 30 }}{{ if ge .status "500" }} FAILED{{ end }}`'
    const data = await logQuery(query, { limit: 1000 }, CATEGORIZE)
    const time = (ns: bigint) => new Date(Number(ns / 1_000_000n)).toISOString().slice(11, 23)
    expectCategorized(data, rowsOf('default', service('checkout')), {
      parsed: (f) => f.fields,
      line: (f) => `${time(f.ts)} ${f.fields.method!.toUpperCase().padEnd(6)} ${f.fields.path!.slice(0, 30)}${f.fields.status! >= '500' ? ' FAILED' : ''}`,
    })
  })

  it('keeps a line whose template fails as it was, marked __error__=TemplateFormatErr, as Loki does', async () => {
    const worker = rowsOf('default', service('worker'))
    const failing = await logQuery('{service_name="worker"} | line_format `{{ unixToTime .level | date "2006" }}`', { limit: 1000 })
    expectLines(failing, worker, { labels: (f) => ({ ...lineLabels(f.row), __error__: 'TemplateFormatErr' }) })
    expect(entriesOf(await logQuery('{service_name="worker"} | line_format `{{ unixToTime .level | date "2006" }}` | __error__=""', { limit: 1000 }))).toEqual([])
    // label_format: the label is not set, or keeps what it had.
    const labelled = await logQuery('{service_name="worker"} | label_format lvl=`{{ .level | upper }}` | label_format when=`{{ unixToTime .level }}`, lvl=`{{ unixToTime .level }}` | keep service_name, lvl, when, __error__', { limit: 1000 })
    expectLines(labelled, worker, { labels: (f) => ({ service_name: 'worker', lvl: f.row.SeverityText.toUpperCase(), __error__: 'TemplateFormatErr' }) })
  })

  it('drops parsed fields and structured metadata named in | drop', async () => {
    const data = await logQuery('{service_name="checkout"} | json | drop client_ip, size, trace_id, span_id', { limit: 1000 }, CATEGORIZE)
    expectCategorized(data, rowsOf('default', service('checkout')), {
      parsed: (f) => omitLabels(f.fields, ['client_ip', 'size']),
      metadata: (f) => omitLabels(structuredMetadata(f.row), ['trace_id', 'span_id']),
    })
  })

  it('keeps only the labels named in | keep, so streams merge by them', async () => {
    const data = await logQuery('{service_name="checkout"} | keep service_name, level', { limit: 1000 })
    const rows = rowsOf('default', service('checkout'))
    expectLines(data, rows, { labels: (f) => pickLabels(lineLabels(f.row), ['service_name', 'level']) })
    expect(data.result.length).toBe(distinct(rows.map((f) => f.row.SeverityText)).length)
  })

  it("answers Drilldown's logs panel query: | json | logfmt | drop __error__, __error_details__", async () => {
    const data = await logQuery('{service_name=`checkout`} | json | logfmt | drop __error__, __error_details__', { limit: 1000 }, CATEGORIZE)
    const rows = rowsOf('default', service('checkout'))
    const entries = entriesOf(data)
    expect(entries.map((e) => [e.ts, e.line])).toEqual([...rows].sort(byTsDesc).map((f) => [f.ts.toString(), f.row.Body]))
    const byTs = new Map(rows.map((f) => [f.ts.toString(), f]))
    for (const e of entries) {
      const f = byTs.get(e.ts)!
      expect(e.stream).toEqual(streamLabels(f.row))
      expect(e.meta?.structuredMetadata).toEqual(structuredMetadata(f.row))
      expect(e.meta?.parsed).toMatchObject(f.fields)
      const names = Object.keys({ ...e.stream, ...e.meta?.structuredMetadata, ...e.meta?.parsed })
      expect(names).not.toContain('__error__')
      expect(names).not.toContain('__error_details__')
    }
  })

  it('accepts start and end as nanosecond epochs, RFC 3339, unix seconds and float seconds alike', async () => {
    const from = win.windowStartS + 600
    const to = win.windowEndS - 600
    const expected = rowsOf('default', service('auth'), between(BigInt(from) * NS, BigInt(to) * NS))
    const forms: Params[] = [
      { start: (BigInt(from) * NS).toString(), end: (BigInt(to) * NS).toString() },
      { start: new Date(from * 1000).toISOString(), end: new Date(to * 1000).toISOString() },
      { start: String(from), end: String(to) },
      { start: `${from}.0`, end: `${to}.000` },
    ]
    for (const times of forms) expectLines(await logQuery('{service_name="auth"}', { limit: 1000, ...times }), expected)
  })

  it('selects start inclusive and end exclusive', async () => {
    const worker = limited(rowsOf('default', service('worker')), 1000, 'forward')
    const first = worker[5]!
    const last = worker[15]!
    const data = await logQuery('{service_name="worker"}', { limit: 1000, start: first.ts.toString(), end: last.ts.toString() })
    expectLines(data, rowsOf('default', service('worker'), between(first.ts, last.ts)))
  })

  it('defaults to the last hour without start and end, and takes `since` back from `end`', async () => {
    const all = await parse(await get('/loki/api/v1/query_range', { query: '{service_name="worker"}', limit: 1000 }), streamsReply)
    expectLines(all.data, rowsOf('default', service('worker')))
    const since = await parse(await get('/loki/api/v1/query_range', { query: '{service_name="worker"}', limit: 1000, end: RANGE.end, since: '10m' }), streamsReply)
    expectLines(since.data, rowsOf('default', service('worker'), between(END_NS - 600n * NS, END_NS)))
  })
})

describe('metric queries: /loki/api/v1/query_range → matrix, /loki/api/v1/query → vector', () => {
  it("answers Explore's log volume query: sum by (level, detected_level) (count_over_time(… | drop __error__ [1m]))", async () => {
    const data = await matrixQuery('sum by (level, detected_level) (count_over_time({service_name="checkout"} | drop __error__[1m]))', { step: 60 }, { 'X-Query-Tags': 'Source=logvolhist' })
    const rows = rowsOf('default', service('checkout'))
    const lv = (f: FixtureRow) => ({ level: f.row.SeverityText.toLowerCase(), detected_level: f.row.SeverityText.toLowerCase() })
    expect(matrixView(data.result, 'exact')).toEqual(expectedMatrix(evalRange(rows, { ...fixtureRange, stepS: 60, rangeS: 60, group: lv, reduce: count }), 'exact'))
  })

  it('keeps every stream label and structured metadata as series labels of count_over_time, unless | keep narrows them', async () => {
    // Loki's structured metadata page: "structured metadata is extracted automatically to the
    // results labels" of metric queries; its own example narrows them with `| keep`.
    const worker = rowsOf('default', service('worker'))
    const data = await matrixQuery('count_over_time({service_name="worker"}[5m])')
    const expected = evalRange(worker, { ...fixtureRange, stepS: 60, rangeS: 300, group: (f) => lineLabels(f.row), reduce: count })
    expect(matrixView(data.result, 'exact')).toEqual(expectedMatrix(expected, 'exact'))
    const kept = await matrixQuery('count_over_time({service_name="worker"} |= "failed" | keep service_name [5m])')
    const failed = worker.filter((f) => f.row.Body.includes('failed'))
    expect(matrixView(kept.result, 'exact')).toEqual(
      expectedMatrix(evalRange(failed, { ...fixtureRange, stepS: 60, rangeS: 300, group: () => ({ service_name: 'worker' }), reduce: count }), 'exact'),
    )
  })

  it('computes rate as the count per second of the range', async () => {
    const data = await matrixQuery('sum by (service_name) (rate({service_name=~"checkout|auth"}[5m]))')
    const rows = rowsOf('default', service('checkout', 'auth'))
    const expected = evalRange(rows, { ...fixtureRange, stepS: 60, rangeS: 300, group: (f) => ({ service_name: f.service }), reduce: (r) => r.length / 300 })
    expect(matrixView(data.result, 'close')).toEqual(expectedMatrix(expected, 'close'))
  })

  it('answers absent_over_time with 1 at the steps whose range holds no line, labelled by the selector\'s = matchers (alerting on logs that stop)', async () => {
    const failed = rowsOf('default', service('worker')).filter((f) => f.row.Body.includes('failed'))
    const present = evalRange(failed, { ...fixtureRange, stepS: 60, rangeS: 300, group: () => ({}), reduce: count })
    const hit = new Set(present.get(labelsKey({}))?.points.keys() ?? [])
    const steps: number[] = []
    for (let t = fixtureRange.startS; t <= fixtureRange.endS; t += 60) steps.push(t)
    const gaps = steps.filter((t) => !hit.has(t))
    expect(gaps.length, 'the fixture has 5-minute windows with and without a failed worker line').toBeGreaterThan(0)
    expect(gaps.length).toBeLessThan(steps.length)
    // level is matched by a regex: not a label of the answer.
    const data = await matrixQuery('absent_over_time({service_name="worker", level=~".+"} |= "failed" [5m])')
    expect(matrixView(data.result, 'exact')).toEqual({ [labelsKey({ service_name: 'worker' })]: gaps.map((t) => [t, '1']) })
    // No line at all: 1 at every step; lines in every window: no series.
    const none = await matrixQuery('absent_over_time({service_name="no-such-service"}[5m])')
    expect(matrixView(none.result, 'exact')).toEqual({ [labelsKey({ service_name: 'no-such-service' })]: steps.map((t) => [t, '1']) })
    expect((await matrixQuery('absent_over_time({service_name=~".+"}[1h])', { start: (BigInt(fixtureRange.endS - 600) * NS).toString() })).result).toEqual([])
    expect(vectorView((await instantQuery('absent_over_time({service_name="no-such-service"}[5m])')).result, 'exact')).toEqual({ [labelsKey({ service_name: 'no-such-service' })]: '1' })
    expect((await instantQuery('absent_over_time({service_name="worker"}[1h])')).result).toEqual([])
  })

  it('computes bytes_over_time as the UTF-8 bytes of the lines', async () => {
    const data = await matrixQuery('sum by (service_name) (bytes_over_time({k8s_namespace_name=~"shop|jobs"}[5m]))')
    const rows = rowsOf('default', service('checkout', 'worker'))
    expect(rows.some((f) => lineBytes(f.row) !== f.row.Body.length), 'the fixture has multi-byte characters').toBe(true)
    const expected = evalRange(rows, { ...fixtureRange, stepS: 60, rangeS: 300, group: (f) => ({ service_name: f.service }), reduce: (r) => sum(r.map((f) => lineBytes(f.row))) })
    expect(matrixView(data.result, 'exact')).toEqual(expectedMatrix(expected, 'exact'))
  })

  it("answers Drilldown's field breakdown: sum by (status) (count_over_time(… | json | logfmt | drop … | status!=\"\" [5m]))", async () => {
    const data = await matrixQuery('sum by (status) (count_over_time({service_name=`checkout`} | json | logfmt | drop __error__, __error_details__ | status!="" [5m]))', { step: 300 })
    const expected = evalRange(rowsOf('default', service('checkout')), { ...fixtureRange, stepS: 300, rangeS: 300, group: (f) => ({ status: f.fields.status! }), reduce: count })
    expect(matrixView(data.result, 'exact')).toEqual(expectedMatrix(expected, 'exact'))
  })

  it('extracts with json parameters (| json ip="client.ip") and groups by the extracted label', async () => {
    const data = await matrixQuery('sum by (ip) (count_over_time({service_name="checkout"} | json ip="client.ip" | drop __error__, __error_details__ | ip!="" [5m]))', { step: 300 })
    const expected = evalRange(rowsOf('default', service('checkout')), { ...fixtureRange, stepS: 300, rangeS: 300, group: (f) => ({ ip: f.fields.client_ip! }), reduce: count })
    expect(matrixView(data.result, 'exact')).toEqual(expectedMatrix(expected, 'exact'))
  })

  it("answers Drilldown's label breakdown: sum(count_over_time({…, host!=\"\"} [5m])) by (host)", async () => {
    const data = await matrixQuery('sum(count_over_time({service_name=~".+", host!=""} [5m])) by (host)', { step: 300 })
    const rows = rowsOf('default', (f) => f.row.HostName !== '')
    const expected = evalRange(rows, { ...fixtureRange, stepS: 300, rangeS: 300, group: (f) => ({ host: f.row.HostName }), reduce: count })
    expect(matrixView(data.result, 'exact')).toEqual(expectedMatrix(expected, 'exact'))
  })

  it('averages and maximises unwrapped values per group (avg_over_time of a duration, max_over_time of a number)', async () => {
    const rows = rowsOf('default', service('checkout'))
    const avg = await instantQuery('avg_over_time({service_name="checkout"} | json | unwrap duration(duration) [10m]) by (service_name)')
    expect(vectorView(avg.result, 'close')).toEqual(
      expectedVector(rows, 600, () => ({ service_name: 'checkout' }), (r) => sum(r.map((f) => seconds(f.fields.duration))) / r.length, 'close'),
    )
    const max = await instantQuery('max_over_time({service_name="checkout"} | json | unwrap status | __error__="" [10m]) by (path)')
    expect(vectorView(max.result, 'exact')).toEqual(expectedVector(rows, 600, (f) => ({ path: f.fields.path! }), (r) => Math.max(...r.map((f) => Number(f.fields.status))), 'exact'))
  })

  it("answers Drilldown's numeric field panels: avg_over_time(… | unwrap duration(x) / bytes(x) / x | __error__=\"\" [5m]) by ()", async () => {
    const avgOf = (values: number[]) => sum(values) / values.length
    const cases: [string, FixtureRow[], (f: FixtureRow) => number, Headers][] = [
      [
        'avg_over_time({service_name="checkout"} | json | drop __error__, __error_details__ | duration!="" | unwrap duration(duration) | __error__="" [5m]) by ()',
        rowsOf('default', service('checkout')),
        (f) => seconds(f.fields.duration),
        {},
      ],
      [
        'avg_over_time({service_name="checkout"} | json | drop __error__, __error_details__ | size!="" | unwrap bytes(size) | __error__="" [5m]) by ()',
        rowsOf('default', service('checkout')),
        (f) => bytesValue(f.fields.size ?? '') ?? NaN,
        {},
      ],
      [
        'avg_over_time({service_name="billing"} | logfmt | drop __error__, __error_details__ | amount!="" | unwrap amount | __error__="" [5m]) by ()',
        rowsOf('acme', service('billing')),
        (f) => Number(f.fields.amount),
        ACME,
      ],
    ]
    for (const [query, rows, value, headers] of cases) {
      const data = await matrixQuery(query, { step: 300 }, headers)
      const expected = evalRange(rows, { ...fixtureRange, stepS: 300, rangeS: 300, group: () => ({}), reduce: (r) => avgOf(r.map(value)) })
      expect(matrixView(data.result, 'close'), query).toEqual(expectedMatrix(expected, 'close'))
    }
  })

  it('computes quantile_over_time of an unwrapped logfmt duration as Prometheus does', async () => {
    const data = await matrixQuery('quantile_over_time(0.9, {service_name="auth"} | logfmt | unwrap duration(latency) | __error__="" [10m]) by (service_name)', { step: 300 })
    const expected = evalRange(rowsOf('default', service('auth')), {
      ...fixtureRange,
      stepS: 300,
      rangeS: 600,
      group: () => ({ service_name: 'auth' }),
      reduce: (r) => quantile(0.9, r.map((f) => seconds(f.fields.latency))),
    })
    expect(matrixView(data.result, 'close')).toEqual(expectedMatrix(expected, 'close'))
  })

  it('keeps the k largest series with topk', async () => {
    const data = await instantQuery('topk(2, sum by (service_name) (count_over_time({service_name=~".+"}[30m])))')
    const counts = expectedVector(rowsOf('default'), 1800, (f) => ({ service_name: f.service }), count, 'exact')
    const ranked = Object.entries(counts).sort(([, a], [, b]) => Number(b) - Number(a))
    expect(Number(ranked[1]![1]), 'no tie at the cut').toBeGreaterThan(Number(ranked[2]![1]))
    expect(vectorView(data.result, 'exact')).toEqual(Object.fromEntries(ranked.slice(0, 2)))
  })

  it('answers approx_topk as an instant query, exactly; a range query is a 400 naming it', async () => {
    const query = 'approx_topk(2, sum by (service_name) (count_over_time({service_name=~".+"}[30m])))'
    const data = await instantQuery(query)
    const counts = expectedVector(rowsOf('default'), 1800, (f) => ({ service_name: f.service }), count, 'exact')
    const ranked = Object.entries(counts).sort(([, a], [, b]) => Number(b) - Number(a))
    expect(vectorView(data.result, 'exact')).toEqual(Object.fromEntries(ranked.slice(0, 2)))
    const range = await get('/loki/api/v1/query_range', { query, start: (BigInt(T_S - 3600) * NS).toString(), end: (BigInt(T_S) * NS).toString(), step: '60' })
    expect(range.status).toBe(400)
    expect(range.text).toBe('approx_topk error: count min sketches are only supported on instant queries')
  })

  it('scales series by a scalar and filters them with a comparison', async () => {
    const rows = rowsOf('default', service('checkout'))
    const byLevel = (f: FixtureRow) => ({ level: f.row.SeverityText.toLowerCase() })
    const doubled = await matrixQuery('sum by (level) (count_over_time({service_name="checkout"}[5m])) * 2')
    expect(matrixView(doubled.result, 'exact')).toEqual(expectedMatrix(evalRange(rows, { ...fixtureRange, stepS: 60, rangeS: 300, group: byLevel, reduce: (r) => 2 * r.length }), 'exact'))
    const above = await matrixQuery('sum by (level) (count_over_time({service_name="checkout"}[5m])) > 3')
    const expected = evalRange(rows, { ...fixtureRange, stepS: 60, rangeS: 300, group: byLevel, reduce: (r) => (r.length > 3 ? r.length : undefined) })
    expect(matrixView(above.result, 'exact')).toEqual(expectedMatrix(expected, 'exact'))
  })

  it('relabels with label_replace as Prometheus does: Go regexes, a whole-value match, $$ and groups that are not there', async () => {
    const plain = await instantQuery('sum by (level) (count_over_time({service_name="checkout"}[1h]))')
    const data = await instantQuery('label_replace(sum by (level) (count_over_time({service_name="checkout"}[1h])), "tier", "$$${kind}-$1$9", "level", "(?i)(E)(?P<kind>RROR)")')
    expect(plain.result.some((s) => s.metric.level === 'error'), 'the fixture has checkout errors').toBe(true)
    // (?i) and (?P<name>…) are Go's (JavaScript refused the first); "errors" would not match whole.
    const tiers = (r: VectorData['result']) => Object.fromEntries(r.map((s) => [s.metric.level, [s.metric.tier ?? null, s.value[1]]]))
    expect(tiers(data.result)).toEqual(Object.fromEntries(plain.result.map((s) => [s.metric.level, [s.metric.level === 'error' ? '$rror-e' : null, s.value[1]]])))
  })

  it('drops and keeps labels by Go regexes', async () => {
    // (?i) was a 500 (JavaScript's RegExp refused it); [[:alpha:]] a character class of its letters.
    const dropped = await logQuery('{service_name="checkout"} | drop level=~"(?i)ERROR"', { ...RANGE, limit: '1000' })
    const all = await logQuery('{service_name="checkout"}', { ...RANGE, limit: '1000' })
    const levels = (d: StreamsData) => d.result.flatMap((s) => s.values.map(() => s.stream.level ?? null)).sort()
    expect(levels(dropped)).toEqual(levels(all).map((l) => (l === 'error' ? null : l)).sort())
    const kept = await logQuery('{service_name="checkout"} | keep level=~"[[:alpha:]]+"', { ...RANGE, limit: '1000' })
    expect(kept.result.every((s) => Object.keys(s.stream).length === 1 && /^[a-z]+$/.test(s.stream.level!)), JSON.stringify(kept.result[0]?.stream)).toBe(true)
  })

  it('divides one aggregation by another (an error ratio)', async () => {
    const data = await matrixQuery('sum(count_over_time({service_name="checkout", level="error"}[5m])) / sum(count_over_time({service_name="checkout"}[5m]))')
    const rows = rowsOf('default', service('checkout'))
    const expected = evalRange(rows, {
      ...fixtureRange,
      stepS: 60,
      rangeS: 300,
      group: () => ({}),
      reduce: (r) => {
        const errors = r.filter(level('error')).length
        return errors === 0 ? undefined : errors / r.length
      },
    })
    expect(matrixView(data.result, 'close')).toEqual(expectedMatrix(expected, 'close'))
  })

  it('answers an instant query with a vector evaluated at `time`', async () => {
    const data = await instantQuery('sum by (level) (count_over_time({service_name="worker"}[10m]))')
    expect(data.stats).toBeTypeOf('object')
    expect(vectorView(data.result, 'exact')).toEqual(expectedVector(rowsOf('default', service('worker')), 600, (f) => ({ level: f.row.SeverityText.toLowerCase() }), count, 'exact'))
  })

  it('accepts step as seconds or a duration alike', async () => {
    const query = 'sum(count_over_time({service_name="auth"}[1m]))'
    const expected = expectedMatrix(evalRange(rowsOf('default', service('auth')), { ...fixtureRange, stepS: 60, rangeS: 60, group: () => ({}), reduce: count }), 'exact')
    for (const step of ['60', '60s', '1m']) expect(matrixView((await matrixQuery(query, { step })).result, 'exact'), `step=${step}`).toEqual(expected)
  })

  it("answers Grafana's data source health check: vector(1)+vector(1) is 2", async () => {
    // Grafana's check sends an instant query over 1970-01-01T00:00:01Z..04Z, time as nanoseconds.
    const reply = await get('/loki/api/v1/query', { query: 'vector(1)+vector(1)', time: '4000000000', direction: 'backward' })
    const data = parse(reply, vectorReply).data
    expect(data.result.map((s) => [s.metric, s.value[1]])).toEqual([[{}, '2']])
  })

  it('answers a scalar expression with resultType scalar', async () => {
    const data = parse(await get('/loki/api/v1/query', { query: '2 * 3', time: (BigInt(T_S) * NS).toString() }), scalarReply).data
    expect(data.result).toEqual([T_S, '6'])
  })
})

describe('label browser and index endpoints', () => {
  it("lists the tenant's stream label names for the range, narrowed by query", async () => {
    const names = (rows: FixtureRow[]) => distinct(rows.flatMap((f) => Object.keys(streamLabels(f.row))))
    const dflt = parse(await get('/loki/api/v1/labels', RANGE), stringListReply).data
    expect(dflt).toEqual(expect.arrayContaining(names(rowsOf('default'))))
    expect(dflt).not.toContain('cloud_region')
    const acme = parse(await get('/loki/api/v1/labels', RANGE, ACME), stringListReply).data
    expect(acme).toEqual(expect.arrayContaining(names(rowsOf('acme'))))
    expect(acme).not.toContain('k8s_namespace_name')
    const worker = parse(await get('/loki/api/v1/labels', { ...RANGE, query: '{service_name="worker"}' }), stringListReply).data
    expect(worker).toEqual(expect.arrayContaining(names(rowsOf('default', service('worker')))))
    expect(worker).not.toContain('host')
    expect(worker).not.toContain('deployment_environment')
  })

  it("lists a label's values for the range and tenant, narrowed by query, without empty values", async () => {
    const values = async (name: string, params: Params = {}, headers: Headers = {}) =>
      sortStrings(parse(await get(`/loki/api/v1/label/${name}/values`, { ...RANGE, ...params }, headers), stringListReply).data)
    expect(await values('service_name')).toEqual(sortStrings(distinct(rowsOf('default').map((f) => f.service))))
    expect(await values('service_name', {}, ACME)).toEqual(sortStrings(distinct(rowsOf('acme').map((f) => f.service))))
    expect(await values('level', { query: '{service_name="worker"}' })).toEqual(sortStrings(distinct(rowsOf('default', service('worker')).map((f) => f.row.SeverityText.toLowerCase()))))
    expect(await values('host')).toEqual(sortStrings(distinct(rowsOf('default', (f) => f.row.HostName !== '').map((f) => f.row.HostName))))
    const prod = rowsOf('default', (f) => f.row.ResourceAttributes['deployment.environment'] === 'prod')
    expect(await values('k8s_namespace_name', { query: '{deployment_environment="prod"}' })).toEqual(sortStrings(distinct(prod.map((f) => f.row.ResourceAttributes['k8s.namespace.name']!))))
  })

  it('lists the distinct stream label sets matching any match[] (GET, and POST form-encoded)', async () => {
    const match = ['{service_name="worker"}', '{service_name="auth", level="warn"}']
    const expected = sortStrings(distinct(rowsOf('default', (f) => f.service === 'worker' || (f.service === 'auth' && f.row.SeverityText === 'WARN')).map((f) => labelsKey(streamLabels(f.row)))))
    const viaGet = parse(await get('/loki/api/v1/series', { 'match[]': match, ...RANGE }), seriesReply).data
    expect(sortStrings(viaGet.map(labelsKey))).toEqual(expected)
    const viaPost = parse(await postForm('/loki/api/v1/series', { 'match[]': match, ...RANGE }), seriesReply).data
    expect(sortStrings(viaPost.map(labelsKey))).toEqual(expected)
  })

  it('answers its read endpoints for a POSTed form as for GET; a JSON body or a compressed one is a 415 naming it', async () => {
    // Label values, the index, the Drilldown endpoints and format_query answered POST with a 404.
    const asked: [string, Params][] = [
      ['/loki/api/v1/label/service_name/values', RANGE],
      ['/loki/api/v1/index/stats', { query: '{service_name="checkout"}', ...RANGE }],
      ['/loki/api/v1/index/volume', { query: '{service_name=~".+"}', ...RANGE }],
      ['/loki/api/v1/index/volume_range', { query: '{service_name=~".+"}', ...RANGE, step: '60' }],
      ['/loki/api/v1/patterns', { query: '{service_name="worker"}', ...RANGE }],
      ['/loki/api/v1/detected_labels', { query: '{service_name="checkout"}', ...RANGE }],
      ['/loki/api/v1/detected_fields', { query: '{service_name="checkout"}', ...RANGE }],
      ['/loki/api/v1/format_query', { query: '{service_name="checkout"}|="x"' }],
    ]
    for (const [path, params] of asked) {
      const viaGet = await get(path, params)
      const viaPost = await postForm(path, params)
      expect([viaPost.status, viaPost.text], path).toEqual([200, viaGet.text])
    }
    // A JSON body was read as parameters of any JSON type: {"query":5} was a 500.
    const json = await fetch(`${baseUrl}/loki/api/v1/query_range`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":5}' })
    expect([json.status, await json.text()]).toEqual([415, expect.stringMatching(/application\/json/)])
    // A gzip body was parsed as if it were plain (a form's parameters went missing).
    const gzip = await fetch(`${baseUrl}/loki/api/v1/series`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-encoding': 'gzip' }, body: gzipSync(encode({ 'match[]': '{service_name="worker"}' }).toString()) })
    expect([gzip.status, await gzip.text()]).toEqual([415, 'request Content-Encoding gzip is not supported: send the body uncompressed'])
  })

  it('counts streams, entries and bytes of a selector for /index/stats', async () => {
    const expectStats = async (query: string, rows: FixtureRow[], headers: Headers = {}) => {
      const body = parse(await get('/loki/api/v1/index/stats', { query, ...RANGE }, headers), indexStats)
      expect({ streams: body.streams, entries: body.entries, bytes: body.bytes }, query).toEqual({
        streams: distinct(rows.map((f) => labelsKey(streamLabels(f.row)))).length,
        entries: rows.length,
        bytes: sum(rows.map((f) => lineBytes(f.row))),
      })
      expect(Number.isInteger(body.chunks) && body.chunks >= 0).toBe(true)
    }
    await expectStats('{service_name="checkout"}', rowsOf('default', service('checkout')))
    await expectStats('{service_name=~".+"}', rowsOf('acme'), ACME)
    // As Loki: the index endpoints take label matchers alone (they used to answer as if the filter were not there).
    for (const path of ['/loki/api/v1/index/stats', '/loki/api/v1/index/volume', '/loki/api/v1/index/volume_range']) {
      const r = await get(path, { query: '{service_name="checkout"} |= "zzzz-no-such-text"', ...RANGE })
      expect([r.status, r.text], path).toEqual([400, 'only label matchers are supported'])
    }
  })

  it("answers Drilldown's service list: /index/volume gives bytes per service, largest first, cut at limit", async () => {
    const bytes = new Map<string, number>()
    for (const f of rowsOf('default')) bytes.set(f.service, (bytes.get(f.service) ?? 0) + lineBytes(f.row))
    const ranked = [...bytes].sort(([, a], [, b]) => b - a)
    const all = parse(await get('/loki/api/v1/index/volume', { query: '{service_name=~".+"}', ...RANGE, limit: 100 }), volumeReply).data
    expect(all.result.map((s) => [s.metric, s.value[1]])).toEqual(ranked.map(([s, b]) => [{ service_name: s }, String(b)]))
    const top = parse(await get('/loki/api/v1/index/volume', { query: '{service_name=~".+"}', ...RANGE, limit: 2 }), volumeReply).data
    expect(top.result.map((s) => [s.metric, s.value[1]])).toEqual(ranked.slice(0, 2).map(([s, b]) => [{ service_name: s }, String(b)]))
  })

  it('groups /index/volume by every label the selector names, or by targetLabels', async () => {
    const volumes = (rows: FixtureRow[], group: (f: FixtureRow) => Labels) => {
      const m = new Map<string, number>()
      for (const f of rows) m.set(labelsKey(group(f)), (m.get(labelsKey(group(f))) ?? 0) + lineBytes(f.row))
      return Object.fromEntries([...m].map(([k, v]) => [k, String(v)]))
    }
    const view = (result: { metric: Labels; value: [number, string] }[]) => Object.fromEntries(result.map((s) => [labelsKey(s.metric), s.value[1]]))
    const bySelector = parse(await get('/loki/api/v1/index/volume', { query: '{service_name="checkout", level=~"warn|error"}', ...RANGE }), volumeReply).data
    expect(view(bySelector.result)).toEqual(volumes(rowsOf('default', service('checkout'), level('warn', 'error')), (f) => pickLabels(streamLabels(f.row), ['service_name', 'level'])))
    const byTarget = parse(await get('/loki/api/v1/index/volume', { query: '{service_name=~"checkout|auth"}', ...RANGE, targetLabels: 'host' }), volumeReply).data
    expect(view(byTarget.result)).toEqual(volumes(rowsOf('default', service('checkout', 'auth')), (f) => ({ host: f.row.HostName })))
  })

  it('totals /index/volume by label name with aggregateBy=labels (values "")', async () => {
    const total = (rows: FixtureRow[]) => String(sum(rows.map((f) => lineBytes(f.row))))
    const named = parse(await get('/loki/api/v1/index/volume', { query: '{service_name=~".+"}', ...RANGE, aggregateBy: 'labels' }), volumeReply).data
    expect(named.result.map((s) => [s.metric, s.value[1]])).toEqual([[{ service_name: '' }, total(rowsOf('default'))]])
    const host = parse(await get('/loki/api/v1/index/volume', { query: '{service_name=~".+"}', ...RANGE, aggregateBy: 'labels', targetLabels: 'host' }), volumeReply).data
    expect(host.result.map((s) => [s.metric, s.value[1]])).toEqual([[{ host: '' }, total(rowsOf('default', (f) => f.row.HostName !== ''))]])
  })

  it('answers /index/volume_range with a matrix whose points add up to each series\' volume', async () => {
    const data = parse(await get('/loki/api/v1/index/volume_range', { query: '{service_name=~".+"}', ...RANGE, step: '10m' }), volumeRangeReply).data
    const totals = Object.fromEntries(data.result.map((s) => [s.metric.service_name ?? '?', sum(s.values.map(([, v]) => Number(v)))]))
    const expected: Record<string, number> = {}
    for (const f of rowsOf('default')) expected[f.service] = (expected[f.service] ?? 0) + lineBytes(f.row)
    expect(totals).toEqual(expected)
    for (const s of data.result) {
      expect(Object.keys(s.metric)).toEqual(['service_name'])
      for (const [t] of s.values) {
        expect(t).toBeGreaterThanOrEqual(win.windowStartS)
        expect(t).toBeLessThanOrEqual(win.windowEndS)
        expect((t - win.windowStartS) % 600).toBe(0)
      }
    }
  })

  it('answers /patterns with the templates of the selection as <_> patterns and their count per step', async () => {
    const stepS = 300
    const data = parse(await get('/loki/api/v1/patterns', { query: '{service_name="worker"}', ...RANGE, step: '5m' }), patternsReply).data
    const expected: Record<string, [number, number][]> = {}
    for (const f of rowsOf('default', service('worker'), (r) => r.row.Template !== '')) {
      const bucket = Math.floor(Number(f.ts / NS) / stepS) * stepS
      const samples = (expected[lokiPattern(f.row.Template)] ??= [])
      const s = samples.find(([t]) => t === bucket)
      if (s) s[1]++
      else samples.push([bucket, 1])
    }
    const actual = Object.fromEntries(data.map((p) => [p.pattern, [...p.samples].sort(([a], [b]) => a - b)]))
    expect(data.length, 'a pattern appears once').toBe(Object.keys(actual).length)
    expect(actual).toEqual(Object.fromEntries(Object.entries(expected).map(([p, s]) => [p, s.sort(([a], [b]) => a - b)])))
  })

  it('answers /detected_labels with the labels of the selection and their cardinality', async () => {
    const rows = rowsOf('default', service('checkout'))
    const body = parse(await get('/loki/api/v1/detected_labels', { query: '{service_name="checkout"}', ...RANGE }), detectedLabelsReply)
    const cardinality = (name: string) => distinct(rows.map((f) => lineLabels(f.row)[name]).filter((v): v is string => v !== undefined && v !== '')).length
    for (const l of body.detectedLabels) expect(l.cardinality, l.label).toBe(cardinality(l.label))
    const many = distinct(rows.flatMap((f) => Object.keys(streamLabels(f.row)))).filter((n) => cardinality(n) > 1)
    expect(many.length).toBeGreaterThan(0)
    expect(body.detectedLabels.map((l) => l.label)).toEqual(expect.arrayContaining(many))
  })

  it('answers /detected_fields with parsed fields and structured metadata: type, cardinality and parser', async () => {
    const expectFields = async (query: string, rows: FixtureRow[], parser: 'json' | 'logfmt', headers: Headers = {}) => {
      const body = parse(await get('/loki/api/v1/detected_fields', { query, ...RANGE, limit: 1000 }, headers), detectedFieldsReply)
      expect(body.limit).toBeGreaterThan(0)
      const summary = (values: string[], parsers: string[] | null) => ({ type: detectedType(distinct(values)), cardinality: distinct(values).length, parsers })
      const expected: Record<string, { type: string; cardinality: number; parsers: string[] | null }> = {}
      for (const name of distinct(rows.flatMap((f) => Object.keys(f.fields))))
        expected[name] = summary(rows.map((f) => f.fields[name]).filter((v): v is string => v !== undefined), [parser])
      for (const name of distinct(rows.flatMap((f) => Object.keys(structuredMetadata(f.row)))))
        expected[name] = summary(rows.map((f) => structuredMetadata(f.row)[name]).filter((v): v is string => v !== undefined), null)
      const actual = Object.fromEntries(body.fields.map((f) => [f.label, { type: f.type, cardinality: f.cardinality, parsers: f.parsers }]))
      expect(actual).toMatchObject(expected)
      const streamNames = distinct(rows.flatMap((f) => Object.keys(streamLabels(f.row))))
      expect(Object.keys(actual).filter((n) => streamNames.includes(n)), 'stream labels are not fields').toEqual([])
      // Drilldown builds `| json name="path"` from jsonPath when the answer carries one (Loki 3.5+).
      for (const f of body.fields) {
        const path = rows.find((r) => r.jsonPaths?.[f.label])?.jsonPaths?.[f.label]
        if (path && f.jsonPath !== undefined) expect(f.jsonPath, f.label).toEqual(path)
      }
    }
    await expectFields('{service_name="checkout"}', rowsOf('default', service('checkout')), 'json')
    await expectFields('{service_name="auth"}', rowsOf('default', service('auth')), 'logfmt')
    await expectFields('{service_name="billing"}', rowsOf('acme', service('billing')), 'logfmt', ACME)
    // The fixture covers every type Drilldown knows.
    const types = new Set(['checkout', 'auth', 'billing'].flatMap((s) => distinct(fixture.filter(service(s)).flatMap((f) => Object.keys(f.fields))).map((n) => detectedType(fixture.filter(service(s)).map((f) => f.fields[n]).filter((v): v is string => v !== undefined)))))
    expect([...types].sort()).toEqual([...FIELD_TYPES].sort())
  })

  it('answers /detected_field/{name}/values with the distinct values of a parsed field or of structured metadata', async () => {
    const rows = rowsOf('default', service('checkout'))
    const values = async (name: string) => sortStrings(parse(await get(`/loki/api/v1/detected_field/${name}/values`, { query: '{service_name="checkout"}', ...RANGE }), detectedValuesReply).values)
    expect(await values('status')).toEqual(sortStrings(distinct(rows.map((f) => f.fields.status!))))
    expect(await values('detected_level')).toEqual(sortStrings(distinct(rows.map((f) => f.row.SeverityText.toLowerCase()))))
  })

  it('formats a query canonically with /format_query, and the formatted query means the same', async () => {
    const simple = parse(await get('/loki/api/v1/format_query', { query: '{service_name="checkout",level="error"}|="timeout"' }), success(z.string()))
    expect(simple.data).toBe('{service_name="checkout", level="error"} |= "timeout"')
    const query = 'sum by(level)(count_over_time({service_name="checkout"}|json|status>=400[5m]))'
    const formatted = parse(await get('/loki/api/v1/format_query', { query }), success(z.string())).data
    expect(formatted).not.toBe(query)
    expect(matrixView((await matrixQuery(formatted)).result, 'exact')).toEqual(matrixView((await matrixQuery(query)).result, 'exact'))
  })

  it("tells Logs Drilldown through /drilldown-limits that volume and patterns are served, with the query limits", async () => {
    const reply = await get('/loki/api/v1/drilldown-limits')
    expect(reply.status).toBe(200)
    const body = JSON.parse(reply.text) as { limits: Record<string, unknown>; pattern_ingester_enabled: boolean }
    expect(body.limits).toMatchObject({ volume_enabled: true, discover_log_levels: true, max_entries_limit_per_query: 5000, max_query_series: 500 })
    expect(body.pattern_ingester_enabled).toBe(true)
  })

  it('reports a Loki 3 build on /status/buildinfo and readiness on /ready', async () => {
    const info = parse(await get('/loki/api/v1/status/buildinfo'), z.object({ version: z.string(), revision: z.string(), branch: z.string(), goVersion: z.string() }))
    expect(info.version).toMatch(/^v?(\d+)\.\d+\.\d+/)
    expect(Number(/^v?(\d+)/.exec(info.version)![1])).toBeGreaterThanOrEqual(3)
    const ready = await get('/ready')
    expect(ready.status).toBe(200)
    expect(ready.text.trim()).toBe('ready')
  })
})

describe('refused requests', () => {
  it("answers a LogQL syntax error with 400 and Loki's parse error text", async () => {
    for (const query of [
      '{service_name="checkout"',
      'sum by (level) (count_over_time({service_name="checkout"}[1m])',
      '{service_name="checkout"} | no_such_stage',
      'foo_over_time({service_name="checkout"}[1m])',
      '{service_name="checkout"} |= ',
      'count_over_time({service_name="checkout"})',
      '{service_name="checkout"}[5m]',
      'topk(, sum(count_over_time({service_name="checkout"}[1m])))',
      'quantile_over_time({service_name="auth"} | logfmt | unwrap latency [1m])',
    ]) {
      expectBadRequest(await queryRange(query, { step: 60 }), /parse error at line 1, col \d+/)
    }
  })

  it('answers many-to-one matching with group_left: each level\'s share of its service', async () => {
    const query = 'sum by (service_name, level) (count_over_time({service_name=~"checkout|auth"}[5m])) / on (service_name) group_left sum by (service_name) (count_over_time({service_name=~"checkout|auth"}[5m]))'
    const data = await matrixQuery(query)
    const rows = rowsOf('default', service('checkout', 'auth'))
    const opts = { ...fixtureRange, stepS: 60, rangeS: 300, reduce: count }
    const perLevel = evalRange(rows, { ...opts, group: (f) => ({ service_name: f.service, level: f.row.SeverityText.toLowerCase() }) })
    const perService = evalRange(rows, { ...opts, group: (f) => ({ service_name: f.service }) })
    const expected = new Map([...perLevel].map(([k, s]) => {
      const total = perService.get(labelsKey({ service_name: s.metric.service_name! }))!
      return [k, { metric: s.metric, points: new Map([...s.points].map(([t, v]) => [t, v / total.points.get(t)!])) }]
    }))
    expect(matrixView(data.result, 'close')).toEqual(expectedMatrix(expected, 'close'))
  })

  it('answers an unsupported LogQL feature with 400 naming it', async () => {
    expectBadRequest(await queryRange('{service_name="auth"} | logfmt --strict status'), /logfmt --strict with extraction parameters/)
  })

  it('refuses a selector whose every matcher accepts the empty value', async () => {
    expectBadRequest(await queryRange('{service_name=~".*"}'), /matcher/i)
  })

  it('refuses a log query on the instant endpoint (instant queries are metric queries)', async () => {
    const reply = await get('/loki/api/v1/query', { query: '{service_name="worker"}', time: (BigInt(T_S) * NS).toString() })
    expect(reply.status, reply.text).toBe(400)
    expect(reply.text.length).toBeGreaterThan(0)
  })

  it('answers bad parameters with 400 naming the parameter', async () => {
    const q = '{service_name="worker"}'
    const m = 'sum(count_over_time({service_name="worker"}[1m]))'
    expectBadRequest(await get('/loki/api/v1/query_range', { query: q, start: 'yesterday', end: RANGE.end }), /start/i)
    expectBadRequest(await get('/loki/api/v1/query_range', { query: q, start: RANGE.start, end: 'soon' }), /end/i)
    expectBadRequest(await get('/loki/api/v1/query_range', { query: q, start: RANGE.end, end: RANGE.start }), /end/i)
    expectBadRequest(await get('/loki/api/v1/query_range', { query: m, ...RANGE, step: '0' }), /step/i)
    expectBadRequest(await get('/loki/api/v1/query_range', { query: m, ...RANGE, step: 'often' }), /step/i)
    expectBadRequest(await get('/loki/api/v1/query_range', { query: q, ...RANGE, limit: '-1' }), /limit/i)
    expectBadRequest(await get('/loki/api/v1/query_range', { query: q, ...RANGE, limit: 'many' }), /limit/i)
    expectBadRequest(await get('/loki/api/v1/query_range', { query: q, ...RANGE, direction: 'sideways' }), /direction/i)
    expectBadRequest(await get('/loki/api/v1/query_range', { ...RANGE }), /query|parse error/i)
    expectBadRequest(await get('/loki/api/v1/query', { query: m, time: 'noon' }), /time/i)
    expectBadRequest(await get('/loki/api/v1/series', { ...RANGE }), /match/i)
    expectBadRequest(await get('/loki/api/v1/index/volume', { ...RANGE }), /query/i)
    expectBadRequest(await get('/loki/api/v1/patterns', { query: q, ...RANGE, step: 'often' }), /step/i)
  })

  it('never answers a malformed request with a 5xx', async () => {
    const endpoints = ['/loki/api/v1/query_range', '/loki/api/v1/query', '/loki/api/v1/index/stats', '/loki/api/v1/index/volume', '/loki/api/v1/detected_fields', '/loki/api/v1/patterns', '/loki/api/v1/format_query']
    for (const endpoint of endpoints) {
      for (const query of ['{', '}', '{service_name=}', '{service_name="x"} | json | status >', 'sum(', '{service_name="\\q"}']) {
        const reply = await get(endpoint, { query, ...RANGE })
        expect(reply.status, `${endpoint} ${query}: ${reply.text}`).toBe(400)
      }
    }
  })
})

describe('guard rails', () => {
  it('answers a query over a limit with 400 naming the setting: rows read, series, lines, range', async () => {
    const strict = buildApp(
      loadConfig({ CLICKHOUSE_DATABASE: DATABASE, QUERY_MAX_ROWS_READ: '10', QUERY_MAX_SERIES: '2', QUERY_MAX_LINES: '50', QUERY_MAX_RANGE_HOURS: '1' }),
      { logger: createLogger({ level: 'silent' }), registry: createRegistry({ defaultMetrics: false }), checks: {}, clickhouse: ch.client },
    )
    onTestFinished(() => strict.close())
    const ask = async (url: string, params: Params) => {
      const res = await strict.inject({ url: `${url}?${encode(params)}` })
      return { status: res.statusCode, text: res.body }
    }
    const rowsRead = await ask('/loki/api/v1/query_range', { query: '{service_name=~".+"}', ...RANGE })
    expect(rowsRead.status).toBe(400)
    expect(rowsRead.text).toMatch(/QUERY_MAX_ROWS_READ/)
    // The same query within the limits of the default configuration is answered.
    expect((await get('/loki/api/v1/query_range', { query: '{service_name=~".+"}', ...RANGE })).status).toBe(200)

    const roomy = buildApp(loadConfig({ CLICKHOUSE_DATABASE: DATABASE, QUERY_MAX_SERIES: '2', QUERY_MAX_LINES: '50', QUERY_MAX_RANGE_HOURS: '1' }), {
      logger: createLogger({ level: 'silent' }),
      registry: createRegistry({ defaultMetrics: false }),
      checks: {},
      clickhouse: ch.client,
    })
    onTestFinished(() => roomy.close())
    const series = await roomy.inject({ url: `/loki/api/v1/query_range?${encode({ query: 'count_over_time({service_name=~".+"}[5m])', ...RANGE, step: '300' })}` })
    expect(series.statusCode).toBe(400)
    expect(series.body).toMatch(/maximum number of series \(2\).*QUERY_MAX_SERIES/)
    const lines = await roomy.inject({ url: `/loki/api/v1/query_range?${encode({ query: '{service_name=~".+"}', ...RANGE, limit: '51' })}` })
    expect(lines.statusCode).toBe(400)
    expect(lines.body).toMatch(/limit/)
    const range = await roomy.inject({ url: `/loki/api/v1/query_range?${encode({ query: '{service_name=~".+"}', since: '2h' })}` })
    expect(range.statusCode).toBe(400)
    expect(range.body).toMatch(/QUERY_MAX_RANGE_HOURS/)
  })
})

describe('live tail: /loki/api/v1/tail over WebSocket', () => {
  it('pushes marked lines with their __error_details__ worded, as queries answer them', async () => {
    const tenant = 'tail-details'
    const at = (i: number) => (START_NS + BigInt(60 + i) * NS).toString()
    const rows = ['soon', '2s'].map((took, i) => ({ id: `td-${i}`, tenant, Timestamp: at(i), ObservedTimestamp: at(i), ServiceName: 'tailed', SeverityText: 'INFO', SeverityNumber: 9, Body: JSON.stringify({ took }) }))
    await ch.client.insert({ table: `${DATABASE}.logs`, values: rows, format: 'JSONEachRow' })
    const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/loki/api/v1/tail?${encode({ query: '{service_name="tailed"} | json | took > 1s', start: START_NS.toString() })}`, { headers: { 'X-Scope-OrgID': tenant } })
    onTestFinished(() => ws.terminate())
    const received = new Map<string, Labels>()
    ws.on('message', (data) => {
      const frame = tailFrame.parse(JSON.parse(data.toString()))
      for (const s of frame.streams) for (const [, line] of s.values) received.set(line, s.stream)
    })
    await once(ws, 'open')
    await waitFor('the backlog', () => received.size === 2, 30_000)
    expect(received.get('{"took":"soon"}')).toMatchObject({ __error__: 'LabelFilterErr', __error_details__: 'time: invalid duration "soon"' })
    expect(received.get('{"took":"2s"}')?.__error_details__).toBeUndefined()
  })

  it('closes with 1008 and the reason when the compiler refuses the query, or ClickHouse its regex', async () => {
    // Both were an abnormal close (1006, no reason): the compiler's refusal was thrown outside the handler.
    const closeOf = async (query: string) => {
      const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/loki/api/v1/tail?${encode({ query, start: RANGE.start })}`, { headers: { 'X-Scope-OrgID': 'default' } })
      onTestFinished(() => ws.terminate())
      const [code, reason] = (await once(ws, 'close')) as [number, Buffer]
      return [code, reason.toString()]
    }
    expect(await closeOf('{service_name="worker"} | logfmt service_name="x"')).toEqual([1008, expect.stringMatching(/^unsupported LogQL: logfmt extraction into service_name/)])
    expect(await closeOf('{service_name=~"("}')).toEqual([1008, expect.stringMatching(/error parsing regexp: missing closing \)/)])
  })

  it('reads a busy stream page after page: more lines of one arrival time than a page, and one that reached ClickHouse after later ones', async () => {
    // A page is QUERY_MAX_LINES lines; a gateway request stamps all its records with one arrival time.
    const { app, baseUrl: tailUrl } = await listenQueryApi(ch, DATABASE, { QUERY_MAX_LINES: '50', QUERY_TAIL_POLL_MS: '100' })
    onTestFinished(() => app.close())
    const tenant = 'tail-busy'
    const ws = new WebSocket(`${tailUrl.replace(/^http/, 'ws')}/loki/api/v1/tail?${encode({ query: '{service_name="busy"}', limit: '10' })}`, { headers: { 'X-Scope-OrgID': tenant } })
    onTestFinished(() => ws.terminate())
    const received: string[] = []
    ws.on('message', (data) => {
      for (const s of tailFrame.parse(JSON.parse(data.toString())).streams) for (const [, line] of s.values) received.push(line)
    })
    await once(ws, 'open')
    await new Promise((r) => setTimeout(r, 300)) // the backlog (none) answered; polling
    const now = BigInt(Date.now()) * 1_000_000n
    const row = (id: string, observed: bigint, i: number) => ({ id, tenant, Timestamp: (now + BigInt(i)).toString(), ObservedTimestamp: observed.toString(), ServiceName: 'busy', SeverityText: 'INFO', SeverityNumber: 9, Body: id })
    const burst = Array.from({ length: 170 }, (_, i) => row(`busy-${String(i).padStart(3, '0')}`, now, i))
    await ch.client.insert({ table: `${DATABASE}.logs`, values: burst, format: 'JSONEachRow' })
    await waitFor('the whole burst', () => received.length >= burst.length, 30_000)
    // Observed before the burst, stored after it: found by the look-back.
    await ch.client.insert({ table: `${DATABASE}.logs`, values: [row('busy-late', now - 2_000_000_000n, 0)], format: 'JSONEachRow' })
    await waitFor('the late line', () => received.includes('busy-late'), 30_000)
    await new Promise((r) => setTimeout(r, 1_000)) // a line sent twice would have come by now
    expect(received.toSorted()).toEqual([...burst.map((r) => r.id), 'busy-late'].toSorted())
  })

  it('holds back the lines that arrived within delay_for seconds, and refuses a delay over 5 s', async () => {
    const { app, baseUrl: tailUrl } = await listenQueryApi(ch, DATABASE, { QUERY_TAIL_POLL_MS: '100' })
    onTestFinished(() => app.close())
    const tenant = 'tail-delay'
    const open = (extra: Record<string, string>) => {
      const ws = new WebSocket(`${tailUrl.replace(/^http/, 'ws')}/loki/api/v1/tail?${encode({ query: '{service_name="delayed"}', ...extra })}`, { headers: { 'X-Scope-OrgID': tenant } })
      onTestFinished(() => ws.terminate())
      return ws
    }
    const [code, reason] = (await once(open({ delay_for: '6' }), 'close')) as [number, Buffer]
    expect([code, reason.toString()]).toEqual([1008, 'delay_for must be between 0 and 5 seconds'])

    /** When each tail first received the line (ms). */
    const receivedAt = new Map<string, number>()
    const tails = { plain: open({}), delayed: open({ delay_for: '3' }) }
    for (const [name, ws] of Object.entries(tails)) {
      ws.on('message', (data) => {
        if (tailFrame.parse(JSON.parse(data.toString())).streams.length > 0 && !receivedAt.has(name)) receivedAt.set(name, Date.now())
      })
    }
    await Promise.all(Object.values(tails).map((ws) => once(ws, 'open')))
    await new Promise((r) => setTimeout(r, 300)) // the backlogs (none) answered; polling
    const arrivedMs = Date.now()
    const ns = (BigInt(arrivedMs) * 1_000_000n).toString()
    await ch.client.insert({ table: `${DATABASE}.logs`, values: [{ id: 'delayed-1', tenant, Timestamp: ns, ObservedTimestamp: ns, ServiceName: 'delayed', SeverityText: 'INFO', SeverityNumber: 9, Body: 'held back' }], format: 'JSONEachRow' })
    await waitFor('the line on both tails', () => receivedAt.size === 2, 30_000)
    expect(receivedAt.get('delayed')! - arrivedMs).toBeGreaterThanOrEqual(3_000)
    expect(receivedAt.get('plain')!).toBeLessThan(receivedAt.get('delayed')!)
  })

  // Last in the file: it inserts rows stamped "now", which later default-range queries would see.
  it('pushes the matching lines since start, then lines inserted after connecting, of its tenant only', async () => {
    const query = '{service_name="worker"} |= "failed"'
    const existing = rowsOf('default', service('worker'), (f) => f.row.Body.includes('failed'))
    expect(existing.length).toBeGreaterThan(0)
    const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/loki/api/v1/tail?${encode({ query, start: RANGE.start })}`, { headers: { 'X-Scope-OrgID': 'default' } })
    onTestFinished(() => ws.terminate())
    const received = new Map<string, { line: string; labels: Labels }>()
    const problems: string[] = []
    ws.on('message', (data) => {
      const frame = tailFrame.safeParse(JSON.parse(data.toString()))
      if (!frame.success) {
        problems.push(frame.error.message)
        return
      }
      for (const s of frame.data.streams) for (const [ts, line] of s.values) received.set(ts, { line, labels: s.stream })
    })
    await once(ws, 'open')
    await waitFor('the existing matching lines', () => existing.every((f) => received.has(f.ts.toString())), 30_000)

    const now = BigInt(Date.now()) * 1_000_000n
    const failed = 'job <*> failed: timeout after <*>'
    const fresh = [
      workerFixtureRow({ id: 'tail-1', tenant: 'default', ts: now }, 'ERROR', 'job 777001 failed: timeout after 30s', failed),
      workerFixtureRow({ id: 'tail-2', tenant: 'default', ts: now + 1_000n }, 'INFO', 'processed job 777002 in 5ms — ok', 'processed job <*> in <*> — ok'),
      workerFixtureRow({ id: 'tail-3', tenant: 'acme', ts: now + 2_000n }, 'ERROR', 'job 777003 failed: timeout after 30s', failed),
      workerFixtureRow({ id: 'tail-4', tenant: 'default', ts: now + 3_000n }, 'ERROR', 'job 777004 failed: timeout after 30s', failed),
    ]
    await ch.client.insert({ table: `${DATABASE}.logs`, values: fresh.map((f) => f.row), format: 'JSONEachRow' })
    const wanted = [fresh[0]!, fresh[3]!]
    await waitFor('the lines inserted after connecting', () => wanted.every((f) => received.has(f.ts.toString())), 30_000)
    await new Promise((r) => setTimeout(r, 2_000)) // anything that should not come would have come by now

    expect(problems).toEqual([])
    const expected = [...existing, ...wanted]
    expect(sortStrings(received.keys())).toEqual(sortStrings(expected.map((f) => f.ts.toString())))
    for (const f of expected) {
      const got = received.get(f.ts.toString())!
      expect(got.line).toBe(f.row.Body)
      expect(got.labels).toMatchObject(streamLabels(f.row))
    }
  })
})
