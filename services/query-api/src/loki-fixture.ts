// Test-only fixture for the Loki API contract suite (loki-contract.int.test.ts): a few hundred
// deterministic log rows for two tenants, and the model of how a stored row looks through the
// Loki-compatible API — stream labels, structured metadata, the fields `| json` / `| logfmt`
// extract, line bytes, pattern templates — from which the suite computes every expected value.
// Nothing here is production code; the bench reuses none of it.
import { createHash } from 'node:crypto'

/**
 * A row of <db>.logs as written with JSONEachRow (schemas/clickhouse/0001, 0002, 0004). DateTime64(9)
 * columns take epoch nanoseconds as a decimal string (exact; a JSON number would round).
 */
export interface LogRow {
  id: string
  tenant: string
  Timestamp: string
  ObservedTimestamp: string
  ServiceName: string
  HostName: string
  SeverityText: string
  SeverityNumber: number
  Body: string
  TraceId: string
  SpanId: string
  LogAttributes: Record<string, string>
  ResourceAttributes: Record<string, string>
  Source: string
  Category: string
  IsError: boolean
  PatternId: string
  Template: string
  Classifier: string
  HttpStatus: number | null
  DurationMs: number | null
  UserId: string
  SessionId: string
  ErrorCode: string
  ParsedFormat: string
}

/** What the suites that build rows by hand (analysts, AI) say about one record. */
export interface RowSpec {
  id: string
  tenant?: string
  service: string
  /** Event time, epoch ns. */
  atNs: bigint
  severity?: Severity
  body: string
  template?: string
  user?: string
  session?: string
  errorCode?: string
  category?: string
  host?: string
  attributes?: Record<string, string>
  resource?: Record<string, string>
}

/** A stored row from a spec: the pattern id as the enricher derives it, the rest defaulted. */
export function storedRow(s: RowSpec): LogRow {
  const tenant = s.tenant ?? 'acme'
  const severity = s.severity ?? 'INFO'
  const template = s.template ?? ''
  return {
    id: s.id,
    tenant,
    Timestamp: s.atNs.toString(),
    ObservedTimestamp: (s.atNs + 5_000_000n).toString(),
    ServiceName: s.service,
    HostName: s.host ?? `${s.service}-pod-0`,
    SeverityText: severity,
    SeverityNumber: SEVERITY_NUMBER[severity],
    Body: s.body,
    TraceId: '',
    SpanId: '',
    LogAttributes: s.attributes ?? {},
    ResourceAttributes: s.resource ?? { 'service.name': s.service },
    Source: 'http',
    Category: s.category ?? 'application',
    IsError: SEVERITY_NUMBER[severity] >= 17,
    PatternId: patternIdOf(tenant, s.service, template),
    Template: template,
    Classifier: 'rules',
    HttpStatus: null,
    DurationMs: null,
    UserId: s.user ?? '',
    SessionId: s.session ?? '',
    ErrorCode: s.errorCode ?? '',
    ParsedFormat: '',
  }
}

export type BodyFormat = 'json' | 'logfmt' | 'text'

/** A stored row with what the suite needs to predict answers about it. */
export interface FixtureRow {
  row: LogRow
  tenant: string
  service: string
  ts: bigint
  format: BodyFormat
  /** What `| json` (flattened with `_`) or `| logfmt` extracts from the body; empty for text. */
  fields: Record<string, string>
  /** For JSON bodies, where each field sits in the document (`client_ip` → ["client", "ip"]). */
  jsonPaths?: Record<string, string[]>
}

export type Labels = Record<string, string>

export const SEVERITY_NUMBER = { TRACE: 1, DEBUG: 5, INFO: 9, WARN: 13, ERROR: 17, FATAL: 21 } as const
export type Severity = keyof typeof SEVERITY_NUMBER

// ---- the model: how a row reads through the Loki API -------------------------------------------

