import { describe, expect, it } from 'vitest'
import { parseLogQL } from '../logql/parse.js'
import type { Grouping, LogExpr, RangeAggregation } from '../logql/ast.js'
import { compileLogQuery, compileRange, goSeconds, uniqueLines } from './compile.js'
import type { LogStatement } from './compile.js'
import type { OutputRow } from './pipeline.js'

const scope = { db: 'sluice', tenant: 'default' }
const range = { fromNs: 1_000_000_000_000n, toNs: 2_000_000_000_000n, limit: 100, direction: 'backward' as const }
const logQuery = (q: string) => compileLogQuery(scope, parseLogQL(q) as LogExpr, range)
const rows = (...pairs: [ts: string, line: string][]): OutputRow[] => pairs.map(([ts, line]) => ({ ts, line }))
const lines = (found: ReturnType<typeof uniqueLines>) => found?.map((l) => [l.ts, l.line])

describe('compileLogQuery', () => {
  it('marks a search for a term with a digit as rare, a search for words as not', () => {
    const rare = (q: string) => logQuery(q).rareTerm === true
    expect(rare('{service_name="orders"} |= "req-7f3a"')).toBe(true)
    expect(rare('{service_name="orders"} |~ "(?i)E_DB_CONN 503"')).toBe(true)
    // Any filter holding an identifier narrows the lines to few.
    expect(rare('{service_name="orders"} |= "timeout" |= "10.0.0.7"')).toBe(true)
    expect(rare('{service_name="orders"} |= "timeout"')).toBe(false)
    expect(rare('{service_name="orders"} |= "connection refused" |~ "(?i)retry"')).toBe(false)
    // A filter that drops lines, alternatives of which one is a word, a real regular expression and
    // a filter on a rewritten line do not make the search rare.
    expect(rare('{service_name="orders"} != "req-7f3a"')).toBe(false)
    expect(rare('{service_name="orders"} |= "req-7f3a" or "timeout"')).toBe(false)
    expect(rare('{service_name="orders"} |~ "req-[0-9]+"')).toBe(false)
    expect(rare('{service_name="orders"} | line_format "{{.x}}" |= "req-7f3a"')).toBe(false)
  })

  it('reads no id in the first statement; the exact one drops copies by id', () => {
    const st = logQuery('{service_name="orders"}')
    expect(st.query).not.toMatch(/\bid\b/)
    expect(st.dedup?.exact().query).toMatch(/LIMIT 1 BY id\n/)
  })

  it('reads no id with a line filter either, where the lines a term finds are many', () => {
    const st = logQuery('{service_name="orders"} |= "shipped"')
    expect(st.query).not.toMatch(/\bid\b/)
    expect(st.dedup?.exact().query).toMatch(/LIMIT 1 BY id\n/)
  })
})

describe('uniqueLines', () => {
  const st = logQuery('{service_name="orders"}')

  it('answers the page when no two rows share their time and line', () => {
    const page = rows(['3', 'a'], ['2', 'a'], ['2', 'b'], ['2', 'c'], ['1', 'b'])
    expect(lines(uniqueLines(st, page))).toEqual([['3', 'a'], ['2', 'a'], ['2', 'b'], ['2', 'c'], ['1', 'b']])
  })

  it('leaves the answer to the exact statement when two rows of one time hold the same line', () => {
    // Possibly one record stored twice: only its id, which this statement does not read, can tell.
    expect(uniqueLines(st, rows(['3', 'a'], ['2', 'b'], ['2', 'c'], ['2', 'b']))).toBeUndefined()
    expect(uniqueLines(st, rows(['2', 'b'], ['2', 'b']))).toBeUndefined()
  })

  it('keeps every row of a statement that reads exactly', () => {
    const exact = logQuery('{service_name="orders"} |= "b"').dedup!.exact()
    expect(lines(uniqueLines(exact, rows(['2', 'b'], ['2', 'b'])))).toEqual([['2', 'b'], ['2', 'b']])
  })
})

describe('| logfmt flags', () => {
  it('reads a line with Loki\'s decoder for --strict and --keep-empty, and first with extractKeyValuePairs without a flag', () => {
    // Without flags, the answered lines' labels are read in JavaScript: the statement holds the
    // decoder only where a later stage reads one of its labels.
    expect(logQuery('{a="b"} | logfmt').query).not.toMatch(/extractKeyValuePairs|extractAll/)
    expect(logQuery('{a="b"} | logfmt').query).toMatch(/base64Encode/)
    expect(logQuery('{a="b"} | logfmt | status="500"').query).toMatch(/extractKeyValuePairs/)
    expect(logQuery('{a="b"} | logfmt | status="500"').query).toMatch(/extractAll/)
    expect(logQuery('{a="b"} | logfmt --keep-empty').query).not.toMatch(/extractKeyValuePairs/)
    const strict = logQuery('{a="b"} | logfmt --strict').query
    // --strict marks lines (output() reads the mark's condition and details, and names the error).
    expect(strict).toMatch(/ AS _m0, .* AS _m0d\b/)
    expect(logQuery('{a="b"} | logfmt').query).not.toMatch(/ AS _m\d|_error/)
  })

  it('refuses --strict with extraction parameters, and takes --keep-empty with them as Loki does (ignored)', () => {
    expect(() => logQuery('{a="b"} | logfmt --strict host')).toThrow(/unsupported LogQL: logfmt --strict with extraction parameters/)
    expect(logQuery('{a="b"} | logfmt --keep-empty status').query).toBe(logQuery('{a="b"} | logfmt status').query)
  })
})

