import { describe, expect, it } from 'vitest'
import { LogQLParseError } from './ast.js'
import type { BinaryOpName, Expr, LabelFilterExpr, LabelFilterStage, LabelValue, LogExpr, Matcher, MatchOp, MetricExpr, RangeAggregation, Stage } from './ast.js'
import { formatLogQL } from './format.js'
import { parseLogQL } from './parse.js'

// Builders keep the expected trees short enough to read next to their queries.
const m = (name: string, value: string, op: MatchOp = '='): Matcher => ({ name, op, value })
const log = (matchers: Matcher[], ...pipeline: Stage[]): LogExpr => ({ kind: 'log', matchers, pipeline })
const str = (value: string): LabelValue => ({ type: 'string', value })
const num = (value: number): LabelValue => ({ type: 'number', value })
const dur = (text: string, seconds: number): LabelValue => ({ type: 'duration', ns: BigInt(Math.round(seconds * 1e9)), text })
const cmp = (label: string, op: Extract<LabelFilterExpr, { kind: 'compare' }>['op'], value: LabelValue): LabelFilterExpr => ({ kind: 'compare', label, op, value })
const and = (left: LabelFilterExpr, right: LabelFilterExpr): LabelFilterExpr => ({ kind: 'and', left, right })
const or = (left: LabelFilterExpr, right: LabelFilterExpr): LabelFilterExpr => ({ kind: 'or', left, right })
const lf = (expr: LabelFilterExpr): LabelFilterStage => ({ kind: 'label_filter', expr })
const MIN = 60_000_000_000n

/** The query parses to exactly `tree`, and the tree survives formatting and parsing again. */
function expectTree(query: string, tree: Expr): void {
  expect(parseLogQL(query)).toStrictEqual(tree)
  expect(parseLogQL(formatLogQL(tree))).toStrictEqual(tree)
}

function parseError(query: string): LogQLParseError {
  try {
    parseLogQL(query)
  } catch (err) {
    if (err instanceof LogQLParseError) return err
    throw err
  }
  throw new Error(`expected a parse error for ${query}`)
}

function expectError(query: string, line: number, col: number, message: RegExp): void {
  const err = parseError(query)
  expect({ line: err.line, col: err.col }).toEqual({ line, col })
  expect(err.message).toMatch(message)
  expect(err.message).toMatch(new RegExp(`^parse error at line ${line}, col ${col}: `))
}

describe('stream selectors', () => {
  it('reads every matcher operator, with or without spaces', () => {
    expectTree('{a="1", b != "2",c=~"3.*" , d!~`4`}', log([m('a', '1'), m('b', '2', '!='), m('c', '3.*', '=~'), m('d', '4', '!~')]))
  })

  it('decodes Go escapes in double quotes and keeps backtick strings raw', () => {
    expectTree('{a="q\\"\\\\\\n\\t\\x41\\101\\u00e9\\U0001F600"}', log([m('a', 'q"\\\n\tAAé😀')]))
    expectTree('{a=`\\d+ "x"`}', log([m('a', '\\d+ "x"')]))
    expectTree('{a="\\xc3\\xa9"}', log([m('a', 'é')]))
    expectTree('{a=`multi\nline`}', log([m('a', 'multi\nline')]))
  })

  it('accepts label names with underscores and digits', () => {
    expectTree('{__name__="x", service_name2="y"}', log([m('__name__', 'x'), m('service_name2', 'y')]))
  })

  it('ignores comments and line breaks between tokens', () => {
    expectTree('# leading comment\n{ a = "b" # why\n , c="d" }\n  |= "x" # trailing', log([m('a', 'b'), m('c', 'd')], { kind: 'line_filter', op: '|=', values: ['x'] }))
  })

  it('refuses a selector that every stream would match', () => {
    expectError('{}', 1, 1, /at least one regexp or equality matcher that does not have an empty-compatible value/)
    expectError('{a=""}', 1, 1, /empty-compatible/)
    expectError('{a=~".*"}', 1, 1, /empty-compatible/)
    expectError('{a!="x", b!~"y"}', 1, 1, /empty-compatible/)
    expect(parseLogQL('{a=~".+"}').kind).toBe('log')
    expect(parseLogQL('{a!=""}').kind).toBe('log')
    expect(parseLogQL('{a="", b=~"(?i)x+"}').kind).toBe('log')
    // Empty-compatible as Go reads the regex: (?i), POSIX classes and Unicode classes included.
    expectError('{a=~"(?i).*"}', 1, 1, /empty-compatible/)
    expectError('{a=~"[[:alpha:]]*"}', 1, 1, /empty-compatible/)
    expect(parseLogQL('{a=~"[[:alpha:]]+"}').kind).toBe('log')
    expect(parseLogQL('{a=~"\\\\pL+"}').kind).toBe('log')
  })
})

describe('regular expressions', () => {
  // Go's regexp (RE2 syntax) decides, in Go's words, as Loki's parser does: at the string, whether
  // or not any row would have reached the regex (an empty range answered nothing before).
  it('refuses one Go cannot compile wherever a regex is read', () => {
    const missing = /error parsing regexp: missing closing \): `\(`$/
    // The error points at the string holding the regex (`at`, its first occurrence).
    const refused = (query: string, at: string, message = missing) => expectError(query, 1, query.indexOf(at) + 1, message)
    refused('{a=~"("}', '"("')
    refused('{a="b", c!~"("}', '"("')
    refused('{a="b"} |~ "("', '"("')
    refused('{a="b"} !~ "x" or "("', '"("')
    refused('{a="b"} | json | x=~"("', '"("')
    refused('{a="b"} | json | x!~"(" or y="z"', '"("')
    refused('{a="b"} | regexp "(?P<x>a"', '"(?P', /error parsing regexp: missing closing \): `\(\?P<x>a`$/)
    refused('{a="b"} | drop x=~"("', '"("')
    refused('{a="b"} | keep x!~"("', '"("')
    refused('label_replace(rate({a="b"}[1m]), "dst", "$1", "src", "(")', '"("')
    refused('sum(count_over_time({a="b"} |~ "a{2,1}" [1m]))', '"a{', /error parsing regexp: invalid repeat count: `\{2,1\}`$/)
  })

  it('reads what Go reads and JavaScript does not', () => {
    for (const re of ['(?i)x', '(?P<n>x)', '[[:alpha:]]+', '\\\\pL+', '\\\\Qa.b\\\\E', 'x\\\\z', '(?s:.)', '(?U)a+'])
      expect(() => parseLogQL(`{a="b"} |~ "${re}" | json | x=~"${re}" | drop y=~"${re}"`), re).not.toThrow()
    // Not a regex: `|=` and `=` take the text as it is.
    expect(parseLogQL('{a="b"} |= "(" | json | x="("').kind).toBe('log')
  })
})

