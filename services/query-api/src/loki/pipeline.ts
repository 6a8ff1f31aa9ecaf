// A LogQL pipeline as SQL: stages become expressions over a running state — the current line
// (line_format replaces it), the parsers seen so far (a label's value is the first parser's that
// set it on the line, unless a label_format after it set it again; labels that exist before
// parsing win, stream labels and a line's attributes alike, as Loki renames a colliding parsed
// label to `<name>_extracted`), the `__error__` and `__error_details__` expressions, and the labels
// dropped or kept. Where Sluice differs from Loki (stated in the README's LogQL table): `| json`
// flattens nested objects three levels deep in SQL (fully in answered lines); a JSON line that
// breaks off inside its object is marked without details. `| logfmt` reads a line as Loki's
// decoder does (logfmt.ts); its extraction parameters are refused in metric queries, where Loki's
// answer depends on which labels the query needs (its parser hints).
import { SluiceError } from '@sluice/core'
import { re2 } from '../logql/re2.js'
import type { Grouping, LabelFilterExpr, Matcher, Stage } from '../logql/ast.js'
import { ERROR_LABELS, asciiLower, flattenJson, nonEmptySanitised, visible } from './output.js'
import type { Labels, Visibility } from './output.js'
import {
  META,
  META_LABELS,
  META_MAP,
  STREAM,
  STREAM_LABELS,
  STREAM_MAP,
  anchored,
  bodyContains,
  bodyMatches,
  bindNumeric,
  builtin,
  convert,
  groupNames,
  ipCondition,
  lineHasIp,
  jsonFlat,
  jsonPath,
  looksRare,
  matchSql,
  nonEmpty,
  patternFilterRegex,
  patternRegex,
  regexLiteral,
  unsupported,
} from './sql.js'
import { Params } from './sql.js'
import type { Builtin } from './sql.js'
import { JSON_NOT_OBJECT, JSON_NOT_OBJECT_TEXT, UNPACK_NOT_OBJECT, conversionDetails, conversionTag, wordDetails, wordTag } from './go-errors.js'
import type { Converter } from './go-errors.js'
import { decodeSentLogfmt, logfmtRawSql } from './logfmt-decode.js'
import { logfmtExtractSql, logfmtPlainSql, logfmtSql } from './logfmt.js'
import { compileTemplate } from './template.js'
import type { CompiledTemplate } from './template.js'

// An answered line's built-in labels come from their stored columns, selected once each as they
// are (`_c_HostName`) and lowered here where a label asks for it: an expression in the SELECT list
// is computed for every row read before ORDER BY … LIMIT keeps a page of them, a plain column only
// for the rows kept. Each label beside its column, built once, not per row.
const labelColumns = (labels: readonly string[], set: Record<string, Builtin>) =>
  labels.map((k) => ({ label: k, col: `_c_${set[k]!.stored}`, lower: set[k]!.lower === true }))
const STREAM_COLUMNS = labelColumns(STREAM_LABELS, STREAM)
const META_COLUMNS = labelColumns(META_LABELS, META)
const STORED_COLUMNS = [...new Set([...Object.values(STREAM), ...Object.values(META)].map((b) => b.stored))].map((c) => `${c} AS _c_${c}`)

/** A row of the columns `Pipeline.output()` selects. */
export type OutputRow = Record<string, unknown> & { ts: string; line: string; _res?: Record<string, string>; _attrs?: Record<string, string>; _error?: string; _error_details?: string }

interface Lookup {
  has: string
  val: string
}
const ABSENT: Lookup = { has: '0', val: "''" }

type Frame =
  | { kind: 'json'; line: string; extract?: Map<string, string[]> }
  /**
   * The labels as Loki's decoder reads them (logfmt.ts), a Map(String, String); `extracted`: the labels
   * asked for, each set. `plain`: no flags and no parameters, so an answered line's labels are read
   * in JavaScript (logfmt-decode.ts), and the map is written into the statement only where a later
   * stage reads a label of it.
   */
  | { kind: 'logfmt'; line: string; map: string; extracted?: ReadonlySet<string>; plain?: true }
  /** `| unpack`: the line's top-level string fields but `_entry`, as Map(String, String). */
  | { kind: 'unpack'; line: string; map: string }
  | { kind: 'regexp'; line: string; re: string; names: string[] }
  | { kind: 'set'; label: string; value: Lookup }

/**
 * Whether a stage names a label, as Loki's RequiredLabelNames() has it: a label filter, a rename,
 * a template that reads a field. A metric over one series whose pipeline names none needs no label
 * (compileRange), and Loki's parsers then do not run.
 */
export function namesLabel(stage: Stage): boolean {
  const readsField = (text: string) => {
    let reads = false
    try {
      compileTemplate(text, { p: new Params(), label: () => ((reads = true), "''"), line: 'Body', timestamp: 'Timestamp' })
    } catch {
      // The pipeline reports the template's error when it compiles the stage.
    }
    return reads
  }
  switch (stage.kind) {
    case 'label_filter':
      return true
    case 'line_format':
      return readsField(stage.template)
    case 'label_format':
      return stage.ops.some((op) => 'source' in op || readsField(op.template))
    default:
      return false
  }
}

