// LogQL → ClickHouse SQL over <db>.logs. Every value from the query reaches ClickHouse as a bound
// parameter ({pN:Type}); only names this module chose (columns, functions) are spliced in.
//
// The Loki data model over Sluice's columns:
//   stream labels        service_name (ServiceName), level (lower-case SeverityText), host
//                        (HostName), and every resource attribute but service.name, under Loki's
//                        sanitised name (characters outside [a-zA-Z0-9_] become `_`)
//   structured metadata  detected_level, category, pattern_id, trace_id, span_id, user_id,
//                        session_id, error_code, and every log attribute (sanitised names)
//   line                 Body
// Both kinds of label may be used in selectors and label filters. An attribute label is looked
// up under its own name and with every `_` read as `.` (k8s_namespace_name → k8s.namespace.name).
//
// Pipeline stages become SQL expressions over a running state: the current line (line_format
// replaces it), the parsers seen so far (a label's value is the latest parser's that has it;
// labels that exist before parsing win, as Loki renames a colliding parsed label to
// `<name>_extracted`), the `__error__` expression, and the labels dropped or kept.
// Where Sluice differs from Loki (stated in the README's LogQL table): `| json` flattens nested
// objects three levels deep; an unwrapped value that does not convert is skipped instead of
// failing the query.
import { SluiceError } from '@sluice/core'
import type { Grouping, LabelFilterExpr, LabelValue, LogExpr, Matcher, RangeAggregation, Stage } from '../logql/ast.js'
import { flattenJson, nonEmptySanitised, visible } from './output.js'
import type { Labels, Visibility } from './output.js'

/** A row of the columns `Pipeline.output()` selects. */
export type OutputRow = Record<string, unknown> & { ts: string; line: string; _res?: Record<string, string>; _attrs?: Record<string, string>; _error?: string }

/** A request Sluice refuses: LogQL it does not implement, or a limit exceeded (HTTP 400, plain text). */
export function unsupported(what: string): SluiceError {
  return new SluiceError('VALIDATION_FAILED', `unsupported LogQL: ${what}`)
}

/** Bound parameters of one SQL statement. */
export class Params {
  readonly values: Record<string, unknown> = {}
  #n = 0
  bind(value: unknown, type = 'String'): string {
    const name = `p${this.#n++}`
    this.values[name] = value
    return `{${name}:${type}}`
  }
}

interface Builtin {
  /** For comparisons (keeps ClickHouse's key and index analysis). */
  column: string
  /** As a String, for maps. */
  str: string
}

const STREAM: Record<string, Builtin> = {
  service_name: { column: 'ServiceName', str: 'toString(ServiceName)' },
  level: { column: 'lower(SeverityText)', str: 'lower(SeverityText)' },
  host: { column: 'HostName', str: 'toString(HostName)' },
}
const META: Record<string, Builtin> = {
  detected_level: { column: 'lower(SeverityText)', str: 'lower(SeverityText)' },
  category: { column: 'Category', str: 'toString(Category)' },
  pattern_id: { column: 'PatternId', str: 'toString(PatternId)' },
  trace_id: { column: 'TraceId', str: 'TraceId' },
  span_id: { column: 'SpanId', str: 'SpanId' },
  user_id: { column: 'UserId', str: 'UserId' },
  session_id: { column: 'SessionId', str: 'SessionId' },
  error_code: { column: 'ErrorCode', str: 'toString(ErrorCode)' },
}
export const STREAM_LABELS = Object.keys(STREAM)
export const META_LABELS = Object.keys(META)
const builtin = (name: string): Builtin | undefined => (Object.hasOwn(STREAM, name) ? STREAM[name] : Object.hasOwn(META, name) ? META[name] : undefined)

const SANITISE = `replaceRegexpAll(k, '[^a-zA-Z0-9_]', '_')`
const sanitised = (map: string, without?: string) =>
  `CAST(mapApply((k, v) -> (${SANITISE}, v), ${without ? `mapFilter((k, v) -> k != '${without}', ${map})` : map}), 'Map(String, String)')`
const nonEmpty = (map: string) => `mapFilter((k, v) -> v != '', ${map})`
const builtinMap = (set: Record<string, Builtin>) => `map(${Object.entries(set).flatMap(([k, b]) => [`'${k}'`, b.str]).join(', ')})`

/** The stream labels of a row, as Map(String, String). */
export const STREAM_MAP = nonEmpty(`mapUpdate(${sanitised('ResourceAttributes', 'service.name')}, ${builtinMap(STREAM)})`)
/** The structured metadata of a row. */
export const META_MAP = nonEmpty(`mapUpdate(${sanitised('LogAttributes')}, ${builtinMap(META)})`)

/** Go durations (`1h2m3.5s`, `250ms`, `-1.5µs`) as seconds; NULL when `v` is not one. */
export function durationSeconds(v: string): string {
  // ClickHouse's parseTimeDelta reads Go's units but throws on anything else: the pattern guards
  // it, and statements run with short_circuit_function_evaluation = 'force_enable', so it only
  // ever sees values the pattern passed.
  return `if(match(${v}, '^[-+]?([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$'), if(startsWith(${v}, '-'), -1, 1) * parseTimeDelta(replaceRegexpOne(${v}, '^[-+]', '')), NULL)`
}