describe('line filters', () => {
  it('keeps chained filters as separate stages', () => {
    expectTree(
      '{job="mysql"} |= "error" != "timeout" |~ `\\d+` !~ "x" |> "<_> GET <_>" !> "<_> 200"',
      log(
        [m('job', 'mysql')],
        { kind: 'line_filter', op: '|=', values: ['error'] },
        { kind: 'line_filter', op: '!=', values: ['timeout'] },
        { kind: 'line_filter', op: '|~', values: ['\\d+'] },
        { kind: 'line_filter', op: '!~', values: ['x'] },
        { kind: 'line_filter', op: '|>', values: ['<_> GET <_>'] },
        { kind: 'line_filter', op: '!>', values: ['<_> 200'] },
      ),
    )
  })

  it('collects or-ed alternatives into one stage', () => {
    expectTree('{a="b"} |= "x" or "y" or `z` != "w"', log([m('a', 'b')], { kind: 'line_filter', op: '|=', values: ['x', 'y', 'z'] }, { kind: 'line_filter', op: '!=', values: ['w'] }))
  })

  it('reads ip() values', () => {
    expectTree('{job_name="myapp"} != ip("192.168.4.5-192.168.4.20")', log([m('job_name', 'myapp')], { kind: 'line_filter', op: '!=', values: ['192.168.4.5-192.168.4.20'], ip: true }))
    expectTree('{a="b"} |= ip("10.0.0.0/8") or ip("::1")', log([m('a', 'b')], { kind: 'line_filter', op: '|=', values: ['10.0.0.0/8', '::1'], ip: true }))
    expectError('{a="b"} |~ ip("10.0.0.0/8")', 1, 9, /only support "\|=" and "!="/)
    expectError('{a="b"} |= ip("1.1.1.1") or "x"', 1, 29, /cannot mix ip\(\) and strings/)
  })
})

describe('parsers', () => {
  it('reads json and logfmt with extraction parameters and flags', () => {
    expectTree(
      '{a="b"} | json | json first_server="servers[0]", ua="request.headers[\\"User-Agent\\"]", servers | logfmt --strict --keep-empty host, fwd_ip="fwd"',
      log(
        [m('a', 'b')],
        { kind: 'parser', parser: 'json' },
        {
          kind: 'parser',
          parser: 'json',
          extract: [
            { label: 'first_server', expr: 'servers[0]' },
            { label: 'ua', expr: 'request.headers["User-Agent"]' },
            { label: 'servers', expr: 'servers' },
          ],
        },
        { kind: 'parser', parser: 'logfmt', flags: ['strict', 'keep-empty'], extract: [{ label: 'host', expr: 'host' }, { label: 'fwd_ip', expr: 'fwd' }] },
      ),
    )
  })

  it('reads regexp, pattern and unpack', () => {
    expectTree(
      '{a="b"} | regexp "(?P<method>\\\\w+) (?P<path>[\\\\w|/]+)" | pattern `<ip> - <_> "<method> <uri> <_>" <status>` | unpack',
      log(
        [m('a', 'b')],
        { kind: 'parser', parser: 'regexp', param: '(?P<method>\\w+) (?P<path>[\\w|/]+)' },
        { kind: 'parser', parser: 'pattern', param: '<ip> - <_> "<method> <uri> <_>" <status>' },
        { kind: 'parser', parser: 'unpack' },
      ),
    )
  })

  it('refuses unknown logfmt flags and parsers without their string', () => {
    expectError('{a="b"} | logfmt --lenient', 1, 18, /unexpected FLAG --lenient, expecting --strict or --keep-empty/)
    expectError('{a="b"} | regexp', 1, 17, /unexpected end of input, expecting STRING/)
  })
})