/** Label names keep [a-zA-Z0-9_]; anything else becomes `_` (`k8s.namespace.name` → `k8s_namespace_name`). */
export function sanitizeLabelName(key: string): string {
  return key.replace(/[^a-zA-Z0-9_]/g, '_')
}

/** Stream labels: service_name, level, host (when set) and the resource attributes but service.name. */
export function streamLabels(r: LogRow): Labels {
  const labels: Labels = { service_name: r.ServiceName, level: r.SeverityText.toLowerCase() }
  if (r.HostName !== '') labels.host = r.HostName
  for (const [k, v] of Object.entries(r.ResourceAttributes)) if (k !== 'service.name') labels[sanitizeLabelName(k)] = v
  return labels
}

/** Structured metadata: the enriched columns and the log attributes, non-empty values only. */
export function structuredMetadata(r: LogRow): Labels {
  const md: Labels = {}
  const put = (k: string, v: string) => {
    if (v !== '') md[k] = v
  }
  put('detected_level', r.SeverityText.toLowerCase())
  put('category', r.Category)
  put('pattern_id', r.PatternId)
  put('trace_id', r.TraceId)
  put('span_id', r.SpanId)
  put('user_id', r.UserId)
  put('session_id', r.SessionId)
  put('error_code', r.ErrorCode)
  for (const [k, v] of Object.entries(r.LogAttributes)) put(sanitizeLabelName(k), v)
  return md
}

/** Every label a line carries before any parser: stream labels and structured metadata. */
export function lineLabels(r: LogRow): Labels {
  return { ...streamLabels(r), ...structuredMetadata(r) }
}

/** The size Loki counts for a line (bytes_over_time, index stats, volume): its UTF-8 bytes. */
export function lineBytes(r: LogRow): number {
  return Buffer.byteLength(r.Body, 'utf8')
}

/** A stable key for a label set (sorted names). */
export function labelsKey(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

export function pickLabels(labels: Labels, names: readonly string[]): Labels {
  const out: Labels = {}
  for (const n of names) if (labels[n] !== undefined && labels[n] !== '') out[n] = labels[n]
  return out
}

export function omitLabels(labels: Labels, names: readonly string[]): Labels {
  const out: Labels = { ...labels }
  for (const n of names) delete out[n]
  return out
}

/** What `| json` extracts: scalars as text, nested objects flattened with `_`, with each field's path. */
export function flattenJson(doc: Record<string, unknown>, path: string[] = []): { fields: Record<string, string>; paths: Record<string, string[]> } {
  const fields: Record<string, string> = {}
  const paths: Record<string, string[]> = {}
  for (const [k, v] of Object.entries(doc)) {
    const at = [...path, k]
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const inner = flattenJson(v as Record<string, unknown>, at)
      Object.assign(fields, inner.fields)
      Object.assign(paths, inner.paths)
    } else {
      const name = at.map(sanitizeLabelName).join('_')
      fields[name] = typeof v === 'string' ? v : JSON.stringify(v)
      paths[name] = at
    }
  }
  return { fields, paths }
}

/** Size text as `unwrap bytes(…)` reads it (decimal units: 1KB = 1000 B, binary: 1KiB = 1024 B). */
export function bytesValue(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s?(B|KB|MB|GB|KiB|MiB|GiB)$/.exec(text)
  if (!m) return undefined
  const unit: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }
  return Number(m[1]) * unit[m[2]!]!
}

/** Go-style duration (`250ms`, `1.5s`, `5s`, `1m`) in seconds; undefined when it is not one. */
export function durationSeconds(text: string): number | undefined {
  const unit: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 }
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)]
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) return undefined
  return parts.reduce((sum, p) => sum + Number(p[1]) * unit[p[2]!]!, 0)
}

/** A Sluice template (`<*>` placeholders) as Loki prints a pattern (`<_>`). */
export function lokiPattern(template: string): string {
  return template.replaceAll('<*>', '<_>')
}