/** Sizes (`10KB`, `1.5 MiB`, `512`) as bytes, the units humanize reads; NULL when `v` is not one. */
export function bytesValue(v: string): string {
  const u = `lower(extract(${v}, '^\\s*[0-9.]+\\s*([a-zA-Z]*)\\s*$'))`
  const factor = `transform(${u}, ['', 'b', 'kb', 'k', 'mb', 'm', 'gb', 'g', 'tb', 't', 'pb', 'p', 'kib', 'ki', 'mib', 'mi', 'gib', 'gi', 'tib', 'ti', 'pib', 'pi'], arrayMap(x -> toFloat64(x), [1, 1, 1e3, 1e3, 1e6, 1e6, 1e9, 1e9, 1e12, 1e12, 1e15, 1e15, 1024, 1024, 1048576, 1048576, 1073741824, 1073741824, 1099511627776, 1099511627776, 1125899906842624, 1125899906842624]), nan)`
  return `if(match(${v}, '^\\s*[0-9]+(\\.[0-9]*)?\\s*[a-zA-Z]*\\s*$'), nullIf(toFloat64OrZero(extract(${v}, '[0-9.]+')) * ${factor}, nan), NULL)`
}

interface Lookup {
  has: string
  val: string
}
const ABSENT: Lookup = { has: '0', val: "''" }

type Frame =
  | { kind: 'json'; line: string; extract?: Map<string, string[]> }
  | { kind: 'logfmt'; line: string; extract?: Map<string, string> }
  | { kind: 'regexp'; line: string; re: string; names: string[] }
  | { kind: 'set'; label: string; value: Lookup }

/** The running state of a pipeline: everything later stages and the SELECT list read. */
export class Pipeline {
  readonly where: string[] = []
  line = 'Body'
  error = "''"
  readonly #frames: Frame[] = []
  readonly #dropped = new Set<string>()
  readonly #dropMatchers: Matcher[] = []
  #kept: Set<string> | undefined
  readonly #p: Params
  // Every derived value is defined once in the statement's WITH clause and referred to by name:
  // a label is read in several places (filters, the error label, the output), and ClickHouse's
  // analyser pays for every copy of an expression written out, before it merges them.
  readonly #defs: string[] = []
  readonly #memo = new Map<string, Lookup>()
  #stage = 0

  readonly #attributes: ReadonlyMap<string, boolean> | undefined
  /** Every label looked up as a possible attribute: what a probe may settle (see Scope.attributes). */
  readonly attributeNames = new Set<string>()

  constructor(params: Params, attributes?: ReadonlyMap<string, boolean>) {
    this.#p = params
    this.#attributes = attributes
  }