describe('label filters', () => {
  it('types values as strings, numbers, durations and bytes', () => {
    expectTree(
      '{a="b"} | level="error" | status >= 500 | status = 200 | code == 404 | ratio < -0.5 | latency > 250ms | took <= 1h30m | size > 10KB | mem >= 1.5MiB | n != 1e3 | lvl=~"warn|error" | lvl !~ `debug`',
      log(
        [m('a', 'b')],
        lf(cmp('level', '=', str('error'))),
        lf(cmp('status', '>=', num(500))),
        lf(cmp('status', '=', num(200))),
        lf(cmp('code', '==', num(404))),
        lf(cmp('ratio', '<', num(-0.5))),
        lf(cmp('latency', '>', dur('250ms', 0.25))),
        lf(cmp('took', '<=', dur('1h30m', 5400))),
        lf(cmp('size', '>', { type: 'bytes', bytes: 10_000, text: '10KB' })),
        lf(cmp('mem', '>=', { type: 'bytes', bytes: 1_572_864, text: '1.5MiB' })),
        lf(cmp('n', '!=', num(1000))),
        lf(cmp('lvl', '=~', str('warn|error'))),
        lf(cmp('lvl', '!~', str('debug'))),
      ),
    )
  })

  it('binds and tighter than or, and reads comma and juxtaposition as and', () => {
    const a = cmp('duration', '>=', dur('20ms', 0.02))
    const b = cmp('size', '==', { type: 'bytes', bytes: 20_000, text: '20KB' })
    const c = cmp('method', '!~', str('2..'))
    for (const join of [' and ', ' , ', ', ', '  ']) {
      expectTree(`{a="b"} | duration >= 20ms or size == 20KB${join}method!~"2.."`, log([m('a', 'b')], lf(or(a, and(b, c)))))
    }
    expectTree('{a="b"} | duration >= 20ms or size == 20KB | method!~"2.."', log([m('a', 'b')], lf(or(a, b)), lf(c)))
    expectTree('{a="b"} | x="1" and y="2" and z="3"', log([m('a', 'b')], lf(and(and(cmp('x', '=', str('1')), cmp('y', '=', str('2'))), cmp('z', '=', str('3'))))))
  })

  it('honours parentheses', () => {
    const d = cmp('duration', '>=', dur('20ms', 0.02))
    const g = cmp('method', '=', str('GET'))
    const s = cmp('size', '<=', { type: 'bytes', bytes: 20_000, text: '20KB' })
    expectTree('{a="b"} | duration >= 20ms or method="GET" and size <= 20KB', log([m('a', 'b')], lf(or(d, and(g, s)))))
    expectTree('{a="b"} | ((duration >= 20ms or method="GET") and size <= 20KB)', log([m('a', 'b')], lf(and(or(d, g), s))))
    expectTree('{a="b"} | x="1" and (y="2" and z="3")', log([m('a', 'b')], lf(and(cmp('x', '=', str('1')), and(cmp('y', '=', str('2')), cmp('z', '=', str('3')))))))
  })

  it('needs no space after the pipe or around the operator', () => {
    const tree = log([m('a', 'b')], lf(cmp('level', '=', str('error'))))
    expectTree('{a="b"} |level = "error"', tree)
    expectTree('{a="b"}|level="error"', tree)
  })

  it('reads ip() comparisons', () => {
    expectTree(
      '{job_name="myapp"} | logfmt | addr = ip("192.168.4.0/24") or addr != ip("10.10.15.0/24")',
      log(
        [m('job_name', 'myapp')],
        { kind: 'parser', parser: 'logfmt' },
        lf(or({ kind: 'ip', label: 'addr', op: '=', value: '192.168.4.0/24' }, { kind: 'ip', label: 'addr', op: '!=', value: '10.10.15.0/24' })),
      ),
    )
    expectError('{a="b"} | addr > ip("1.1.1.1")', 1, 16, /ip\(\) label filters only support "=" and "!="/)
  })

  it('refuses values that do not fit the operator', () => {
    expectError('{a="b"} | x > "1"', 1, 15, /unexpected STRING "1", expecting a number, duration or bytes value after ">"/)
    expectError('{a="b"} | x =~ 5', 1, 16, /unexpected NUMBER 5, expecting STRING/)
    expectError('{a="b"} | x > 5zz', 1, 15, /invalid duration or bytes value "5zz"/)
  })
})

describe('durations and bytes', () => {
  const range = (q: string) => (parseLogQL(`count_over_time({a="b"}[${q}])`) as RangeAggregation).rangeNs
  const value = (q: string) => ((parseLogQL(`{a="b"} | x > ${q}`) as LogExpr).pipeline[0] as LabelFilterStage).expr

  it('reads Prometheus and Go durations in nanoseconds', () => {
    expect(range('5m')).toBe(300_000_000_000n)
    expect(range('1h30m')).toBe(90n * MIN)
    expect(range('1d')).toBe(1440n * MIN)
    expect(range('2w')).toBe(2n * 7n * 1440n * MIN)
    expect(range('1y')).toBe(365n * 1440n * MIN)
    expect(range('1.5h')).toBe(90n * MIN)
    expect(range('1s500ms')).toBe(1_500_000_000n)
    expect(range('10us')).toBe(10_000n)
    expect(range('10µs')).toBe(10_000n)
    expect(range('7ns')).toBe(7n)
    expectError('rate({a="b"}[300y])', 1, 14, /duration out of range: 300y/)
  })

  it('reads SI and IEC byte units in any case', () => {
    const bytes = (q: string) => {
      const v = value(q)
      return v.kind === 'compare' && v.value.type === 'bytes' ? v.value.bytes : undefined
    }
    expect(bytes('5B')).toBe(5)
    expect(bytes('1kB')).toBe(1000)
    expect(bytes('1KB')).toBe(1000)
    expect(bytes('1kb')).toBe(1000)
    expect(bytes('1KiB')).toBe(1024)
    expect(bytes('2MB')).toBe(2_000_000)
    expect(bytes('1MiB')).toBe(1_048_576)
    expect(bytes('1GB')).toBe(1e9)
    expect(bytes('1GiB')).toBe(1024 ** 3)
    expect(bytes('1TB')).toBe(1e12)
    expect(bytes('1TiB')).toBe(1024 ** 4)
    expect(bytes('1PB')).toBe(1e15)
    expect(bytes('1PiB')).toBe(1024 ** 5)
    expect(bytes('3k')).toBe(3000)
    expect(bytes('1G')).toBe(1e9)
  })

  it('prefers a duration when the unit is both (m is minutes, M is megabytes)', () => {
    expect(value('5m')).toStrictEqual(cmp('x', '>', dur('5m', 300)))
    expect(value('5M')).toStrictEqual(cmp('x', '>', { type: 'bytes', bytes: 5e6, text: '5M' }))
  })
})

describe('formatting and label stages', () => {
  it('reads line_format, label_format, drop, keep and decolorize', () => {
    expectTree(
      '{a="b"} | line_format "{{.a}} {{.b | ToUpper}}" | label_format a=b, c="{{.d}}" | drop a, b, c="v", d=~"x.*" | keep a, b | decolorize',
      log(
        [m('a', 'b')],
        { kind: 'line_format', template: '{{.a}} {{.b | ToUpper}}' },
        { kind: 'label_format', ops: [{ label: 'a', source: 'b' }, { label: 'c', template: '{{.d}}' }] },
        { kind: 'drop', labels: [{ name: 'a' }, { name: 'b' }, m('c', 'v'), m('d', 'x.*', '=~')] },
        { kind: 'keep', labels: [{ name: 'a' }, { name: 'b' }] },
        { kind: 'decolorize' },
      ),
    )
  })

  it('refuses a label named twice in one label_format', () => {
    expectError('{a="b"} | label_format foo=bar,foo="new"', 1, 32, /multiple label name 'foo' not allowed/)
  })
})