/** What a pattern line filter (`|> "…"`) accepts: the literals in order, `<_>` any run of characters. */
export function patternRegExp(pattern: string): RegExp {
  const literal = pattern.split('<_>').map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
  return new RegExp(`^${literal.join('.*?')}$`, 's')
}

/** A type as Loki's detected_fields names it, by the first test every value passes. */
export function detectedType(values: readonly string[]): 'int' | 'float' | 'boolean' | 'duration' | 'bytes' | 'string' {
  const all = (re: RegExp) => values.every((v) => re.test(v))
  if (all(/^-?\d+$/)) return 'int'
  if (all(/^-?\d+\.\d+$/)) return 'float'
  if (all(/^(true|false)$/)) return 'boolean'
  if (values.every((v) => durationSeconds(v) !== undefined)) return 'duration'
  if (all(/^\d+(\.\d+)?\s?(B|KB|MB|GB|KiB|MiB|GiB)$/)) return 'bytes'
  return 'string'
}

// ---- range evaluation (Loki/Prometheus semantics) ---------------------------------------------

export interface SeriesPoints {
  metric: Labels
  points: Map<number, number>
}

/**
 * Evaluates a range aggregation at every step: at t = start, start+step, … ≤ end (seconds), the
 * rows with a timestamp in (t − range, t], grouped by `group`, reduced by `reduce` (undefined drops
 * the point). Steps where a group has no rows give no point, as in Loki.
 */
export function evalRange(
  rows: readonly FixtureRow[],
  opts: { startS: number; endS: number; stepS: number; rangeS: number; group: (r: FixtureRow) => Labels; reduce: (rows: FixtureRow[]) => number | undefined },
): Map<string, SeriesPoints> {
  const out = new Map<string, SeriesPoints>()
  for (let t = opts.startS; t <= opts.endS; t += opts.stepS) {
    const hi = BigInt(t) * 1_000_000_000n
    const lo = hi - BigInt(opts.rangeS) * 1_000_000_000n
    const groups = new Map<string, { metric: Labels; rows: FixtureRow[] }>()
    for (const r of rows) {
      if (r.ts <= lo || r.ts > hi) continue
      const metric = opts.group(r)
      const key = labelsKey(metric)
      const g = groups.get(key) ?? { metric, rows: [] }
      g.rows.push(r)
      groups.set(key, g)
    }
    for (const [key, g] of groups) {
      const v = opts.reduce(g.rows)
      if (v === undefined) continue
      const s = out.get(key) ?? { metric: g.metric, points: new Map<number, number>() }
      s.points.set(t, v)
      out.set(key, s)
    }
  }
  return out
}

/** Prometheus' quantile (linear interpolation between the closest ranks), which Loki uses. */
export function quantile(q: number, values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b)
  const rank = q * (v.length - 1)
  const lo = Math.floor(rank)
  const hi = Math.ceil(rank)
  const w = rank - lo
  return v[lo]! * (1 - w) + v[hi]! * w
}

// ---- generating the fixture ----------------------------------------------------------------------

/** mulberry32: a small deterministic PRNG, so every run stores the same rows (only the clock moves). */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** 16 hex digits, first a letter so no id ever reads as a number. */
export function patternIdOf(tenant: string, service: string, template: string): string {
  if (template === '') return ''
  return 'a' + createHash('sha256').update(`${tenant}\0${service}\0${template}`).digest('hex').slice(0, 15)
}

/**
 * Where the fixture sits: [windowStartS, windowEndS), 40 minutes aligned to 10 minutes (so steps of
 * 1, 5 and 10 minutes start and end on the window's edges), ending at or before `nowMs`: the oldest
 * row is under 50 minutes old when the suite starts, inside Loki's default one-hour range.
 */
export interface FixtureWindow {
  windowStartS: number
  windowEndS: number
}

export function fixtureWindow(nowMs: number): FixtureWindow {
  const windowEndS = Math.floor(nowMs / 600_000) * 600
  return { windowStartS: windowEndS - 40 * 60, windowEndS }
}

export const ROWS_PER_RUN = 360