  /** Names `expr` in the WITH clause; returns the name. */
  alias(expr: string): string {
    if (/^(__a\d+|'[^']*'|\d+|\w+)$/.test(expr)) return expr
    const name = `__a${this.#defs.length}`
    this.#defs.push(`${expr} AS ${name}`)
    return name
  }

  /** The WITH clause of a statement over this pipeline (empty when nothing was named). */
  get with(): string {
    return this.#defs.length ? `WITH ${this.#defs.join(',\n  ')}\n` : ''
  }

  /** A label's value as the query sees it at this point of the pipeline. */
  lookup(name: string): Lookup {
    const key = `${this.#stage}\u0000${name}`
    let l = this.#memo.get(key)
    if (!l) {
      l = this.#lookup(name)
      if (l !== ABSENT && !builtin(name)) l = { has: this.alias(l.has), val: this.alias(l.val) }
      this.#memo.set(key, l)
    }
    return l
  }

  #lookup(name: string): Lookup {
    if (name === '__error__') return this.#dropped.has(name) ? ABSENT : { has: `(${this.error} != '')`, val: this.error }
    if (this.#dropped.has(name) || (this.#kept && !this.#kept.has(name))) return ABSENT
    const b = builtin(name)
    if (b) return { has: `(${b.str} != '')`, val: b.str }
    const stripped = name.endsWith('_extracted') ? name.slice(0, -'_extracted'.length) : undefined
    const base = stripped !== undefined && (builtin(stripped) || stripped === '') ? ABSENT : this.#attribute(name)
    let v: Lookup = ABSENT
    for (const f of this.#frames) {
      const own = this.#frameLookup(f, stripped !== undefined && builtin(stripped) ? stripped : name)
      if (own === ABSENT) continue
      v = v === ABSENT ? own : { has: `(${own.has} OR ${v.has})`, val: `if(${own.has}, ${own.val}, ${v.val})` }
    }
    if (base === ABSENT) return v
    if (v === ABSENT) return base
    return { has: `(${base.has} OR ${v.has})`, val: `if(${base.has}, ${base.val}, ${v.val})` }
  }

  #attribute(name: string): Lookup {
    this.attributeNames.add(name)
    // Known to be no attribute's name: the label comes from the parsers alone, and the attribute
    // maps need not be read at all.
    if (this.#attributes?.get(name) === false) return ABSENT
    const keys = [...new Set([name, name.replace(/_/g, '.')])].map((k) => this.#p.bind(k))
    const pairs = keys.flatMap((k) => [`mapContains(ResourceAttributes, ${k})`, `ResourceAttributes[${k}]`, `mapContains(LogAttributes, ${k})`, `LogAttributes[${k}]`])
    const has = pairs.filter((_, i) => i % 2 === 0)
    return { has: `(${has.join(' OR ')})`, val: `multiIf(${pairs.join(', ')}, '')` }
  }

  #frameLookup(f: Frame, name: string): Lookup {
    switch (f.kind) {
      case 'json': {
        const paths = f.extract ? (f.extract.has(name) ? [f.extract.get(name)!] : []) : name.includes('_') ? [[name], name.split('_')] : [[name]]
        if (paths.length === 0) return ABSENT
        const one = (path: string[]): Lookup => {
          const args = [f.line, ...path.map((s) => (/^\d+$/.test(s) ? String(Number(s) + 1) : this.#p.bind(s)))].join(', ')
          // One parse of the document per label: the raw value, unquoted when it is a string.
          const raw = this.alias(`JSONExtractRaw(${args})`)
          return { has: `(${raw} != '')`, val: `if(startsWith(${raw}, '"'), JSONExtractString(${raw}), ${raw})` }
        }
        return paths.map(one).reduce((a, b) => ({ has: `(${a.has} OR ${b.has})`, val: `if(${a.has}, ${a.val}, ${b.val})` }))
      }
      case 'logfmt': {
        const key = f.extract ? f.extract.get(name) : name
        if (key === undefined) return ABSENT
        const k = this.#p.bind(key)
        const kv = this.alias(logfmtMap(f.line))
        return { has: `mapContains(${kv}, ${k})`, val: `${kv}[${k}]` }
      }
      case 'regexp': {
        const i = f.names.indexOf(name)
        if (i < 0) return ABSENT
        return { has: this.alias(`match(${f.line}, ${f.re})`), val: `${this.alias(`extractGroups(${f.line}, ${f.re})`)}[${i + 1}]` }
      }
      case 'set':
        return f.label === name ? f.value : ABSENT
    }
  }

  apply(stage: Stage): void {
    this.#stage++
    switch (stage.kind) {
      case 'line_filter':
        return this.#lineFilter(stage.op, stage.values, stage.ip)
      case 'parser':
        return this.#parser(stage)
      case 'label_filter':
        this.where.push(this.#labelFilter(stage.expr))
        return
      case 'line_format':
        this.line = this.alias(this.template(stage.template))
        return
      case 'label_format':
        for (const op of stage.ops) {
          if ('source' in op) {
            const value = this.lookup(op.source)
            this.#frames.push({ kind: 'set', label: op.label, value })
            if (op.source !== op.label) this.#dropped.add(op.source)
          } else {
            this.#frames.push({ kind: 'set', label: op.label, value: { has: '1', val: this.template(op.template) } })
          }
          this.#dropped.delete(op.label)
        }
        return
      case 'drop':
        for (const l of stage.labels) {
          if ('op' in l) this.#dropMatchers.push(l)
          else this.#dropped.add(l.name)
        }
        return
      case 'keep':
        this.#kept = new Set(stage.labels.map((l) => l.name))
        return
      case 'decolorize':
        this.line = this.alias(`replaceRegexpAll(${this.line}, '\\x1b\\\\[[0-9;]*m', '')`)
        return
    }
  }

  #lineFilter(op: string, values: string[], ip?: boolean): void {
    if (ip) throw unsupported('ip() line filters')
    const one = (v: string) => {
      if (op === '|>' || op === '!>') {
        const re = `match(${this.line}, ${this.#p.bind(patternFilterRegex(v))})`
        // The patterns endpoint answers Sluice's templates, mined from a structured line's message
        // (its `msg`, the text after a syslog header): a pattern taken from there matches the
        // lines of that template, though not their whole text.
        return this.line === 'Body' ? `(${re} OR Template = ${this.#p.bind(v.replaceAll('<_>', '<*>'))})` : re
      }
      if (op === '|=' || op === '!=') return this.line === 'Body' ? `Body LIKE ${this.#p.bind(likePattern(v))}` : `position(${this.line}, ${this.#p.bind(v)}) > 0`
      return `match(${this.line}, ${this.#p.bind(v)})`
    }
    const any = values.length === 1 ? one(values[0]!) : `(${values.map(one).join(' OR ')})`
    this.where.push(op === '!=' || op === '!~' || op === '!>' ? `NOT ${any}` : any)
  }

  #parser(stage: Extract<Stage, { kind: 'parser' }>): void {
    const line = this.line
    switch (stage.parser) {
      case 'json': {
        const extract = stage.extract?.length ? new Map(stage.extract.map((e) => [e.label, jsonPath(e.expr)])) : undefined
        this.#frames.push(extract ? { kind: 'json', line, extract } : { kind: 'json', line })
        this.error = this.alias(`multiIf(${this.error} != '', ${this.error}, NOT isValidJSON(${line}), 'JSONParserErr', '')`)
        return
      }
      case 'logfmt': {
        if (stage.flags?.includes('strict')) throw unsupported('logfmt --strict')
        const extract = stage.extract?.length ? new Map(stage.extract.map((e) => [e.label, e.expr])) : undefined
        this.#frames.push(extract ? { kind: 'logfmt', line, extract } : { kind: 'logfmt', line })
        return
      }
      case 'regexp': {
        const names = groupNames(stage.param ?? '')
        if (names.length === 0) throw new SluiceError('VALIDATION_FAILED', 'the regexp parser needs at least one named capture group (?P<name>…)')
        this.#frames.push({ kind: 'regexp', line, re: this.#p.bind(stage.param), names })
        return
      }
      case 'pattern': {
        const { re, names } = patternRegex(stage.param ?? '')
        this.#frames.push({ kind: 'regexp', line, re: this.#p.bind(re), names })
        return
      }
      case 'unpack':
        throw unsupported('| unpack')
    }
  }

  #labelFilter(e: LabelFilterExpr): string {
    if (e.kind === 'ip') throw unsupported('ip() label filters')
    if (e.kind !== 'compare') return `(${this.#labelFilter(e.left)} ${e.kind.toUpperCase()} ${this.#labelFilter(e.right)})`
    const l = this.lookup(e.label)
    const v = e.value
    if (v.type === 'string') {
      switch (e.op) {
        case '=':
        case '==':
          return `${l.val} = ${this.#p.bind(v.value)}`
        case '!=':
          return `${l.val} != ${this.#p.bind(v.value)}`
        case '=~':
          return `match(${l.val}, ${this.#p.bind(anchored(v.value))})`
        case '!~':
          return `NOT match(${l.val}, ${this.#p.bind(anchored(v.value))})`
        default:
          throw new SluiceError('VALIDATION_FAILED', `label filter ${e.label} ${e.op} "${v.value}": ${e.op} compares numbers, durations or bytes, not strings`)
      }
    }
    if (e.op === '=~' || e.op === '!~') throw new SluiceError('VALIDATION_FAILED', `label filter ${e.label} ${e.op}: a regular expression must be a string`)
    const conv = this.alias(convert(l.val, v))
    const op = e.op === '==' ? '=' : e.op
    // Loki keeps a line whose label does not convert, marked with __error__=LabelFilterErr.
    this.error = this.alias(`multiIf(${this.error} != '', ${this.error}, ${l.has} AND isNull(${conv}), 'LabelFilterErr', '')`)
    return `(${l.has} AND (isNull(${conv}) OR ${conv} ${op} ${this.#p.bind(numeric(v), 'Float64')}))`
  }

  /** A Go text/template of `{{.label}}`s, `{{__line__}}` and text, as a String expression. */
  template(text: string): string {
    const parts: string[] = []
    let rest = text
    while (rest.length) {
      const open = rest.indexOf('{{')
      if (open < 0) {
        parts.push(this.#p.bind(rest))
        break
      }
      if (open > 0) parts.push(this.#p.bind(rest.slice(0, open)))
      const close = rest.indexOf('}}', open)
      if (close < 0) throw new SluiceError('VALIDATION_FAILED', `template ${JSON.stringify(text)}: unclosed {{`)
      const action = rest.slice(open + 2, close).replace(/^-?\s*|\s*-?$/g, '')
      const field = /^\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(action)
      if (field) parts.push(this.lookup(field[1]!).val)
      else if (action === '__line__') parts.push(this.line)
      else throw unsupported(`template action {{${action}}} (Sluice's templates take {{.label}} and {{__line__}})`)
      rest = rest.slice(close + 2)
    }
    return parts.length === 0 ? "''" : parts.length === 1 ? `toString(${parts[0]})` : `concat(${parts.join(', ')})`
  }

  /** Labels the parsers extracted, as Map(String, String) (empty when none ran). */
  parsedMap(): string {
    const maps = this.#frames.map((f): string => {
      switch (f.kind) {
        case 'json':
          if (f.extract) return `map(${[...f.extract.keys()].flatMap((k) => [this.#p.bind(k), this.#frameLookup(f, k).val]).join(', ')})`
          return `CAST(${jsonFlat(f.line)}, 'Map(String, String)')`
        case 'logfmt':
          if (f.extract) return `map(${[...f.extract.keys()].flatMap((k) => [this.#p.bind(k), this.#frameLookup(f, k).val]).join(', ')})`
          return logfmtMap(f.line)
        case 'regexp':
          return `if(match(${f.line}, ${f.re}), mapFromArrays(${this.#p.bind(f.names, 'Array(String)')}, extractGroups(${f.line}, ${f.re})), map())`
        case 'set':
          return `map(${this.#p.bind(f.label)}, ${f.value.val})`
      }
    })
    const merged = this.alias(maps.length === 0 ? 'CAST(map(), \'Map(String, String)\')' : maps.reduce((a, b) => `mapUpdate(${a}, CAST(${b}, 'Map(String, String)'))`, `CAST(map(), 'Map(String, String)')`))
    const withError = `if(${this.error} = '', ${merged}, mapUpdate(${merged}, map('__error__', ${this.error})))`
    return this.#visible(nonEmpty(this.error === "''" ? merged : withError))
  }

  /**
   * The answer's columns for log lines, and how a row of them becomes Loki's line: the raw label
   * columns, the error label and one column per parser (the line it read, or what it extracted),
   * assembled into stream labels, structured metadata and parsed labels by `shape`.
   */
  output(): { columns: string; shape(row: OutputRow): { stream: Labels; meta: Labels; parsed: Labels } } {
    const frames = this.#frames.map((f, i) => {
      const col = `_f${i}`
      switch (f.kind) {
        case 'json':
          if (f.extract) return { kind: 'map' as const, col, sql: `map(${[...f.extract.keys()].flatMap((k) => [this.#p.bind(k), this.#frameLookup(f, k).val]).join(', ')})` }
          return { kind: 'json' as const, col, sql: f.line }
        case 'logfmt':
          if (f.extract) return { kind: 'map' as const, col, sql: `map(${[...f.extract.keys()].flatMap((k) => [this.#p.bind(k), this.#frameLookup(f, k).val]).join(', ')})` }
          return { kind: 'map' as const, col, sql: logfmtMap(f.line) }
        case 'regexp':
          return { kind: 'groups' as const, col, names: f.names, sql: `if(match(${f.line}, ${f.re}), extractGroups(${f.line}, ${f.re}), [])` }
        case 'set':
          return { kind: 'set' as const, col, label: f.label, sql: f.value.val }
      }
    })
    const columns = [
      `toString(toUnixTimestamp64Nano(Timestamp)) AS ts`,
      `${this.line} AS line`,
      `ResourceAttributes AS _res`,
      `LogAttributes AS _attrs`,
      ...Object.entries(STREAM).map(([k, b]) => `${b.str} AS _s_${k}`),
      ...Object.entries(META).map(([k, b]) => `${b.str} AS _m_${k}`),
      `${this.error} AS _error`,
      ...frames.map((f) => `${f.sql} AS ${f.col}`),
    ].join(', ')
    const vis: Visibility = {
      dropped: new Set(this.#dropped),
      kept: this.#kept && new Set([...this.#kept]),
      dropMatchers: this.#dropMatchers.map((m) => {
        const re = m.op === '=~' || m.op === '!~' ? new RegExp(anchored(m.value.replace(/\(\?P</g, '(?<'))) : undefined
        const hit = (v: string) => (re ? re.test(v) : v === m.value)
        return { name: m.name, test: m.op === '=' || m.op === '=~' ? hit : (v: string) => !hit(v) }
      }),
    }
    const shape = (row: OutputRow) => {
      const stream = nonEmptySanitised(row._res, 'service.name')
      for (const k of STREAM_LABELS) if (row[`_s_${k}`]) stream[k] = row[`_s_${k}`] as string
      const meta = nonEmptySanitised(row._attrs)
      for (const k of META_LABELS) if (row[`_m_${k}`]) meta[k] = row[`_m_${k}`] as string
      let parsed: Labels = {}
      for (const f of frames) {
        const v = row[f.col]
        if (f.kind === 'json') parsed = { ...parsed, ...flattenJson(v as string) }
        else if (f.kind === 'map') parsed = { ...parsed, ...(v as Labels) }
        else if (f.kind === 'groups') (v as string[]).forEach((g, i) => f.names[i] && (parsed[f.names[i]] = g))
        else parsed[f.label] = v as string
      }
      for (const k of Object.keys(parsed)) if (parsed[k] === '') delete parsed[k]
      if (row._error) parsed.__error__ = row._error as string
      return { stream: visible(stream, vis), meta: visible(meta, vis), parsed: visible(parsed, vis) }
    }
    return { columns, shape }
  }