describe('range aggregations', () => {
  it('reads every log-range aggregation, with the range after the selector or the pipeline', () => {
    for (const op of ['count_over_time', 'rate', 'bytes_over_time', 'bytes_rate', 'absent_over_time'] as const) {
      expectTree(`${op}({job="mysql"}[5m])`, { kind: 'range', op, log: log([m('job', 'mysql')]), rangeNs: 5n * MIN })
    }
    const filtered: Expr = { kind: 'range', op: 'rate', log: log([m('a', 'b')], { kind: 'parser', parser: 'json' }), rangeNs: MIN }
    expectTree('rate({a="b"} | json [1m])', filtered)
    expectTree('rate({a="b"}[1m] | json)', filtered)
    expectTree('rate(({a="b"} | json)[1m])', filtered)
  })

  it('reads offset after the range', () => {
    expectTree('count_over_time({job="mysql"}[5m] offset 1h)', { kind: 'range', op: 'count_over_time', log: log([m('job', 'mysql')]), rangeNs: 5n * MIN, offsetNs: 60n * MIN })
    expectError('count_over_time({job="mysql"}[5m]) offset 5m', 1, 36, /unexpected IDENTIFIER offset/)
  })

  it('reads unwrap with its conversions and the label filters after it', () => {
    expectTree('sum_over_time({a="b"} | logfmt | unwrap bytes_processed [1m])', {
      kind: 'range',
      op: 'sum_over_time',
      log: log([m('a', 'b')], { kind: 'parser', parser: 'logfmt' }),
      unwrap: { label: 'bytes_processed', post: [] },
      rangeNs: MIN,
    })
    for (const conversion of ['duration', 'duration_seconds', 'bytes'] as const) {
      expectTree(`max_over_time({a="b"} | unwrap ${conversion}(took) | __error__="" | x > 1 [5m]) without (pod)`, {
        kind: 'range',
        op: 'max_over_time',
        log: log([m('a', 'b')]),
        unwrap: { label: 'took', conversion, post: [lf(cmp('__error__', '=', str(''))), lf(cmp('x', '>', num(1)))] },
        rangeNs: 5n * MIN,
        grouping: { mode: 'without', labels: ['pod'] },
      })
    }
    expectTree('avg_over_time({a="b"} | unwrap duration [1m])', { kind: 'range', op: 'avg_over_time', log: log([m('a', 'b')]), unwrap: { label: 'duration', post: [] }, rangeNs: MIN })
  })

  it('reads the quantile parameter', () => {
    expectTree('quantile_over_time(0.99, {a="b"} | unwrap latency [1m]) by ()', {
      kind: 'range',
      op: 'quantile_over_time',
      param: 0.99,
      log: log([m('a', 'b')]),
      unwrap: { label: 'latency', post: [] },
      rangeNs: MIN,
      grouping: { mode: 'by', labels: [] },
    })
  })

  it('refuses unwrap where Loki does, and grouping on the aggregations without it', () => {
    expectError('sum_over_time({a="b"}[1m])', 1, 1, /invalid aggregation sum_over_time without unwrap/)
    expectError('count_over_time({a="b"} | unwrap x [1m])', 1, 1, /invalid aggregation count_over_time with unwrap/)
    expectError('count_over_time({a="b"}[1m]) by (x)', 1, 1, /grouping not allowed for count_over_time aggregation/)
    expectError('sum_over_time({a="b"} | unwrap x [1m]) by (x)', 1, 1, /grouping not allowed for sum_over_time/)
    expectError('{a="b"} | unwrap x', 1, 11, /unwrap is only allowed inside a range aggregation/)
    expectError('sum_over_time({a="b"} | unwrap x | json [1m])', 1, 36, /only label filters are allowed after unwrap/)
    expectError('sum_over_time({a="b"} | unwrap x |= "y" [1m])', 1, 34, /only label filters are allowed after unwrap/)
    expect(parseLogQL('rate({a="b"} | unwrap x [1m])')).toMatchObject({ op: 'rate', unwrap: { label: 'x' } })
  })

  it('requires a range', () => {
    expectError('rate({a="b"})', 1, 13, /unexpected "\)", expecting "\["/)
    expectError('rate({a="b"}[5])', 1, 14, /unexpected NUMBER 5, expecting a duration/)
  })
})

describe('vector aggregations', () => {
  const inner: Expr = { kind: 'range', op: 'count_over_time', log: log([m('a', 'b')]), rangeNs: MIN }

  it('reads grouping before or after the parentheses', () => {
    const tree: Expr = { kind: 'vector', op: 'sum', grouping: { mode: 'by', labels: ['level', 'pod'] }, inner }
    expectTree('sum by (level, pod) (count_over_time({a="b"}[1m]))', tree)
    expectTree('sum(count_over_time({a="b"}[1m])) by (level, pod)', tree)
    expectTree('avg without (x) (count_over_time({a="b"}[1m]))', { kind: 'vector', op: 'avg', grouping: { mode: 'without', labels: ['x'] }, inner })
  })

  it('reads every operator and the k of topk and bottomk', () => {
    for (const op of ['sum', 'avg', 'min', 'max', 'count', 'stddev', 'stdvar', 'sort', 'sort_desc'] as const) {
      expectTree(`${op}(count_over_time({a="b"}[1m]))`, { kind: 'vector', op, inner })
    }
    expectTree('topk(5, count_over_time({a="b"}[1m]))', { kind: 'vector', op: 'topk', param: 5, inner })
    expectTree('bottomk by (x) (3, count_over_time({a="b"}[1m]))', { kind: 'vector', op: 'bottomk', param: 3, grouping: { mode: 'by', labels: ['x'] }, inner })
    expectError('topk(1.5, count_over_time({a="b"}[1m]))', 1, 6, /parameter of topk must be an integer/)
  })

  it('reads approx_topk, which takes no grouping (an inner sum by groups, as in Loki)', () => {
    expectTree('approx_topk(5, count_over_time({a="b"}[1m]))', { kind: 'vector', op: 'approx_topk', param: 5, inner })
    expectError('approx_topk(1.5, count_over_time({a="b"}[1m]))', 1, 13, /parameter of approx_topk must be an integer/)
    expectError('approx_topk(5, count_over_time({a="b"}[1m])) by (x)', 1, 46, /grouping not allowed for approx_topk aggregation/)
    expectError('approx_topk by (x) (5, count_over_time({a="b"}[1m]))', 1, 13, /grouping not allowed for approx_topk aggregation/)
  })

  it('refuses a log query where a vector is expected', () => {
    expectError('sum({a="b"} |= "x")', 1, 5, /log queries cannot be aggregated/)
    expectError('sum by (x) (\n  {a="b"})', 2, 3, /log queries cannot be aggregated/)
  })
})