/**
 * The rows: every 12 consecutive ones hold 5 `checkout` (JSON), 3 `auth` (logfmt) and 2 `worker`
 * (plain text) rows of tenant `default`, and 1 `checkout` (JSON) and 1 `billing` (logfmt) row of
 * tenant `acme`; about 6.5 s apart from 30 s into the window to its last 30 s, each with its own
 * timestamp (never on a whole second, so no row sits on a step boundary).
 */
export function buildFixture(window: FixtureWindow): FixtureRow[] {
  const rand = prng(20261201)
  const int = (n: number) => Math.floor(rand() * n)
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!
  const weighted = <T>(xs: readonly (readonly [T, number])[]): T => {
    let r = rand() * xs.reduce((s, [, w]) => s + w, 0)
    for (const [x, w] of xs) if ((r -= w) < 0) return x
    return xs[xs.length - 1]![0]
  }
  const hex = (n: number) => Array.from({ length: n }, () => '0123456789abcdef'[int(16)]).join('')
  const rows: FixtureRow[] = []
  let workerCount = 0

  for (let i = 0; i < ROWS_PER_RUN; i++) {
    const ms = (window.windowStartS + 30) * 1000 + i * 6_500 + int(900)
    const ts = BigInt(ms) * 1_000_000n + 123_457n + BigInt(i * 7)
    const slot = i % 12
    const tenant = slot < 10 ? 'default' : 'acme'
    const base = { id: `${tenant}-${String(i).padStart(4, '0')}`, tenant, ts }

    if (slot < 5 || slot === 10) {
      const severity = weighted<Severity>([['INFO', 6], ['DEBUG', 1], ['WARN', 1.5], ['ERROR', 1.5]])
      const method = pick(['GET', 'POST'])
      const path = pick(['/cart', '/checkout', '/items'])
      const status = severity === 'ERROR' ? pick([500, 503]) : severity === 'WARN' ? pick([404, 429]) : severity === 'DEBUG' ? 200 : pick([200, 201, 204])
      const durationMs = pick([12, 45, 250, 800, 1500, 2300, 4000])
      const duration = durationMs < 1000 ? `${durationMs}ms` : `${durationMs / 1000}s`
      const size = pick(['512B', '2KB', '1.5KB', '12KB'])
      const cached = rand() < 0.3
      const ip = `10.0.0.${1 + int(8)}`
      const user = `u-${1 + int(12)}`
      const msg = `${method} ${path} ${status}`
      const doc = { msg, method, path, status, duration, size, cached, client: { ip }, user }
      const body = JSON.stringify(doc)
      const { fields, paths } = flattenJson(doc)
      const template = `{"msg":"<*>","method":"${method}","path":"${path}","status":<*>,"duration":"<*>","size":"<*>","cached":<*>,"client":{"ip":"<*>"},"user":"<*>"}`
      rows.push({
        ...base,
        service: 'checkout',
        format: 'json',
        fields,
        jsonPaths: paths,
        row: row(base, {
          ServiceName: 'checkout',
          HostName: tenant === 'default' ? pick(['web-1', 'web-2']) : 'acme-web-1',
          SeverityText: severity,
          Body: body,
          TraceId: 'f' + hex(31),
          SpanId: 'f' + hex(15),
          LogAttributes: { 'http.method': method, 'http.route': path },
          ResourceAttributes:
            tenant === 'default'
              ? { 'service.name': 'checkout', 'k8s.namespace.name': 'shop', 'deployment.environment': 'prod' }
              : { 'service.name': 'checkout', 'cloud.region': 'eu-west-1' },
          Source: 'otlp',
          Category: 'http',
          Template: template,
          HttpStatus: status,
          DurationMs: durationMs,
          UserId: user,
          SessionId: rand() < 0.5 ? `s-${hex(8)}` : '',
          ErrorCode: severity === 'ERROR' ? pick(['E_UPSTREAM', 'E_DB']) : '',
          ParsedFormat: 'json',
        }),
      })
    } else if (slot < 8) {
      const severity = weighted<Severity>([['INFO', 5], ['WARN', 2], ['DEBUG', 2], ['ERROR', 1]])
      const user = `u-${1 + int(12)}`
      const method = pick(['password', 'otp'])
      const latency = pick(['15ms', '120ms', '480ms', '850ms', '1.2s'])
      let fields: Record<string, string>
      let template: string
      if (severity === 'INFO') {
        fields = { msg: 'login ok', user, method, status: '200', latency }
        template = 'msg="login ok" user=<*> method=<*> status=200 latency=<*>'
      } else if (severity === 'WARN') {
        const reason = pick(['bad_password', 'expired_code'])
        fields = { msg: 'login failed', user, method, status: '401', latency, reason }
        template = 'msg="login failed" user=<*> method=<*> status=401 latency=<*> reason=<*>'
      } else if (severity === 'DEBUG') {
        fields = { msg: 'token refreshed', user, status: '200', latency: '15ms' }
        template = '' // no template group: no pattern_id
      } else {
        fields = { msg: 'directory unreachable', status: '503', latency: '5s', error: 'dial timeout' }
        template = 'msg="directory unreachable" status=503 latency=<*> error="dial timeout"'
      }
      const body = Object.entries(fields)
        .map(([k, v]) => `${k}=${/\s/.test(v) ? `"${v}"` : v}`)
        .join(' ')
      rows.push({
        ...base,
        service: 'auth',
        format: 'logfmt',
        fields,
        row: row(base, {
          ServiceName: 'auth',
          HostName: 'auth-1',
          SeverityText: severity,
          Body: body,
          TraceId: rand() < 0.5 ? 'f' + hex(31) : '',
          LogAttributes: fields.method ? { 'auth.method': fields.method } : {},
          ResourceAttributes: { 'service.name': 'auth', 'k8s.namespace.name': 'identity', 'deployment.environment': 'prod' },
          Source: 'http',
          Category: 'security',
          Template: template,
          UserId: fields.user ?? '',
          ErrorCode: severity === 'ERROR' ? 'E_LDAP' : '',
          ParsedFormat: 'logfmt',
        }),
      })
    } else if (slot < 10) {
      const n = workerCount++
      const severity: Severity = n % 25 === 12 ? 'FATAL' : weighted<Severity>([['INFO', 5], ['ERROR', 1.5], ['WARN', 1.5], ['TRACE', 1]])
      const job = 1000 + int(9000)
      let body: string
      let template: string
      if (severity === 'INFO') {
        body = `processed job ${job} in ${pick([35, 120, 350, 900])}ms — ok`
        template = 'processed job <*> in <*> — ok'
      } else if (severity === 'ERROR') {
        body = `job ${job} failed: timeout after 30s`
        template = 'job <*> failed: timeout after <*>'
      } else if (severity === 'WARN' && rand() < 0.5) {
        body = `queue depth ${20 + int(80)} above threshold`
        template = 'queue depth <*> above threshold'
      } else if (severity === 'WARN') {
        body = `retrying job ${job} after TIMEOUT`
        template = 'retrying job <*> after TIMEOUT'
      } else if (severity === 'TRACE') {
        body = 'heartbeat'
        template = 'heartbeat'
      } else {
        body = 'worker crashed: out of memory'
        template = 'worker crashed: out of memory'
      }
      rows.push({ ...base, service: 'worker', format: 'text', fields: {}, row: workerRow(base, severity, body, template, pick(['default', 'priority'])) })
    } else {
      const severity = weighted<Severity>([['INFO', 4], ['ERROR', 1]])
      const invoice = `inv-${1000 + int(9000)}`
      const amount = `${1 + int(400)}.${String(int(100)).padStart(2, '0')}`
      const latency = pick(['80ms', '140ms', '2s'])
      const fields =
        severity === 'INFO'
          ? { msg: 'invoice created', invoice, amount, status: '201', latency }
          : { msg: 'payment declined', invoice, amount, status: '402', latency }
      const body = Object.entries(fields)
        .map(([k, v]) => `${k}=${/\s/.test(v) ? `"${v}"` : v}`)
        .join(' ')
      rows.push({
        ...base,
        service: 'billing',
        format: 'logfmt',
        fields,
        row: row(base, {
          ServiceName: 'billing',
          HostName: 'acme-bill-1',
          SeverityText: severity,
          Body: body,
          TraceId: 'f' + hex(31),
          SpanId: 'f' + hex(15),
          ResourceAttributes: { 'service.name': 'billing', 'cloud.region': 'eu-west-1' },
          Source: 'http',
          Category: 'billing',
          Template: `msg="${fields.msg}" invoice=<*> amount=<*> status=${fields.status} latency=<*>`,
          ErrorCode: severity === 'ERROR' ? 'E_DECLINED' : '',
          ParsedFormat: 'logfmt',
        }),
      })
    }
  }
  return rows
}