describe('| logfmt with extraction parameters', () => {
  const metric = (q: string) => compileRange(scope, parseLogQL(q) as RangeAggregation, { startNs: 0n, endNs: 60_000_000_000n, stepNs: 60_000_000_000n }, undefined)

  it('reads each label from its key and its own name, with bound keys', () => {
    const q = logQuery('{a="b"} | logfmt st="status", msg')
    expect(q.query).not.toMatch(/'status'|'msg'/)
    expect(Object.values(q.params)).toContainEqual(['status', 'st'])
    expect(Object.values(q.params)).toContainEqual(['msg'])
  })

  it('refuses what Loki answers differently from query to query or run to run', () => {
    expect(() => metric('count_over_time({a="b"} | logfmt status [1m])')).toThrow(/unsupported LogQL: logfmt with extraction parameters in a metric query/)
    expect(() => logQuery('{a="b"} | logfmt a="x", b="x"')).toThrow(/unsupported LogQL: logfmt extraction of one key into two labels/)
    expect(() => logQuery('{a="b"} | logfmt level')).toThrow(/unsupported LogQL: logfmt extraction into level/)
    expect(() => logQuery('{a="b"} | logfmt a="x.y"')).toThrow(/unsupported LogQL: logfmt extraction of the key "x.y"/)
    expect(() => metric('count_over_time({a="b"} | logfmt [1m])')).not.toThrow()
  })
})

describe('compileRange', () => {
  const S = 1_000_000_000n
  const steps = { startNs: 1000n * S, endNs: 1100n * S, stepNs: 10n * S }
  const range = (q: string, pushdown?: Grouping) => compileRange(scope, parseLogQL(q) as RangeAggregation, steps, pushdown)
  /** The labels a statement leaves out of its series (`without`), or undefined. */
  const leftOut = (st: LogStatement) => {
    const m = /k NOT IN \{(p\d+):Array\(String\)\}/.exec(st.query)
    return m ? st.params[m[1]!] : undefined
  }

  it("leaves the unwrapped label out of an unwrapped series' labels, as Loki does, unless `by` names it", () => {
    expect(leftOut(range('sum_over_time({a="b"} | logfmt | unwrap x [1m])'))).toEqual(['x'])
    expect(leftOut(range('rate_counter({a="b"} | logfmt | unwrap x [1m])'))).toEqual(['x'])
    expect(leftOut(range('avg_over_time({a="b"} | logfmt | unwrap x [1m]) without (h)'))).toEqual(['h', 'x'])
    // A `sum without (h)` pushed down from outside.
    expect(leftOut(range('sum_over_time({a="b"} | logfmt | unwrap x [1m])', { mode: 'without', labels: ['h'] }))).toEqual(['h', 'x'])
    const by = range('max_over_time({a="b"} | logfmt | unwrap x [1m]) by (x, h)')
    expect(leftOut(by)).toBeUndefined()
    expect(Object.values(by.params)).toEqual(expect.arrayContaining(['x', 'h']))
    expect(leftOut(range('count_over_time({a="b"} | logfmt [1m])'))).toBeUndefined()
  })

  it("divides rates by the range in seconds as Go's Duration.Seconds() gives them", () => {
    // Go: time.Duration(1118 * time.Millisecond).Seconds() = 1.1179999999999999, not 1.118.
    expect(goSeconds(1_118_000_000n)).toBe(1.1179999999999999)
    expect(goSeconds(90n * S)).toBe(90)
    expect(Object.values(range('rate({a="b"}[1118ms])').params)).toContain(1.1179999999999999)
  })

  it("computes rate_counter from each window's samples in time order and the window's own end", () => {
    const st = range('rate_counter({a="b"} | logfmt | unwrap x [1m])')
    expect(st.query).toMatch(/arraySort\(groupArray\(\(t, x\)\)\) AS rc_s/)
    // The window of step i ends at start + i·step (in the offset-shifted time `t`) and is 60 s long.
    expect(Object.values(st.params)).toEqual(expect.arrayContaining([(1000n * S).toString(), (10n * S).toString(), (60n * S).toString(), 60]))
  })
})