describe('binary operations and literals', () => {
  const a: MetricExpr = { kind: 'range', op: 'rate', log: log([m('a', 'b')]), rangeNs: MIN }
  const n = (value: number): MetricExpr => ({ kind: 'number', value })
  const bin = (op: BinaryOpName, left: MetricExpr, right: MetricExpr): MetricExpr => ({ kind: 'binary', op, bool: false, left, right })

  it('follows the precedence of Loki, with ^ right-associative', () => {
    expectTree('1 + 2 * 3 ^ 2 ^ 4 - 5 % 6 / 7', bin('-', bin('+', n(1), bin('*', n(2), bin('^', n(3), bin('^', n(2), n(4))))), bin('/', bin('%', n(5), n(6)), n(7))))
    expectTree('1 or 2 and 3 unless 4 == 5 + 6', bin('or', n(1), bin('unless', bin('and', n(2), n(3)), bin('==', n(4), bin('+', n(5), n(6))))))
    expectTree('(1 + 2) * (3 - 4)', bin('*', bin('+', n(1), n(2)), bin('-', n(3), n(4))))
    expectTree('1 - (2 - 3)', bin('-', n(1), bin('-', n(2), n(3))))
    expectTree('(2 ^ 3) ^ 2', bin('^', bin('^', n(2), n(3)), n(2)))
  })

  it('reads numbers in every notation, signed', () => {
    expectTree('-1.5e3', n(-1500))
    expectTree('+0.25', n(0.25))
    expectTree('1 - -2', bin('-', n(1), n(-2)))
    expectTree('.5 * 2E-3', bin('*', n(0.5), n(0.002)))
    expectError('1e999', 1, 1, /number out of range/)
  })

  it('reads bool and vector matching', () => {
    expectTree('rate({a="b"}[1m]) > bool 10', { kind: 'binary', op: '>', bool: true, left: a, right: n(10) })
    expectTree('rate({a="b"}[1m]) / on (x, y) group_left (z) rate({a="b"}[1m])', {
      kind: 'binary',
      op: '/',
      bool: false,
      matching: { mode: 'on', labels: ['x', 'y'], group: 'left', include: ['z'] },
      left: a,
      right: a,
    })
    expectTree('rate({a="b"}[1m]) + ignoring () group_right rate({a="b"}[1m])', {
      kind: 'binary',
      op: '+',
      bool: false,
      matching: { mode: 'ignoring', labels: [], group: 'right' },
      left: a,
      right: a,
    })
    expectError('1 + bool 2', 1, 5, /bool is only allowed after comparison operators/)
  })

  it('reads vector() and label_replace()', () => {
    expectTree('vector(0)', { kind: 'vector_literal', value: 0 })
    expectTree('label_replace(rate({a="b"}[1m]), "dst", "$1", "src", "(.*)-x")', {
      kind: 'label_replace',
      inner: a,
      dst: 'dst',
      replacement: '$1',
      src: 'src',
      regex: '(.*)-x',
    })
  })

  it('refuses log queries as operands', () => {
    expectError('{a="b"} > 1', 1, 9, /log queries cannot be used in binary operations/)
    expectError('1 + {a="b"}', 1, 5, /log queries cannot be used in binary operations/)
  })
})