/** A plain-text `worker` row (no host, no trace): the fixture's and the live tail's. */
export function workerRow(base: { id: string; tenant: string; ts: bigint }, severity: Severity, body: string, template: string, queue = 'default'): LogRow {
  return row(base, {
    ServiceName: 'worker',
    HostName: '',
    SeverityText: severity,
    Body: body,
    LogAttributes: { 'job.queue': queue },
    ResourceAttributes: { 'service.name': 'worker', 'k8s.namespace.name': 'jobs' },
    Source: 'http',
    Category: 'application',
    Template: template,
    ErrorCode: severity === 'ERROR' ? 'E_TIMEOUT' : severity === 'FATAL' ? 'E_OOM' : '',
    ParsedFormat: '',
  })
}

export function workerFixtureRow(base: { id: string; tenant: string; ts: bigint }, severity: Severity, body: string, template: string): FixtureRow {
  return { ...base, service: 'worker', format: 'text', fields: {}, row: workerRow(base, severity, body, template) }
}

function row(
  base: { id: string; tenant: string; ts: bigint },
  r: Pick<LogRow, 'ServiceName' | 'HostName' | 'SeverityText' | 'Body' | 'ResourceAttributes' | 'Source' | 'Category' | 'Template' | 'ParsedFormat'> & Partial<LogRow>,
): LogRow {
  const severityNumber = SEVERITY_NUMBER[r.SeverityText as Severity]
  return {
    id: base.id,
    tenant: base.tenant,
    Timestamp: base.ts.toString(),
    ObservedTimestamp: (base.ts + 1_000_000n).toString(),
    SeverityNumber: severityNumber,
    TraceId: '',
    SpanId: '',
    LogAttributes: {},
    IsError: severityNumber >= 17,
    PatternId: patternIdOf(base.tenant, r.ServiceName, r.Template),
    Classifier: 'rules',
    HttpStatus: null,
    DurationMs: null,
    UserId: '',
    SessionId: '',
    ErrorCode: '',
    ...r,
  }
}

/**
 * A row of <db>.alerts as the sink writes it (schemas/clickhouse/0003, 0009, 0010): a firing
 * threshold alert of 10 minutes up to `nowNs`, with `fields` overriding any column.
 */
export function storedAlert(nowNs: bigint, fields: { Id: string; Tenant: string } & Record<string, unknown>): Record<string, unknown> {
  const started = (nowNs - 600_000_000_000n).toString()
  return {
    RuleId: 'r',
    RuleName: 'rule',
    RuleKind: 'threshold',
    ServiceName: 'checkout',
    PatternId: '',
    Severity: 'critical',
    Status: 'firing',
    Value: 1,
    Threshold: 1,
    WindowStart: started,
    WindowEnd: nowNs.toString(),
    StartedAt: started,
    UpdatedAt: nowNs.toString(),
    ResolvedAt: null,
    AcknowledgedBy: '',
    Summary: 's',
    SampleLogIds: [],
    Version: 1,
    ...fields,
  }
}