/**
 * One stage's marking of lines with an error, as answered lines get it: the same logic as the
 * `__error__` and `__error_details__` expressions (Pipeline.replaceError, #raise), worked out in
 * JavaScript for the lines answered (output), so a statement that reads neither label carries
 * only what decides each mark.
 */
interface Mark {
  /** Whether it replaces an error set before (a parser's), or marks only lines without one (a label filter's, a template's). */
  replace: boolean
  name: string
  /** Where it applies, a condition. */
  failed: string
  /** What __error_details__ becomes where it applies (left as it was without). */
  details?: MarkDetails
  /**
   * A parser's test of its line, made here where that line is the one answered: `valid` is the
   * one function of the line it needs from SQL (isValidJSON).
   */
  js?: { line: string; valid: string; failed(text: string, valid: boolean): boolean; details?(text: string): string }
}

/** __error_details__ as a mark sets it: a String expression, or a converter's refusal of a value (a tag, go-errors.ts). */
type MarkDetails = string | { kind: Converter; value: string }

/** A condition's value in a row (UInt8, or Bool). */
const truthy = (v: unknown) => v === 1 || v === true

/** A line whose first token is a `{`: `| json`'s test, here and (the same pattern) in SQL. */
const JSON_OBJECT_START = /^[\t\n\r ]*[{]/
const JSON_OBJECT_START_SQL = `'${JSON_OBJECT_START.source.replaceAll('\\', '\\\\')}'`

/** The running state of a pipeline: everything later stages and the SELECT list read. */
/** The stored attribute keys one label name stands for, by the map that holds them (see Scope.attributes). */
export interface AttributeKeys {
  resource: readonly string[]
  log: readonly string[]
}

/** The attribute keys settled for label names (undefined: a name not settled). */
export interface AttributeLookup {
  get(name: string): AttributeKeys | undefined
}

export class Pipeline {
  readonly where: string[] = []
  /** Whether a line filter reads Body with LIKE or ILIKE, which the text index answers by a scan of its dictionary. */
  bodyLike = false
  /**
   * Whether a line must hold a term that looks rare (sql.ts, looksRare: `|= "req-7f3a"`), so a
   * search goes to the text index at once rather than the newest slice first (guard.ts,
   * searchNewestFirst).
   */
  rareTerm = false
  line = 'Body'
  error = "''"
  /**
   * `__error_details__`: what the stage that set __error__ says of it, where Loki's says something;
   * a converter's refusal as a tag (go-errors.ts), worded where a filter reads it and for answers.
   */
  errorDetails = "''"
  /** Whether errorDetails can hold a converter's tag (made by #conversionDetails alone). */
  #tagged = false
  /** Whether a `drop __error__` ran: only then can a line keep __error_details__ without __error__ (and so reach a metric series). */
  #errorCleared = false
  /** The marks behind `error` and `errorDetails`, in order; undefined after a stage that resets or clears them (drop). */
  #marks: Mark[] | undefined = []
  readonly #frames: Frame[] = []
  readonly #dropped = new Set<string>()
  readonly #dropMatchers: Matcher[] = []
  #kept: Set<string> | undefined
  readonly #p: Params
  // Every derived value is defined once in the statement's WITH clause and referred to by name,
  // which keeps the statement short. ClickHouse's analyser still expands a name at every mention
  // and plans each copy before it merges them: a parser's reading of a line, mentioned by each
  // label read from it, is bound to a column of its own instead (bind).
  readonly #defs: string[] = []
  readonly #bound: string[] = []
  readonly #memo = new Map<string, Lookup>()
  #stage = 0
  /** Conditions under which the filter being compiled runs at all (the right side of an `or`). */
  readonly #guards: string[] = []

  readonly #attributes: AttributeLookup | undefined
  /** Every label looked up as a possible attribute: what a probe may settle (see Scope.attributes). */
  readonly attributeNames = new Set<string>()

  /** Set for a metric query's pipeline, which Loki runs with parser hints. */
  readonly #metric: boolean
  /** Loki's hint that the query needs no label (noLabels): its parsers do not run. */
  readonly #noLabels: boolean

  constructor(params: Params, attributes?: AttributeLookup, opts: { metric?: boolean; noLabels?: boolean } = {}) {
    this.#p = params
    this.#attributes = attributes
    this.#metric = opts.metric === true
    this.#noLabels = opts.noLabels === true
  }

  /** Names `expr` in the WITH clause; returns the name. */
  alias(expr: string): string {
    if (/^(__a\d+|'[^']*'|\d+|\w+)$/.test(expr)) return expr
    const name = `__a${this.#defs.length}`
    this.#defs.push(`${expr} AS ${name}`)
    return name
  }

  /**
   * The WITH clause of a statement over this pipeline whose other clauses are `rest`: the names
   * they refer to and those these refer to, in order (empty when none). Stages name what later
   * stages may read (the error labels, a parser's reading), and ClickHouse's analyser spends
   * ~0.1 ms on each function of a name given, whether or not the statement reads it.
   */
  with(...rest: string[]): string {
    const used = new Set<number>()
    const note = (text: string) => {
      for (const m of text.matchAll(/__a(\d+)/g)) used.add(Number(m[1]))
    }
    for (const r of rest) note(r)
    // A name refers only to names made before it.
    for (let i = this.#defs.length - 1; i >= 0; i--) if (used.has(i)) note(this.#defs[i]!.slice(0, this.#defs[i]!.lastIndexOf(' AS __a')))
    const defs = this.#defs.filter((_, i) => used.has(i))
    return defs.length ? `WITH ${defs.join(',\n  ')}\n` : ''
  }

  /**
   * Binds `expr` to a column of its own, once per row, through `ARRAY JOIN [expr] AS name`;
   * returns the name. For a parser's whole reading of a line: ClickHouse's analyser and planner
   * go over a named expression of the WITH clause again at every mention (a label filter, the
   * error label, the output each mention it), and a decoder's reading is thousands of nodes,
   * where a column is one. Unlike a WITH name it is computed for every row that reaches it, not
   * lazily under a condition: only for what every row needs.
   */
  bind(expr: string): string {
    const name = `__b${this.#bound.length}`
    this.#bound.push(`ARRAY JOIN [${expr}] AS ${name}`)
    return name
  }

  /** The ARRAY JOIN clauses after FROM of a statement over this pipeline (empty when nothing was bound). */
  get bound(): string {
    return this.#bound.map((b) => `${b}\n`).join('')
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
    if (name === '__error_details__') return this.#dropped.has(name) ? ABSENT : { has: `(${this.errorDetails} != '')`, val: this.#wordedDetails() }
    if (this.#dropped.has(name) || (this.#kept && !this.#kept.has(name))) return ABSENT
    const b = builtin(name)
    if (b) return { has: `(${b.str} != '')`, val: b.str }
    const stripped = name.endsWith('_extracted') ? name.slice(0, -'_extracted'.length) : undefined
    const base = stripped !== undefined && (builtin(stripped) || stripped === '') ? ABSENT : this.#attribute(name)
    // `<x>_extracted` where x is an attribute of the line (structured metadata): a parser's x,
    // which Loki renames so that the metadata keeps the name.
    const metadata = stripped !== undefined && stripped !== '' && !builtin(stripped) ? this.#attribute(stripped) : ABSENT
    let v: Lookup = ABSENT
    for (const f of this.#frames) {
      let own = this.#frameLookup(f, stripped !== undefined && builtin(stripped) ? stripped : name)
      if (metadata !== ABSENT && f.kind !== 'set') {
        const renamed = this.#frameLookup(f, stripped!)
        if (renamed !== ABSENT) {
          const has = `(${metadata.has} AND ${renamed.has})`
          own = own === ABSENT ? { has, val: renamed.val } : { has: `(${has} OR ${own.has})`, val: `if(${has}, ${renamed.val}, ${own.val})` }
        }
      }
      if (own === ABSENT) continue
      // A parser leaves a label an earlier stage set on the line as it is (Loki records what each
      // line's stages extracted and extracts no name twice); label_format overwrites it.
      if (v === ABSENT) v = own
      else if (f.kind === 'set') v = { has: `(${own.has} OR ${v.has})`, val: `if(${own.has}, ${own.val}, ${v.val})` }
      else v = { has: `(${v.has} OR ${own.has})`, val: `if(${v.has}, ${v.val}, ${own.val})` }
    }
    if (base === ABSENT) return v
    if (v === ABSENT) return base
    return { has: `(${base.has} OR ${v.has})`, val: `if(${base.has}, ${base.val}, ${v.val})` }
  }

  #attribute(name: string): Lookup {
    this.attributeNames.add(name)
    // The keys the name stands for, resource attributes first (as a stream label wins). Known to
    // be no attribute's name: the label comes from the parsers alone, and no map is read at all.
    const known = this.#attributes?.get(name)
    const guess = known ? [] : [...new Set([name, name.replace(/_/g, '.')])]
    const resource = known?.resource ?? guess
    const log = known?.log ?? guess
    if (resource.length === 0 && log.length === 0) return ABSENT
    const lookups = (map: string, keys: readonly string[]) => keys.map((k) => this.#p.bind(k)).flatMap((k) => [`mapContains(${map}, ${k})`, `${map}[${k}]`])
    const pairs = known ? [...lookups('ResourceAttributes', resource), ...lookups('LogAttributes', log)] : guess.flatMap((k) => [...lookups('ResourceAttributes', [k]), ...lookups('LogAttributes', [k])])
    const has = pairs.filter((_, i) => i % 2 === 0)
    return { has: `(${has.join(' OR ')})`, val: `multiIf(${pairs.join(', ')}, '')` }
  }

  #frameLookup(f: Frame, name: string): Lookup {
    switch (f.kind) {
      case 'json': {
        const paths = f.extract ? (f.extract.has(name) ? [f.extract.get(name)!] : []) : name.includes('_') ? [[name], name.split('_')] : [[name]]
        if (paths.length === 0) return ABSENT
        const args = (path: string[]) => [f.line, ...path.map((s) => (/^\d+$/.test(s) ? String(Number(s) + 1) : this.#p.bind(s)))].join(', ')
        if (!f.extract) {
          // `| json`: one parse of the document per label, as Loki's parser reads a field: a string
          // unescaped, a number or a boolean as text; a null is no label (Loki skips it). The
          // first path that holds a value wins (`a_b`: the field a_b, else b inside a).
          const found = paths.map((path) => `JSONExtract(${args(path)}, 'Nullable(String)')`)
          const v = this.alias(found.length === 1 ? found[0]! : `coalesce(${found.join(', ')})`)
          return { has: `isNotNull(${v})`, val: `ifNull(${v}, '')` }
        }
        const one = (path: string[]): Lookup => {
          // One parse of the document per label: the raw value, unquoted when it is a string.
          const raw = this.alias(`JSONExtractRaw(${args(path)})`)
          return { has: `(${raw} != '')`, val: `if(startsWith(${raw}, '"'), JSONExtractString(${raw}), ${raw})` }
        }
        return paths.map(one).reduce((a, b) => ({ has: `(${a.has} OR ${b.has})`, val: `if(${a.has}, ${a.val}, ${b.val})` }))
      }
      case 'logfmt': {
        // Loki sets every label it was asked to extract, to '' where the line has no value for it.
        if (f.extracted && !f.extracted.has(name)) return ABSENT
        const k = this.#p.bind(name)
        return { has: f.extracted ? '1' : `mapContains(${f.map}, ${k})`, val: `${f.map}[${k}]` }
      }
      case 'unpack': {
        const k = this.#p.bind(name)
        return { has: `mapContains(${f.map}, ${k})`, val: `${f.map}[${k}]` }
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
      case 'line_format': {
        const t = this.template(stage.template)
        // A template that fails (as Go's would) leaves the line as it was, marked TemplateFormatErr, as in Loki.
        if (t.error === '0') this.line = this.alias(t.sql)
        else this.line = this.alias(`if(${this.#templateFailed(t.error)}, ${this.line}, ${t.sql})`)
        return
      }
      case 'label_format':
        for (const op of stage.ops) {
          if ('source' in op) {
            const value = this.lookup(op.source)
            this.#frames.push({ kind: 'set', label: op.label, value })
            if (op.source !== op.label) this.#dropped.add(op.source)
          } else {
            // A template that fails sets no label (the label keeps what it had), marked TemplateFormatErr.
            const t = this.template(op.template)
            if (t.error === '0') this.#frames.push({ kind: 'set', label: op.label, value: { has: '1', val: t.sql } })
            else {
              const before = this.lookup(op.label)
              const failed = this.#templateFailed(t.error)
              this.#frames.push({ kind: 'set', label: op.label, value: { has: `(NOT ${failed} OR ${before.has})`, val: `if(${failed}, ${before.val}, ${t.sql})` } })
            }
          }
          this.#dropped.delete(op.label)
        }
        return
      case 'drop':
        for (const l of stage.labels) {
          if (l.name === '__error__') this.#errorCleared = true
          if (!('op' in l)) this.#dropped.add(l.name)
          else if (l.name === '__error__' || l.name === '__error_details__') this.#clearMatching(l)
          else this.#dropMatchers.push(l)
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
    const one = (v: string) => {
      if (ip) return lineHasIp(this.line, ipCondition(v, this.#p))
      if (op === '|>' || op === '!>') {
        const re = `match(${this.line}, ${this.#p.bind(patternFilterRegex(v))})`
        // The patterns endpoint answers Sluice's templates, mined from a structured line's message
        // (its `msg`, the text after a syslog header): a pattern taken from there matches the
        // lines of that template, though not their whole text.
        return this.line === 'Body' ? `(${re} OR Template = ${this.#p.bind(v.replaceAll('<_>', '<*>'))})` : re
      }
      if (op === '|=' || op === '!=') return this.line === 'Body' ? bodyContains(v, this.#p) : `position(${this.line}, ${this.#p.bind(v)}) > 0`
      return this.line === 'Body' ? bodyMatches(v, this.#p) : `match(${this.line}, ${this.#p.bind(v)})`
    }
    const any = values.length === 1 ? one(values[0]!) : `(${values.map(one).join(' OR ')})`
    if (/\bBody I?LIKE\b/.test(any)) this.bodyLike = true
    const text = (v: string) => (op === '|=' ? v : op === '|~' ? regexLiteral(v)?.text : undefined)
    if (this.line === 'Body' && !ip && values.every((v) => looksRare(text(v) ?? ''))) this.rareTerm = true
    this.where.push(op === '!=' || op === '!~' || op === '!>' ? `NOT ${any}` : any)
  }

  #parser(stage: Extract<Stage, { kind: 'parser' }>): void {
    // As Loki: a parser given the hint that no label is needed returns the line as it is, unread.
    if (this.#noLabels) return
    const line = this.line
    switch (stage.parser) {
      case 'json': {
        // As Loki: the parser's error replaces any before it. `| json` reads an object (its first
        // token a `{`) and gives jsonparser's error for a line that is none; what breaks off inside
        // an object is marked without details. With expressions, Loki tests the line's first byte
        // (`{`, `[` or `"`), leaves an empty line alone and gives no details.
        const valid = `isValidJSON(${line})`
        if (stage.extract?.length) {
          this.#frames.push({ kind: 'json', line, extract: new Map(stage.extract.map((e) => [e.label, jsonPath(e.expr)])) })
          this.replaceError(`(${line} != '' AND NOT (substring(${line}, 1, 1) IN ('{', '[', '"') AND ${valid}))`, 'JSONParserErr', undefined, {
            line,
            valid,
            failed: (text, ok) => text !== '' && !('{["'.includes(text[0]!) && ok),
          })
          return
        }
        this.#frames.push({ kind: 'json', line })
        const object = this.alias(`(startsWith(${line}, '{') OR match(${line}, ${JSON_OBJECT_START_SQL}))`)
        this.replaceError(`NOT (${object} AND ${valid})`, 'JSONParserErr', `if(${object}, '', ${JSON_NOT_OBJECT})`, {
          line,
          valid,
          failed: (text, ok) => !(ok && JSON_OBJECT_START.test(text)),
          details: (text) => (JSON_OBJECT_START.test(text) ? '' : JSON_NOT_OBJECT_TEXT),
        })
        return
      }
      case 'logfmt': {
        const strict = stage.flags?.includes('strict') === true
        if (stage.extract?.length) {
          // Loki's parser with extraction parameters has quirks of its own (its flags: --strict only).
          if (strict) throw unsupported('logfmt --strict with extraction parameters')
          const keys = this.#logfmtKeys(stage.extract)
          this.#frames.push({ kind: 'logfmt', line, map: this.bind(logfmtExtractSql(line, keys, this.#p, (expr) => this.alias(expr)).map), extracted: new Set(keys.keys()) })
          return
        }
        if (!stage.flags?.length) {
          let map: string | undefined
          const written = () => (map ??= this.bind(logfmtPlainSql(line, (expr) => this.alias(expr)).map))
          this.#frames.push({
            kind: 'logfmt',
            line,
            plain: true,
            get map() {
              return written()
            },
          })
          return
        }
        const decoded = logfmtSql(line, { strict, keepEmpty: stage.flags.includes('keep-empty') }, (expr) => this.alias(expr), (expr) => this.bind(expr))
        this.#frames.push({ kind: 'logfmt', line, map: this.bind(decoded.map) })
        // As Loki: the parser's error replaces any before it (and shows again after a drop).
        if (decoded.error) this.replaceError(decoded.error.failed, 'LogfmtParserErr', decoded.error.details)
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
      case 'unpack': {
        // Promtail's pack stage: a JSON object of the entry's labels, the line itself under `_entry`.
        // Its string fields are labels (names sanitised as | json's), `_entry` becomes the line;
        // a line that is no JSON object keeps its text and gets __error__=JSONParserErr, as in Loki.
        const fields = `arrayFilter(kv -> kv.1 != '_entry' AND startsWith(kv.2, '"'), JSONExtractKeysAndValuesRaw(${line}))`
        const map = this.alias(`CAST(arrayMap(kv -> (replaceRegexpAll(kv.1, '[^a-zA-Z0-9_]', '_'), JSONExtractString(kv.2)), ${fields}), 'Map(String, String)')`)
        this.#frames.push({ kind: 'unpack', line, map })
        // As Loki: an empty line is left alone; one that does not start with `{` gets Loki's own
        // details, one that breaks off inside the object none.
        this.replaceError(`(${line} != '' AND NOT (startsWith(${line}, '{') AND isValidJSON(${line})))`, 'JSONParserErr', `if(startsWith(${line}, '{'), '', ${UNPACK_NOT_OBJECT})`)
        const entry = this.alias(`JSONExtractRaw(${line}, '_entry')`)
        this.line = this.alias(`if(startsWith(${entry}, '"'), JSONExtractString(${entry}), ${line})`)
        return
      }
    }
  }

  /**
   * `| logfmt label="key", …`: the keys each label takes (logfmtExtractSql). A pair's key feeds the
   * label it is the key of, or else the label of its name, as Loki renames keys. What Loki answers
   * differently from query to query, or from run to run, is refused: a metric query (its parser
   * hints skip keys the query does not name, and stop at the first pair found), a label of Sluice's
   * own (Loki names it <label>_extracted where the stream or its metadata has it, keeps the first
   * pair and stops at the second), a key read into two labels (Loki picks one at random), a key
   * that is no name (Loki refuses most).
   */
  #logfmtKeys(params: { label: string; expr: string }[]): Map<string, string[]> {
    if (this.#metric) throw unsupported('logfmt with extraction parameters in a metric query (use | logfmt without them)')
    const keyOf = new Map(params.map((e) => [e.label, e.expr]))
    const keys = new Set(keyOf.values())
    if (keys.size < keyOf.size) throw unsupported('logfmt extraction of one key into two labels')
    for (const [label, key] of keyOf) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw unsupported(`logfmt extraction of the key "${key}" (a key is a name: letters, digits and _)`)
      if (builtin(label)) throw unsupported(`logfmt extraction into ${label}, a label of Sluice's own`)
    }
    return new Map([...keyOf].map(([label, key]) => [label, [...new Set([key, ...(keys.has(label) ? [] : [label])])]]))
  }

  #labelFilter(e: LabelFilterExpr): string {
    if (e.kind === 'ip') {
      // As Loki: an address anywhere in the value; a line without the label passes neither = nor !=,
      // and a line an earlier stage marked with an error passes both (Loki's ip filter lets only
      // string matchers drop such lines; its number, duration and bytes filters do not).
      const l = this.lookup(e.label)
      const found = lineHasIp(l.val, ipCondition(e.value, this.#p))
      const error = this.visibleError
      const test = `(${l.has} AND ${e.op === '=' ? found : `NOT ${found}`})`
      return error === "''" ? test : `(${test} OR ${error} != '')`
    }
    if (e.kind === 'and') return `(${this.#labelFilter(e.left)} AND ${this.#labelFilter(e.right)})`
    if (e.kind !== 'compare') {
      // As Loki: `or` runs its right filter only on the lines its left one drops, so only those
      // can be marked by it (a LabelFilterErr of the right's label).
      const left = this.alias(this.#labelFilter(e.left))
      this.#guards.push(`NOT ${left}`)
      try {
        return `(${left} OR ${this.#labelFilter(e.right)})`
      } finally {
        this.#guards.pop()
      }
    }
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
    const conv = convert(l.val, v, (expr) => this.alias(expr))
    const op = e.op === '==' ? '=' : e.op
    // Loki keeps a line whose label does not convert, marked with __error__=LabelFilterErr and the
    // converter's error in __error_details__ (unless an earlier stage marked it).
    this.#raise(`${l.has} AND NOT ${conv.ok}`, 'LabelFilterErr', { kind: v.type, value: l.val })
    return `(${l.has} AND (NOT ${conv.ok} OR ${conv.num} ${op} ${bindNumeric(v, this.#p)}))`
  }

  /**
   * `drop __error__="…"` (or `__error_details__`): clears the label where the matcher matches its
   * value at this stage, as Loki resets it; a later stage's mark shows again.
   */
  #clearMatching(m: Matcher): void {
    const error = m.name === '__error__'
    const current = error ? this.visibleError : this.#dropped.has(m.name) ? "''" : this.errorDetails
    if (current === "''") return
    this.#marks = undefined
    const cleared = this.alias(`if(${matchSql(error ? current : this.#wordedDetails(), m.op, m.value, this.#p)}, '', ${current})`)
    if (error) this.error = cleared
    else this.errorDetails = cleared
  }

  /** A line's __error__ at this point of the pipeline as filters and answers see it: '' after `drop __error__`. */
  get visibleError(): string {
    return this.#dropped.has('__error__') ? "''" : this.error
  }

  /**
   * Marks the lines where `failed` holds with __error__=`name`, over any error they had, as Loki's
   * parsers and unwrap set theirs; `details` (a String expression), when given, replaces
   * __error_details__ on those lines.
   */
  replaceError(failed: string, name: string, details?: MarkDetails, js?: Mark['js']): void {
    this.#marks?.push({ replace: true, name, failed, ...(details !== undefined && { details }), ...(js && { js }) })
    if (details !== undefined) {
      details = this.#detailsSql(details)
      failed = this.alias(failed)
      this.errorDetails = this.alias(`if(${failed}, ${details}, ${this.#detailsToMark()})`)
    }
    this.error = this.alias(`if(${failed}, '${name}', ${this.#errorToMark()})`)
  }

  /** The error a new mark builds on: none after `drop __error__` (Loki resets it), and the new mark shows again. */
  #errorToMark(): string {
    if (!this.#dropped.delete('__error__')) return this.error
    this.#marks = undefined
    return "''"
  }

  #detailsSql(d: MarkDetails): string {
    return typeof d === 'string' ? d : this.conversionDetails(d.kind, d.value)
  }

  /** The __error_details__ of a value `v` a converter refused, as a tag (go-errors.ts) this pipeline words where it is read. */
  conversionDetails(kind: Converter, v: string): string {
    this.#tagged = true
    return conversionDetails(kind, v)
  }

  /** __error_details__ in words, where a filter, a grouping or a template reads it (a tag only where a converter's refusal can be one). */
  #wordedDetails(): string {
    return this.#tagged ? wordDetails(this.errorDetails) : this.errorDetails
  }

  /** The details a new mark builds on: none after `drop __error_details__`. */
  #detailsToMark(): string {
    if (!this.#dropped.delete('__error_details__')) return this.errorDetails
    this.#marks = undefined
    return "''"
  }

  /**
   * Sets __error__ to `name`, and __error_details__ to `details`, on the lines where `failed` holds
   * and no earlier stage set an error, as Loki's label filters do. With no earlier error possible
   * the test is a plain if: every alias is expanded wherever it is used, and ClickHouse plans each copy.
   */
  #raise(failed: string, name: string, details?: MarkDetails): void {
    if (this.#guards.length) failed = `(${[...this.#guards, failed].join(' AND ')})`
    this.#marks?.push({ replace: false, name, failed, ...(details !== undefined && { details }) })
    const before = this.#errorToMark()
    if (details !== undefined) {
      details = this.#detailsSql(details)
      failed = this.alias(before === "''" ? failed : `(${before} = '' AND ${failed})`)
      this.errorDetails = this.alias(`if(${failed}, ${details}, ${this.#detailsToMark()})`)
      this.error = this.alias(before === "''" ? `if(${failed}, '${name}', '')` : `if(${failed}, '${name}', ${before})`)
      return
    }
    this.error = this.alias(before === "''" ? `if(${failed}, '${name}', '')` : `multiIf(${before} != '', ${before}, ${failed}, '${name}', '')`)
  }

  /** Marks the lines where a template fails with __error__=TemplateFormatErr; the failure, aliased. */
  #templateFailed(error: string): string {
    const failed = this.alias(error)
    this.#raise(failed, 'TemplateFormatErr')
    return failed
  }

  /** A Go text/template (template.ts) as a String expression, and the condition under which it fails. */
  template(text: string): CompiledTemplate {
    return compileTemplate(text, { p: this.#p, label: (name) => this.lookup(name).val, line: this.line, timestamp: "toTimeZone(Timestamp, 'UTC')" })
  }

  /** Labels the parsers extracted, as Map(String, String) (empty when none ran). */
  parsedMap(): string {
    const maps = this.#frames.map((f): string => {
      switch (f.kind) {
        case 'json':
          if (f.extract) return `map(${[...f.extract.keys()].flatMap((k) => [this.#p.bind(k), this.#frameLookup(f, k).val]).join(', ')})`
          return `CAST(${jsonFlat(f.line)}, 'Map(String, String)')`
        case 'logfmt':
          return f.map
        case 'unpack':
          return f.map
        case 'regexp':
          return `if(match(${f.line}, ${f.re}), mapFromArrays(${this.#p.bind(f.names, 'Array(String)')}, extractGroups(${f.line}, ${f.re})), map())`
        case 'set':
          return `map(${this.#p.bind(f.label)}, ${f.value.val})`
      }
    })
    // mapUpdate's second map wins: label_format's over what came before, what came before over a parser's.
    const merged = this.alias(
      maps.length === 0
        ? "CAST(map(), 'Map(String, String)')"
        : maps.reduce((a, b, i) => (this.#frames[i]!.kind === 'set' ? `mapUpdate(${a}, CAST(${b}, 'Map(String, String)'))` : `mapUpdate(CAST(${b}, 'Map(String, String)'), ${a})`), `CAST(map(), 'Map(String, String)')`),
    )
    let labels = this.error === "''" ? merged : `if(${this.error} = '', ${merged}, mapUpdate(${merged}, map('__error__', ${this.error})))`
    // A series keyed by a tag would split where two tags word alike (bytes' "unhandled size name: zb"
    // for 5zb and 6zb): worded here where a line can be counted with its details (after drop __error__).
    if (this.errorDetails !== "''") labels = `mapUpdate(${labels}, map('__error_details__', ${this.#errorCleared ? this.#wordedDetails() : this.errorDetails}))`
    return this.#visible(nonEmpty(labels))
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
          // The line as answered, most often: read from that column rather than sent twice.
          return { kind: 'json' as const, col: f.line === this.line ? 'line' : col, sql: f.line }
        case 'logfmt':
          // Read from the line in JavaScript; a line that is not UTF-8 comes as its bytes in base64.
          if (f.plain) return { kind: 'logfmt' as const, col: f.line === this.line ? 'line' : col, sql: f.line, raw: `${col}_raw`, rawSql: logfmtRawSql(f.line) }
          return { kind: 'map' as const, col, sql: f.map }
        case 'unpack':
          return { kind: 'map' as const, col, sql: f.map }
        case 'regexp':
          return { kind: 'groups' as const, col, names: f.names, sql: `if(match(${f.line}, ${f.re}), extractGroups(${f.line}, ${f.re}), [])` }
        case 'set':
          return { kind: 'set' as const, col, label: f.label, sql: f.value.val }
      }
    })
    const errors = this.#errorOutput()
    const columns = [
      `toString(toUnixTimestamp64Nano(Timestamp)) AS ts`,
      `${this.line} AS line`,
      `ResourceAttributes AS _res`,
      `LogAttributes AS _attrs`,
      ...STORED_COLUMNS,
      ...errors.columns,
      ...frames.filter((f) => f.col !== 'line').map((f) => `${f.sql} AS ${f.col}`),
      ...frames.flatMap((f) => (f.kind === 'logfmt' ? [`${f.rawSql} AS ${f.raw}`] : [])),
    ].join(', ')
    const vis: Visibility = {
      dropped: new Set(this.#dropped),
      kept: this.#kept && new Set([...this.#kept]),
      dropMatchers: this.#dropMatchers.map((m) => {
        // Go's regexp, anchored at both ends as Loki's matchers are: a whole-value match.
        const re = m.op === '=~' || m.op === '!~' ? re2(m.value) : undefined
        const hit = (v: string) => (re ? re.matches(v) : v === m.value)
        return { name: m.name, test: m.op === '=' || m.op === '=~' ? hit : (v: string) => !hit(v) }
      }),
    }
    const shape = (row: OutputRow) => {
      const stream = nonEmptySanitised(row._res, 'service.name')
      for (const c of STREAM_COLUMNS) {
        const v = row[c.col] as string
        if (v) stream[c.label] = c.lower ? asciiLower(v) : v
      }
      const meta = nonEmptySanitised(row._attrs)
      for (const c of META_COLUMNS) {
        const v = row[c.col] as string
        if (v) meta[c.label] = c.lower ? asciiLower(v) : v
      }
      // A parser sets only the labels no earlier stage set; label_format overwrites. Empty values
      // are no labels.
      const parsed: Labels = {}
      for (const f of frames) {
        const v = row[f.col]
        if (f.kind === 'json' || f.kind === 'map' || f.kind === 'logfmt') {
          const fields = f.kind === 'json' ? flattenJson(v as string) : f.kind === 'logfmt' ? decodeSentLogfmt(v as string, row[f.raw] as string) : (v as Labels)
          for (const k in fields) if (!(k in parsed)) parsed[k] = fields[k]!
        } else if (f.kind === 'groups') (v as string[]).forEach((g, i) => f.names[i] && !(f.names[i] in parsed) && (parsed[f.names[i]] = g))
        else parsed[f.label] = v as string
      }
      for (const k in parsed) if (parsed[k] === '') delete parsed[k]
      errors.label(row, parsed)
      return { stream: visible(stream, vis), meta: visible(meta, vis), parsed: visible(parsed, vis) }
    }
    return { columns, shape }
  }

  /**
   * The columns an answered line's error labels are read from, and how: the marks' conditions and
   * what details they set, worked out here (Mark), or where a stage reset or cleared them, the
   * labels' expressions.
   */
  #errorOutput(): { columns: string[]; label(row: OutputRow, parsed: Labels): void } {
    const marks = this.#marks
    if (!marks) {
      return {
        columns: [`${this.error} AS _error`, ...(this.errorDetails === "''" ? [] : [`${this.errorDetails} AS _error_details`])],
        label(row, parsed) {
          if (row._error) parsed.__error__ = row._error
          if (row._error_details) parsed.__error_details__ = wordTag(row._error_details)
        },
      }
    }
    const columns: string[] = []
    const steps = marks.map((m, i) => {
      const col = `_m${i}`
      const js = m.js?.line === this.line ? m.js : undefined
      columns.push(`(${js ? js.valid : m.failed}) AS ${col}`)
      const failed = js ? (row: OutputRow) => js.failed(row.line, truthy(row[col])) : (row: OutputRow) => truthy(row[col])
      let details: ((row: OutputRow) => string) | undefined
      if (js?.details) details = (row) => js.details!(row.line)
      else if (typeof m.details === 'string') {
        columns.push(`(${m.details}) AS ${col}d`)
        details = (row) => row[`${col}d`] as string
      } else if (m.details) {
        const kind = m.details.kind
        columns.push(`(${m.details.value}) AS ${col}v`)
        details = (row) => conversionTag(kind, row[`${col}v`] as string)
      }
      return { replace: m.replace, name: m.name, failed, details }
    })
    return {
      columns,
      label(row, parsed) {
        let error = ''
        let details = ''
        for (const m of steps) {
          if ((!m.replace && error !== '') || !m.failed(row)) continue
          error = m.name
          if (m.details) details = m.details(row)
        }
        if (error) parsed.__error__ = error
        if (details) parsed.__error_details__ = wordTag(details)
      },
    }
  }

  /** A map with the drop/keep stages applied. */
  #visible(map: string): string {
    const conds: string[] = []
    if (this.#dropped.size) conds.push(`k NOT IN ${this.#p.bind([...this.#dropped], 'Array(String)')}`)
    if (this.#kept) conds.push(`k IN ${this.#p.bind([...new Set([...this.#kept, ...ERROR_LABELS])], 'Array(String)')}`)
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