describe('the Loki documentation examples', () => {
  it('log queries overview', () => {
    expectTree(
      '{container="query-frontend",namespace="loki-dev"} |= "metrics.go" | logfmt | duration > 10s and throughput_mb < 500',
      log(
        [m('container', 'query-frontend'), m('namespace', 'loki-dev')],
        { kind: 'line_filter', op: '|=', values: ['metrics.go'] },
        { kind: 'parser', parser: 'logfmt' },
        lf(and(cmp('duration', '>', dur('10s', 10)), cmp('throughput_mb', '<', num(500)))),
      ),
    )
  })

  it('multiple filtering stages', () => {
    expectTree(
      '{cluster="ops-tools1", namespace="loki-dev", job="loki-dev/query-frontend"} |= "metrics.go" != "out of order" | logfmt | duration > 30s or status_code != "200"',
      log(
        [m('cluster', 'ops-tools1'), m('namespace', 'loki-dev'), m('job', 'loki-dev/query-frontend')],
        { kind: 'line_filter', op: '|=', values: ['metrics.go'] },
        { kind: 'line_filter', op: '!=', values: ['out of order'] },
        { kind: 'parser', parser: 'logfmt' },
        lf(or(cmp('duration', '>', dur('30s', 30)), cmp('status_code', '!=', str('200')))),
      ),
    )
  })

  it('security evaluation, on several lines', () => {
    expectTree(
      '{job="security"} \n    |~ "Invalid user.*"\n    | regexp "(^(?P<user>\\\\S+ {1,2}){8})"\n    | line_format "IP = {{.ip}}\\tUSER = {{.user}}"',
      log(
        [m('job', 'security')],
        { kind: 'line_filter', op: '|~', values: ['Invalid user.*'] },
        { kind: 'parser', parser: 'regexp', param: '(^(?P<user>\\S+ {1,2}){8})' },
        { kind: 'line_format', template: 'IP = {{.ip}}\tUSER = {{.user}}' },
      ),
    )
  })

  it('rate of non-timeout errors per host', () => {
    expectTree('sum by (host) (rate({job="mysql"}\n    |= "error" != "timeout"\n    | json\n    | duration > 10s [1m]))', {
      kind: 'vector',
      op: 'sum',
      grouping: { mode: 'by', labels: ['host'] },
      inner: {
        kind: 'range',
        op: 'rate',
        log: log(
          [m('job', 'mysql')],
          { kind: 'line_filter', op: '|=', values: ['error'] },
          { kind: 'line_filter', op: '!=', values: ['timeout'] },
          { kind: 'parser', parser: 'json' },
          lf(cmp('duration', '>', dur('10s', 10))),
        ),
        rangeNs: MIN,
      },
    })
  })

  it('p99 of the nginx-ingress latency by path', () => {
    expectTree('quantile_over_time(0.99,\n  {cluster="ops-tools1",container="ingress-nginx"}\n    | json\n    | __error__ = ""\n    | unwrap request_time [1m]) by (path)', {
      kind: 'range',
      op: 'quantile_over_time',
      param: 0.99,
      log: log([m('cluster', 'ops-tools1'), m('container', 'ingress-nginx')], { kind: 'parser', parser: 'json' }, lf(cmp('__error__', '=', str('')))),
      unwrap: { label: 'request_time', post: [] },
      rangeNs: MIN,
      grouping: { mode: 'by', labels: ['path'] },
    })
  })

  it('bytes processed per organization', () => {
    expectTree('sum by (org_id) (\n  sum_over_time(\n  {cluster="ops-tools1",container="loki-dev"}\n      |= "metrics.go"\n      | logfmt\n      | unwrap bytes_processed [1m])\n  )', {
      kind: 'vector',
      op: 'sum',
      grouping: { mode: 'by', labels: ['org_id'] },
      inner: {
        kind: 'range',
        op: 'sum_over_time',
        log: log([m('cluster', 'ops-tools1'), m('container', 'loki-dev')], { kind: 'line_filter', op: '|=', values: ['metrics.go'] }, { kind: 'parser', parser: 'logfmt' }),
        unwrap: { label: 'bytes_processed', post: [] },
        rangeNs: MIN,
      },
    })
  })

  it('top 10 applications by log throughput', () => {
    expectTree('topk(10,sum(rate({region="us-east1"}[5m])) by (name))', {
      kind: 'vector',
      op: 'topk',
      param: 10,
      inner: {
        kind: 'vector',
        op: 'sum',
        grouping: { mode: 'by', labels: ['name'] },
        inner: { kind: 'range', op: 'rate', log: log([m('region', 'us-east1')]), rangeNs: 5n * MIN },
      },
    })
  })

  it('rate of GET /home by region, with a parenthesised log query', () => {
    expectTree('avg(rate(({job="nginx"} |= "GET" | json | path="/home")[10s])) by (region)', {
      kind: 'vector',
      op: 'avg',
      grouping: { mode: 'by', labels: ['region'] },
      inner: {
        kind: 'range',
        op: 'rate',
        log: log([m('job', 'nginx')], { kind: 'line_filter', op: '|=', values: ['GET'] }, { kind: 'parser', parser: 'json' }, lf(cmp('path', '=', str('/home')))),
        rangeNs: 10_000_000_000n,
      },
    })
  })

  it('vector(0) as a fallback, with comments', () => {
    expectTree('sum(count_over_time({namespace="traefik"}[5m])) # will return nothing\n  or\nvector(0) # will return 0', {
      kind: 'binary',
      op: 'or',
      bool: false,
      left: { kind: 'vector', op: 'sum', inner: { kind: 'range', op: 'count_over_time', log: log([m('namespace', 'traefik')]), rangeNs: 5n * MIN } },
      right: { kind: 'vector_literal', value: 0 },
    })
  })

  it('json extraction of nested and escaped paths', () => {
    expectTree(
      '{job="loki"} | json first_server="servers[0]", ua="request.headers[\\"User-Agent\\"]"',
      log([m('job', 'loki')], {
        kind: 'parser',
        parser: 'json',
        extract: [
          { label: 'first_server', expr: 'servers[0]' },
          { label: 'ua', expr: 'request.headers["User-Agent"]' },
        ],
      }),
    )
  })

  it('label_format templates in backticks (template functions page)', () => {
    expectTree(
      '{job="loki/querier"} | label_format nowEpoch=`{{(unixEpoch now)}}`,createDateEpoch=`{{unixEpoch (toDate "2006-01-02" .createDate)}}` | label_format dateTimeDiff=`{{sub .nowEpoch .createDateEpoch}}` | dateTimeDiff > 86400',
      log(
        [m('job', 'loki/querier')],
        {
          kind: 'label_format',
          ops: [
            { label: 'nowEpoch', template: '{{(unixEpoch now)}}' },
            { label: 'createDateEpoch', template: '{{unixEpoch (toDate "2006-01-02" .createDate)}}' },
          ],
        },
        { kind: 'label_format', ops: [{ label: 'dateTimeDiff', template: '{{sub .nowEpoch .createDateEpoch}}' }] },
        lf(cmp('dateTimeDiff', '>', num(86400))),
      ),
    )
  })

  it('drop and keep without spaces around the pipes', () => {
    expectTree('{job="varlogs"}|json|drop level, path, app=~"some-api.*"', log([m('job', 'varlogs')], { kind: 'parser', parser: 'json' }, { kind: 'drop', labels: [{ name: 'level' }, { name: 'path' }, m('app', 'some-api.*', '=~')] }))
    expectTree('{job="varlogs"}|json|keep level, method="GET"', log([m('job', 'varlogs')], { kind: 'parser', parser: 'json' }, { kind: 'keep', labels: [{ name: 'level' }, m('method', 'GET')] }))
  })

  it('refuses the selectors the docs show only as fragments: a lone negative regex matches every stream', () => {
    expectError('{name !~ "mysql.+"}', 1, 1, /empty-compatible/)
    expect(parseLogQL('{job="x", name !~ "mysql.+"}').kind).toBe('log')
  })
})