  /** A map with the drop/keep stages applied. */
  #visible(map: string): string {
    const conds: string[] = []
    if (this.#dropped.size) conds.push(`k NOT IN ${this.#p.bind([...this.#dropped], 'Array(String)')}`)
    if (this.#kept) conds.push(`k IN ${this.#p.bind([...this.#kept, '__error__'].filter((k) => k !== '__error__' || this.#kept!.has(k)), 'Array(String)')}`)
    for (const m of this.#dropMatchers) conds.push(`NOT (k = ${this.#p.bind(m.name)} AND ${matchSql('v', m.op, m.value, this.#p)})`)
    return conds.length ? `mapFilter((k, v) -> ${conds.join(' AND ')}, ${map})` : map
  }

  streamMap(): string {
    return this.#visible(STREAM_MAP)
  }

  metaMap(): string {
    return this.#visible(META_MAP)
  }

  /** The labels of a metric series, as Loki gives them: stream labels over structured metadata over parsed labels. */
  seriesMap(grouping?: Grouping): string {
    if (grouping?.mode === 'by') {
      if (grouping.labels.length === 0) return `CAST(map(), 'Map(String, String)')`
      return nonEmpty(`CAST(map(${grouping.labels.flatMap((l) => [this.#p.bind(l), this.lookup(l).val]).join(', ')}), 'Map(String, String)')`)
    }
    const full = `mapUpdate(mapUpdate(${this.parsedMap()}, ${this.metaMap()}), ${this.streamMap()})`
    if (grouping?.mode === 'without') return `mapFilter((k, v) -> k NOT IN ${this.#p.bind(grouping.labels, 'Array(String)')}, ${full})`
    return full
  }
}

/**
 * A JSON object's fields as (name, value) pairs, nested objects flattened into `a_b` names as
 * Loki's json parser does (three levels deep; deeper objects stay JSON text), strings unquoted,
 * names sanitised.
 */
function jsonFlat(line: string, depth = 1): string {
  const kv = `kv${depth}`
  const name = depth === 1 ? `${kv}.1` : `concat(prefix${depth - 1}, '_', ${kv}.1)`
  const leaf = `[(replaceRegexpAll(${name}, '[^a-zA-Z0-9_]', '_'), if(startsWith(${kv}.2, '"'), JSONExtractString(${kv}.2), ${kv}.2))]`
  const nested = depth < 3 ? `if(startsWith(${kv}.2, '{'), ${jsonFlat(`${kv}.2`, depth + 1).replaceAll(`prefix${depth}`, name)}, ${leaf})` : leaf
  return `arrayFlatten(arrayMap(${kv} -> ${nested}, JSONExtractKeysAndValuesRaw(${line})))`
}

const logfmtMap = (line: string) => `extractKeyValuePairs(${line}, '=', ' ', '"')`

function matchSql(expr: string, op: Matcher['op'], value: string, p: Params): string {
  switch (op) {
    case '=':
      return `${expr} = ${p.bind(value)}`
    case '!=':
      return `${expr} != ${p.bind(value)}`
    case '=~':
      return `match(${expr}, ${p.bind(anchored(value))})`
    case '!~':
      return `NOT match(${expr}, ${p.bind(anchored(value))})`
  }
}

/** Loki anchors label regular expressions at both ends. */
const anchored = (re: string) => `^(?:${re})$`

/** LIKE pattern matching `s` literally. */
export const likePattern = (s: string) => `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`

function numeric(v: Exclude<LabelValue, { type: 'string' }>): number {
  return v.type === 'number' ? v.value : v.type === 'duration' ? v.seconds : v.bytes
}

function convert(val: string, v: Exclude<LabelValue, { type: 'string' }>): string {
  return v.type === 'duration' ? durationSeconds(val) : v.type === 'bytes' ? bytesValue(val) : `toFloat64OrNull(${val})`
}

/** `a.b[0].c` or `a["b c"]` → path segments (indexes as digit strings). */
function jsonPath(expr: string): string[] {
  const out: string[] = []
  const re = /([^.[\]]+)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]/g
  for (const m of expr.matchAll(re)) out.push(m[1] ?? m[2] ?? m[3]!.replace(/\\(.)/g, '$1'))
  if (out.length === 0) throw new SluiceError('VALIDATION_FAILED', `json expression ${JSON.stringify(expr)} names no field`)
  return out
}

/** The names of `(?P<name>…)` / `(?<name>…)` groups in order; unnamed groups are not allowed between (they would shift indexes). */
function groupNames(re: string): string[] {
  const names: string[] = []
  for (let i = 0; i < re.length; i++) {
    const c = re[i]
    if (c === '\\') {
      i++
      continue
    }
    if (c === '[') {
      // skip a character class
      for (i++; i < re.length && re[i] !== ']'; i++) if (re[i] === '\\') i++
      continue
    }
    if (c !== '(') continue
    const named = /^\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(re.slice(i))
    if (named) names.push(named[1]!)
    else if (re[i + 1] !== '?') names.push('') // an unnamed capturing group still takes an index
  }
  return names
}

/** Loki's pattern parser (`<ip> - <_> [<ts>] "<method> <path>"`) as an anchored regular expression. */
export function patternRegex(pattern: string): { re: string; names: string[] } {
  const names: string[] = []
  let re = ''
  const parts = pattern.split(/(<[A-Za-z_][A-Za-z0-9_]*>)/)
  parts.forEach((part, i) => {
    if (i % 2 === 0) {
      re += part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      return
    }
    const name = part.slice(1, -1)
    // Loki matches a capture lazily up to the next literal; the last one takes the rest of the line.
    const last = i === parts.length - 2 && parts[parts.length - 1] === ''
    const body = last ? '.*' : '.*?'
    if (name === '_') re += `(?:${body})`
    else {
      names.push(name)
      re += `(?P<${name}>${body})`
    }
  })
  if (names.length === 0) throw new SluiceError('VALIDATION_FAILED', 'the pattern parser needs at least one named capture <name>')
  return { re: `^${re}`, names }
}

/** A `|>` pattern filter as a regular expression over the whole line: `<_>` and `<name>` match anything. */
export function patternFilterRegex(pattern: string): string {
  const parts = pattern.split(/<[A-Za-z_][A-Za-z0-9_]*>/)
  return `^${parts.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`
}

// ---- statements ------------------------------------------------------------------------------

export interface Scope {
  db: string
  tenant: string
  /**
   * Which label names exist as attribute keys of the tenant (false: none does). A label a parser
   * extracts must defer to an attribute of the same name, as Loki's do to structured metadata;
   * knowing there is none spares reading both attribute maps for every row. Unknown names are
   * looked up in the maps.
   */
  attributes?: ReadonlyMap<string, boolean>
}

/** WHERE clauses every statement starts with: tenant, time (on the sorting key too), selector. */
function base(scope: Scope, matchers: readonly Matcher[], fromNs: bigint, toNs: bigint, p: Params, pipe: Pipeline): string[] {
  // As Loki: a selector must narrow the data, with a matcher the empty value does not pass.
  if (!matchers.some((m) => !matchesEmpty(m))) {
    throw new SluiceError('VALIDATION_FAILED', 'queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~".*" does not meet this requirement, but app=~".+" will')
  }
  const clauses = [
    `tenant = ${p.bind(scope.tenant)}`,
    `TimestampTime >= toDateTime(${p.bind(Number(fromNs / 1_000_000_000n), 'Int64')})`,
    `TimestampTime <= toDateTime(${p.bind(Number(toNs / 1_000_000_000n) + 1, 'Int64')})`,
    `Timestamp >= fromUnixTimestamp64Nano(${p.bind(fromNs.toString(), 'Int64')})`,
    `Timestamp < fromUnixTimestamp64Nano(${p.bind(toNs.toString(), 'Int64')})`,
  ]
  for (const m of matchers) {
    const b = builtin(m.name)
    if (b) clauses.push(matchSql(b.column, m.op, m.value, p))
    else {
      const l = pipe.lookup(m.name)
      clauses.push(matchSql(l.val, m.op, m.value, p))
    }
  }
  return clauses
}

function matchesEmpty(m: Matcher): boolean {
  if (m.op === '=') return m.value === ''
  if (m.op === '!=') return m.value !== ''
  let re: RegExp
  try {
    re = new RegExp(anchored(m.value.replace(/\(\?P</g, '(?<')))
  } catch {
    return true // judged by ClickHouse's RE2 when the query runs
  }
  return m.op === '=~' ? re.test('') : !re.test('')
}

export interface LogStatement {
  /** Labels the statement looked up as possible attributes (a probe can settle them; see Scope.attributes). */
  attributes?: string[]
  query: string
  params: Record<string, unknown>
}

/**
 * Rows of a log query in [fromNs, toNs), shaped by `select` (which sees the pipeline's final state)
 * and finished by `tail` (ORDER BY, GROUP BY, LIMIT; parameters bound through `p`).
 */
export function compileSelect(
  scope: Scope,
  expr: LogExpr,
  fromNs: bigint,
  toNs: bigint,
  select: (pipe: Pipeline, p: Params) => string,
  tail: (p: Params) => string = () => '',
  more: (p: Params) => string[] = () => [],
  filter = true,
): LogStatement {
  const p = new Params()
  const pipe = new Pipeline(p, scope.attributes)
  const where = base(scope, expr.matchers, fromNs, toNs, p, pipe)
  for (const s of expr.pipeline) pipe.apply(s)
  const columns = select(pipe, p)
  const conditions = [...where, ...more(p), ...(filter ? pipe.where : [])].join('\n  AND ')
  const query = `${pipe.with}SELECT ${columns}
FROM ${scope.db}.logs
WHERE ${conditions}
${tail(p)}`
  return { query, params: p.values, attributes: [...pipe.attributeNames] }
}

/** A log line as answered: its time, line, stream labels, structured metadata and parsed labels. */
export interface LogLine {
  ts: string
  line: string
  stream: Labels
  meta: Labels
  parsed: Labels
}

/** A statement answering log lines, and how each of its rows becomes one. */
export interface LinesStatement extends LogStatement {
  shape(row: OutputRow): LogLine
}

/** compileSelect for log lines: the output columns (plus `extra`), and the row shaper to match. */
export function compileLines(scope: Scope, expr: LogExpr, opts: { fromNs: bigint; toNs: bigint; extra?: string; tail?: (p: Params) => string; more?: (p: Params) => string[]; filter?: boolean }): LinesStatement {
  let shape: ((row: OutputRow) => { stream: Labels; meta: Labels; parsed: Labels }) | undefined
  const st = compileSelect(
    scope,
    expr,
    opts.fromNs,
    opts.toNs,
    (pipe) => {
      const o = pipe.output()
      shape = o.shape
      return opts.extra ? `${o.columns}, ${opts.extra}` : o.columns
    },
    opts.tail,
    opts.more,
    opts.filter,
  )
  return { ...st, shape: (row) => ({ ts: row.ts, line: row.line, ...shape!(row) }) }
}

/**
 * Newest (backward) or oldest (forward) `limit` lines of a log query in [fromNs, toNs). The label
 * columns are read raw and assembled per returned line (output.ts), so nothing per-row beyond the
 * filters runs in ClickHouse.
 */
export function compileLogQuery(scope: Scope, expr: LogExpr, range: { fromNs: bigint; toNs: bigint; limit: number; direction: 'backward' | 'forward' }): LinesStatement {
  const dir = range.direction === 'forward' ? 'ASC' : 'DESC'
  return compileLines(scope, expr, {
    fromNs: range.fromNs,
    toNs: range.toNs,
    // A record re-delivered after a crash is stored twice until ClickHouse merges the copies: one line per id.
    tail: (p) => `ORDER BY TimestampTime ${dir}, Timestamp ${dir}\nLIMIT 1 BY id\nLIMIT ${p.bind(range.limit, 'UInt32')}`,
  })
}

export interface Steps {
  startNs: bigint
  endNs: bigint
  stepNs: bigint
}

export const stepCount = (s: Steps) => Number((s.endNs - s.startNs) / s.stepNs) + 1

/**
 * A range aggregation evaluated at every step t = start + i·step in [start, end]: the samples in
 * (t − offset − range, t − offset] of each series. Rows are (labels, [i…], [value…]). `grouping` is the
 * series' labels: the aggregation's own `by`/`without`, or one pushed down from an enclosing
 * `sum by (…)` where summing first gives the same answer.
 */
export function compileRange(scope: Scope, r: RangeAggregation, steps: Steps, grouping: Grouping | undefined): LogStatement {
  const p = new Params()
  const pipe = new Pipeline(p, scope.attributes)
  const offset = r.offsetNs ?? 0n
  const fromNs = steps.startNs - offset - r.rangeNs + 1n
  const toNs = steps.endNs - offset + 1n
  const where = base(scope, r.log.matchers, fromNs, toNs, p, pipe)
  for (const s of r.log.pipeline) pipe.apply(s)
  let value = '1'
  if (r.unwrap) {
    const l = pipe.lookup(r.unwrap.label)
    const kind = r.unwrap.conversion === 'bytes' ? 'bytes' : r.unwrap.conversion ? 'duration' : 'number'
    value = pipe.alias(kind === 'bytes' ? bytesValue(l.val) : kind === 'duration' ? durationSeconds(l.val) : `toFloat64OrNull(${l.val})`)
    for (const f of r.unwrap.post) pipe.apply(f)
    where.push(`${value} IS NOT NULL`)
  } else if (UNWRAPPED.has(r.op)) {
    throw new SluiceError('VALIDATION_FAILED', `${r.op} needs an unwrapped label: … | unwrap <label> [range]`)
  }
  const rangeS = Number(r.rangeNs) / 1e9
  const agg = aggregate(r, rangeS, p)
  const k = (r.rangeNs + steps.stepNs - 1n) / steps.stepNs + 1n
  const t = `(toUnixTimestamp64Nano(Timestamp) + ${p.bind(offset.toString(), 'Int64')})`
  const rel = `(${t} - ${p.bind((steps.startNs - k * steps.stepNs).toString(), 'Int64')})`
  const step = p.bind(steps.stepNs.toString(), 'Int64')
  const lo = `greatest(toInt64(0), intDiv(${rel} + ${step} - 1, ${step}) - ${p.bind(k.toString(), 'Int64')})`
  const hi = `least(toInt64(${p.bind(stepCount(steps) - 1, 'Int64')}), intDiv(${rel} + ${p.bind((r.rangeNs - 1n).toString(), 'Int64')}, ${step}) - ${p.bind(k.toString(), 'Int64')})`
  // `by` labels are grouped on as plain columns and put into a map once per group; a window no
  // longer than the step holds each row at most once, so no row is repeated per step.
  const g = grouping ?? r.grouping
  const byCols = g?.mode === 'by' ? g.labels.map((l, j) => `${pipe.lookup(l).val} AS g${j}`) : undefined
  const series = byCols ? byCols.join(', ') : `${pipe.seriesMap(g)} AS labels`
  const labels = byCols
    ? `mapFilter((k, v) -> v != '', CAST(map(${g!.labels.flatMap((l, j) => [p.bind(l), `g${j}`]).join(', ') || "'', ''"}), 'Map(String, String)'))`
    : 'labels'
  const keys = byCols ? byCols.map((_, j) => `g${j}`) : ['labels']
  const single = r.rangeNs <= steps.stepNs
  const conditions = [...where, ...pipe.where].join('\n    AND ')
  // One row per series, its steps and values as arrays: a few rows to hand to JavaScript, not one per point.
  const query = `SELECT labels, groupArray(toUInt32(i)) AS i, groupArray(v) AS v FROM (
SELECT ${labels} AS labels, i, ${agg} AS v FROM (
  ${pipe.with}SELECT ${[series, `${t} AS t`, r.unwrap ? `${value} AS x` : '', r.op.startsWith('bytes') ? `length(${pipe.line}) AS b` : '', `${lo} AS lo`, `${hi} AS hi`].filter(Boolean).join(', ')}
  FROM ${scope.db}.logs
  WHERE ${conditions}
)
${single ? 'WHERE lo <= hi' : 'ARRAY JOIN range(lo, hi + 1) AS i'}
GROUP BY ${[...keys, single ? 'lo AS i' : 'i'].join(', ')}
)
GROUP BY labels`
  return { query, params: p.values, attributes: [...pipe.attributeNames] }
}

const UNWRAPPED = new Set(['sum_over_time', 'avg_over_time', 'min_over_time', 'max_over_time', 'stddev_over_time', 'stdvar_over_time', 'quantile_over_time', 'first_over_time', 'last_over_time'])

function aggregate(r: RangeAggregation, rangeS: number, p: Params): string {
  const perSecond = p.bind(rangeS, 'Float64')
  switch (r.op) {
    case 'count_over_time':
      return 'toFloat64(count())'
    case 'rate':
      return r.unwrap ? `sum(x) / ${perSecond}` : `count() / ${perSecond}`
    case 'bytes_over_time':
      return 'toFloat64(sum(b))'
    case 'bytes_rate':
      return `sum(b) / ${perSecond}`
    case 'sum_over_time':
      return 'sum(x)'
    case 'avg_over_time':
      return 'avg(x)'
    case 'min_over_time':
      return 'min(x)'
    case 'max_over_time':
      return 'max(x)'
    case 'stddev_over_time':
      return 'stddevPop(x)'
    case 'stdvar_over_time':
      return 'varPop(x)'
    case 'quantile_over_time': {
      const q = r.param ?? NaN
      if (!(q >= 0 && q <= 1)) throw new SluiceError('VALIDATION_FAILED', `quantile_over_time: φ must be between 0 and 1, got ${r.param}`)
      return `quantileExactInclusive(${q})(x)`
    }
    case 'first_over_time':
      return 'argMin(x, t)'
    case 'last_over_time':
      return 'argMax(x, t)'
    case 'rate_counter':
    case 'absent_over_time':
      throw unsupported(r.op)
  }
}

/** Ops whose per-series results may be summed before or after grouping with the same answer. */
export const ADDITIVE = new Set(['count_over_time', 'rate', 'bytes_over_time', 'bytes_rate', 'sum_over_time'])