describe('errors', () => {
  it('report the line and column of the offending token', () => {
    expectError('{a="b"} | json | foo', 1, 21, /syntax error: unexpected end of input, expecting a comparison operator/)
    expectError('{a="b"}\n  | logfmt\n  | x > "y"', 3, 9, /unexpected STRING "y"/)
    expectError('{a="b" b="c"}', 1, 8, /unexpected IDENTIFIER b, expecting "}"/)
    expectError('{a="b"} |= 5', 1, 12, /unexpected NUMBER 5, expecting STRING/)
    expectError('sum(rate({a="b"}[1m])) by (x', 1, 29, /unexpected end of input, expecting "\)"/)
    expectError('{a="b"} | json ?', 1, 16, /unexpected character "\?"/)
    expectError('{a="unterminated}', 1, 4, /unterminated string/)
    expectError('{a="\\q"}', 1, 4, /unknown escape sequence "\\\\q"/)
    expectError('😀 {a="b"}', 1, 1, /unexpected character "😀"/)
    expectError('{a="😀"} | x', 1, 12, /expecting a comparison operator/)
    expectError('', 1, 1, /unexpected end of input/)
    expectError('foo(1)', 1, 1, /unexpected IDENTIFIER foo/)
    expectError('{a="b"} |= "x" or', 1, 18, /unexpected end of input, expecting STRING/)
    expectError('{a="b"}[5m]', 1, 8, /unexpected "\[", expecting "\|", a line filter or end of input/)
  })

  it('cap nesting and operator counts instead of exhausting the stack', () => {
    expectError(`${'('.repeat(5000)}1${')'.repeat(5000)}`, 1, 101, /nested deeper than 100 levels/)
    expectError(`${'2 ^ '.repeat(3000)}2`, 1, 401, /nested deeper than 100 levels/)
    expectError(`${'1 + '.repeat(3000)}1`, 1, 4003, /more than 1000 operators/)
    expectError(`{a="b"} | ${'x="1" or '.repeat(2000)}x="1"`, 1, 9017, /more than 1000 operators/)
    expect(parseError(`{a="b"} | ${'('.repeat(5000)}x="1"`).message).toMatch(/nested deeper/)
  })
})

// Every LogQL example of the Loki documentation pages (LogQL overview, log queries, metric
// queries, template functions, query examples, IP matching); fragments get a selector in front.
const DOC_EXAMPLES = [
  '{service_name="nginx", status="500"}',
  '{container="query-frontend",namespace="loki-dev"} |= "metrics.go" | logfmt | duration > 10s and throughput_mb < 500',
  '{app="mysql",name="mysql-backup"}',
  '{name =~ "mysql.+"}',
  '{job="x", name !~ `mysql-\\d+`}',
  '{name =~ ".*mysql.*"}',
  '{name =~ "(?s).*mysql.*"}',
  '{name =~ "[\\\\S\\\\s]*mysql[\\\\S\\\\s]*"}',
  '{job="mysql"} |= "error"',
  '{instance=~"kafka-[23]",name="kafka"} != "kafka.server:type=ReplicaManager"',
  '{name="kafka"} |~ "tsdb-ops.*io:2003"',
  '{name="cassandra"} |~  `error=\\w+`',
  '{job="mysql"} |= "error" != "timeout"',
  '{job="mysql"} |= "error" | json | line_format "{{.err}}"',
  '{job="mysql"} | json | line_format "{{.message}}" |= "error"',
  '{job="example"} | decolorize',
  '{job="x"} | line_format "{{.status_code}}"',
  '{job="x"} | logfmt | duration > 1m and bytes_consumed > 20MB',
  '{job="x"} | duration >= 20ms or size == 20KB and method!~"2.."',
  '{job="x"} | duration >= 20ms or size == 20KB | method!~"2.."',
  '{job="x"} | duration >= 20ms or size == 20KB , method!~"2.."',
  '{job="x"} | duration >= 20ms or size == 20KB  method!~"2.."',
  '{job="x"} | duration >= 20ms or method="GET" and size <= 20KB',
  '{job="x"} | ((duration >= 20ms or method="GET") and size <= 20KB)',
  '{job="x"} | duration >= 20ms or (method="GET" and size <= 20KB)',
  '{job="x"} | json',
  '{job="x"} | json first_server="servers[0]", ua="request.headers[\\"User-Agent\\"]"',
  '{job="x"} | json server_list="servers", headers="request.headers"',
  '{job="x"} | json servers',
  '{job="x"} | json servers="servers"',
  '{job="x"} | logfmt',
  '{job="x"} | logfmt host, fwd_ip="fwd"',
  '{job="x"} | logfmt --strict',
  '{job="x"} | logfmt --strict host, fwd_ip="fwd"',
  '{job="x"} | logfmt --keep-empty --strict host',
  '{job="x"} | pattern `<ip> - - <_> "<method> <uri> <_>" <status> <size> <_> "<agent>" <_>`',
  '{job="x"} | pattern `<_> msg="<method> <path> (<status>) <latency>"`',
  '{job="x"} | regexp "(?P<method>\\\\w+) (?P<path>[\\\\w|/]+) \\\\((?P<status>\\\\d+?)\\\\) (?P<duration>.*)"',
  '{job="x"} | unpack',
  '{container="frontend"} | logfmt | line_format "{{.query}} {{.duration}}"',
  '{container="frontend"} | logfmt | line_format "{{.ip}} {{.status}} {{div .duration 1000}}"',
  '{job="x"} | label_format dst=src',
  '{job="x"} | label_format dst="{{.status}} {{.query}}"',
  '{job="x"} | label_format foo=bar | label_format foo="new"',
  '{job="x"} |drop name, other_name, some_name="some_value"',
  '{job="varlogs"}|json|drop level, method="GET"',
  '{job="varlogs"}|json|drop __error__',
  '{job="varlogs"}|json|drop level, path, app=~"some-api.*"',
  '{job="x"} |keep name, other_name, some_name="some_value"',
  '{job="varlogs"}|json|keep level, method="GET"',
  '{job="varlogs"}|json|keep level, tenant, app=~"some-api.*"',
  '{job_name="myapp"} |= "3.180.71.3"',
  '{job_name="myapp"} |~"^3.180.71.3"',
  '{job_name="myapp"} |= ip("192.168.4.5/16")',
  '{job_name="myapp"} != ip("192.168.4.5-192.168.4.20")',
  '{job_name="myapp"}\n\t\t| logfmt\n\t\t| remote_addr = ip("2001:db8::1-2001:db8::8")\n\t\t| level = "error"',
  '{job_name="myapp"}\n\t\t| logfmt\n\t\t| addr = ip("192.168.4.5/16")\n\t\t| addr != ip("192.168.4.2")',
  '{job_name="myapp"}\n\t\t| logfmt\n\t\t| addr = ip("192.168.4.0/24") or addr = ip("10.10.15.0/24")',
  '{job="security"} \n    |~ "Invalid user.*"\n    | regexp "(^(?P<user>\\\\S+ {1,2}){8})"\n    | regexp "(^(?P<ip>\\\\S+ {1,2}){10})"\n    | line_format "IP = {{.ip}}\\tUSER = {{.user}}"',
  '{job="security"}\n    != "grafana_com"\n    |= "session opened"\n    != "sudo: "\n    |regexp "(^(?P<user>\\\\S+ {1,2}){11})"\n    | line_format "USER = {{.user}}"',
  'sum by (host) (rate({job="mysql"}\n    |= "error" != "timeout"\n    | json\n    | duration > 10s [1m]))',
  '{cluster="ops-tools1", namespace="loki-dev", job="loki-dev/query-frontend"} |= "metrics.go" != "out of order" | logfmt | duration > 30s or status_code != "200"',
  '{job="loki-ops/query-frontend"} | logfmt | line_format "{{.msg}}" | regexp "(?P<method>\\\\w+) (?P<path>[\\\\w|/]+) \\\\((?P<status>\\\\d+?)\\\\) (?P<duration>.*)"',
  '{cluster="ops-tools1", name="querier", namespace="loki-dev"}\n  |= "metrics.go" != "loki-canary"\n  | logfmt\n  | query != ""\n  | label_format query="{{ Replace .query \\"\\\\n\\" \\"\\" -1 }}"\n  | line_format "{{ .ts}}\\t{{.duration}}\\ttraceID = {{.traceID}}\\t{{ printf \\"%-100.100s\\" .query }} "',
  'quantile_over_time(0.99,\n  {cluster="ops-tools1",container="ingress-nginx"}\n    | json\n    | __error__ = ""\n    | unwrap request_time [1m]) by (path)',
  'sum by (org_id) (\n  sum_over_time(\n  {cluster="ops-tools1",container="loki-dev"}\n      |= "metrics.go"\n      | logfmt\n      | unwrap bytes_processed [1m])\n  )',
  'topk(10,sum(rate({region="us-east1"}[5m])) by (name))',
  'sum(count_over_time({job="mysql"}[5m])) by (level)',
  'avg(rate(({job="nginx"} |= "GET" | json | path="/home")[10s])) by (region)',
  'count_over_time({job="mysql"}[5m])',
  'sum by (host) (rate({job="mysql"} |= "error" != "timeout" | json | duration > 10s [1m]))',
  'count_over_time({job="mysql"}[5m] offset 5m)',
  'sum(count_over_time({namespace="traefik"}[5m])) # will return nothing\n  or\nvector(0) # will return 0',
  'sum(rate({job="mysql"} |= "error" != "timeout" | json | duration > 10s [1m]))',
  '{job="loki/querier"} | label_format nowEpoch=`{{(unixEpoch now)}}`,createDateEpoch=`{{unixEpoch (toDate "2006-01-02" .createDate)}}` | label_format dateTimeDiff=`{{sub .nowEpoch .createDateEpoch}}` | dateTimeDiff > 86400',
  '{job="x"} | json | line_format `from="{{date "2006-01-02" (unixToTime .from)}}"`',
  '{job="access_log"} | json | line_format `{{.http_request_headers_x_forwarded_for | default "-"}}`',
  '{job="loki/querier"} |= "finish in prometheus" | logfmt | line_format `{{ range $q := fromJson .queries }} {{ $q.query }} {{ end }}`',
  '{job="xyzlog"} | line_format `{{ __line__ | count "XYZ"}}`',
  '{job="x"} | line_format "\\"|\\" {{printf \\"%15.15s\\" .ClientHost}} \\"|\\""',
  '{job="x"} | line_format `{{ .path | replace " " "_" | trunc 5 | upper }}`',
  '{job="x"} | line_format `{{ if and (contains "he" "hello") (contains "llo" "hello") }} yes {{end}}`',
  '{job="x"} | line_format `{{ if contains .err "ErrTimeout" }} timeout {{else if contains "he" "hello"}} yes {{else}} no {{end}}`',
  '{job="x"} | line_format `{{ __timestamp__ | date "2006-01-02T15:04:05.00Z-07:00" }}`',
  '{job="x"} | label_format n=`{{ regexReplaceAll "(a*)bc" .some_label "${1}a" }}`',
  '{job="x"} | line_format `{{ printf "%-40.40s" .request_uri}} {{printf "%-5.5s" .request_method}}`',
  '{job="x"} | line_format "{{.a}} {{.b | ToUpper}}"',
]

describe('every documentation example', () => {
  it.each(DOC_EXAMPLES)('parses and survives formatting: %s', (query) => {
    const tree = parseLogQL(query)
    const text = formatLogQL(tree)
    expect(parseLogQL(text)).toStrictEqual(tree)
    expect(formatLogQL(parseLogQL(text))).toBe(text)
  })

  it('never fails with anything but LogQLParseError on truncated or mangled examples', () => {
    let random = 42
    const next = (n: number) => {
      random = (random * 1_103_515_245 + 12_345) % 2 ** 31
      return random % n
    }
    const noise = ['(', ')', '{', '}', '[', ']', '|', '"', '`', '=', ',', ' ', 'or ', 'by ', '5m', '-', '\\', '#', '1e', 'unwrap ', 'ip(']
    const attempt = (query: string) => {
      try {
        parseLogQL(query)
      } catch (err) {
        if (!(err instanceof LogQLParseError)) throw new Error(`${String(err)} for ${JSON.stringify(query)}`)
      }
    }
    for (const query of DOC_EXAMPLES) {
      for (let end = 0; end < query.length; end++) {
        attempt(query.slice(0, end))
        attempt(query.slice(end))
      }
      for (let i = 0; i < 50; i++) {
        const at = next(query.length)
        attempt(query.slice(0, at) + (noise[next(noise.length)] ?? '') + query.slice(at + next(3)))
      }
    }
  })
})
