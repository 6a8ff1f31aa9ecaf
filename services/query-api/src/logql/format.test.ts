import { describe, expect, it } from 'vitest'
import type { Expr, LabelFilterExpr, LogExpr } from './ast.js'
import { formatLogQL, goQuote } from './format.js'
import { parseLogQL } from './parse.js'

const format = (query: string) => formatLogQL(parseLogQL(query))

describe('formatLogQL', () => {
  it('prints log queries on one line with canonical spacing', () => {
    expect(format('{a = "b",c=~`d.*`}|="x"  |json|status>=500')).toBe('{a="b", c=~"d.*"} |= "x" | json | status >= 500')
    expect(format('{job_name="myapp"}\n\t| logfmt\n\t| addr = ip("192.168.4.5/16")\n\t|= ip("10.0.0.1") or ip("::1")')).toBe(
      '{job_name="myapp"} | logfmt | addr = ip("192.168.4.5/16") |= ip("10.0.0.1") or ip("::1")',
    )
    expect(format('{a="b"} |= "x" or `y` |> "<_> z"')).toBe('{a="b"} |= "x" or "y" |> "<_> z"')
  })

  it('prints parsers, formatters and label stages', () => {
    expect(format('{a="b"} | json x="y.z" , servers="servers" | logfmt --keep-empty  host,fwd_ip="fwd" | regexp `(?P<x>\\d+)` | pattern "<ip> <_>" | unpack')).toBe(
      '{a="b"} | json x="y.z", servers | logfmt --keep-empty host, fwd_ip="fwd" | regexp "(?P<x>\\\\d+)" | pattern "<ip> <_>" | unpack',
    )
    expect(format('{a="b"} | line_format `{{.a}}\t"{{.b}}"` | label_format a=b,c=`{{.d}}` | drop a,b="v" | keep a | decolorize')).toBe(
      '{a="b"} | line_format "{{.a}}\\t\\"{{.b}}\\"" | label_format a=b, c="{{.d}}" | drop a, b="v" | keep a | decolorize',
    )
  })

  it('prints label filter values as written and parenthesises only where the tree needs it', () => {
    expect(format('{a="b"} | d > 1h30m , s <= 1.5MiB, n == -2.5 , l!="x"')).toBe('{a="b"} | d > 1h30m and s <= 1.5MiB and n == -2.5 and l!="x"')
    expect(format('{a="b"} | ((a="1" or b="2") and (c="3" or d="4"))')).toBe('{a="b"} | (a="1" or b="2") and (c="3" or d="4")')
    expect(format('{a="b"} | (a="1" and b="2") or (c="3" and d="4")')).toBe('{a="b"} | a="1" and b="2" or c="3" and d="4"')
    expect(format('{a="b"} | a="1" or (b="2" or c="3")')).toBe('{a="b"} | a="1" or (b="2" or c="3")')
  })

  it('prints metric queries with canonical ranges and grouping before the parentheses', () => {
    expect(format('sum(count_over_time({a="b"}[60s])) by (level)')).toBe('sum by (level) (count_over_time({a="b"}[1m]))')
    expect(format('topk(10,sum(rate({region="us-east1"}[5m])) by (name))')).toBe('topk(10, sum by (name) (rate({region="us-east1"}[5m])))')
    expect(format('rate({a="b"}[90m] offset 86400s |= "x")')).toBe('rate({a="b"} |= "x" [1h30m] offset 1d)')
    expect(format('rate(({a="b"} | json)[1500ms])')).toBe('rate({a="b"} | json [1s500ms])')
    expect(format('quantile_over_time(0.99,{a="b"}|json|unwrap duration(took)|__error__=""[1m]) by (path)')).toBe(
      'quantile_over_time(0.99, {a="b"} | json | unwrap duration(took) | __error__="" [1m]) by (path)',
    )
    expect(format('max_over_time({a="b"} | unwrap bytes(size) [7d]) without (pod)')).toBe('max_over_time({a="b"} | unwrap bytes(size) [1w]) without (pod)')
    expect(format('label_replace(vector(1),"dst","$1","src","(.*)")')).toBe('label_replace(vector(1), "dst", "$1", "src", "(.*)")')
  })

  it('prints binary operations with the fewest parentheses that keep the tree', () => {
    expect(format('((1 + 2)) * 3')).toBe('(1 + 2) * 3')
    expect(format('1 + (2 * 3)')).toBe('1 + 2 * 3')
    expect(format('(1 - 2) - 3')).toBe('1 - 2 - 3')
    expect(format('1 - (2 - 3)')).toBe('1 - (2 - 3)')
    expect(format('2 ^ (3 ^ 2)')).toBe('2 ^ 3 ^ 2')
    expect(format('(2 ^ 3) ^ 2')).toBe('(2 ^ 3) ^ 2')
    expect(format('(1 or 2) and 3 unless 4')).toBe('(1 or 2) and 3 unless 4')
    expect(format('sum(rate({a="b"}[1m]))>bool 1 or on(x) group_left(y) vector(0)')).toBe(
      'sum(rate({a="b"}[1m])) > bool 1 or on (x) group_left (y) vector(0)',
    )
    expect(format('vector(1) / ignoring(x) group_right vector(2)')).toBe('vector(1) / ignoring (x) group_right vector(2)')
  })

  it('prints numbers so that they read back identically', () => {
    expect(format('-0')).toBe('-0')
    expect(format('1e21 + 1e-7 + 0.1')).toBe('1e+21 + 1e-7 + 0.1')
    expect(format('1 - -2')).toBe('1 - -2')
  })

  it('quotes strings with Go escapes', () => {
    const tree: LogExpr = { kind: 'log', matchers: [{ name: 'a', op: '=', value: 'q"\\\n\t\r\x07\b\f\v\x00\x7f\u0085\u2028é😀' }], pipeline: [] }
    const text = formatLogQL(tree)
    expect(text).toBe('{a="q\\"\\\\\\n\\t\\r\\a\\b\\f\\v\\x00\\x7f\\u0085\\u2028é😀"}')
    expect(parseLogQL(text)).toStrictEqual(tree)
  })

  it('escapes what Go deems unprintable beyond ASCII as strconv.Quote does, and keeps the rest', () => {
    // Printed by Go 1.26's strconv.Quote for each value.
    const GO: readonly (readonly [string, string])[] = [
      ['a\u00a0b', '"a\\u00a0b"'],
      ['x\u200by', '"x\\u200by"'],
      ['é ü 日本', '"é ü 日本"'],
      ['\u2028\u2029', '"\\u2028\\u2029"'],
      ['😀', '"😀"'],
      ['\u{e0001}', '"\\U000e0001"'],
      ['\ue000', '"\\ue000"'],
      ['\u3000', '"\\u3000"'],
      ['\u00ad', '"\\u00ad"'],
      ['\x7f\x01', '"\\x7f\\x01"'],
      ['\ufeff', '"\\ufeff"'],
      ['\u0378', '"\\u0378"'],
      ['\u061c', '"\\u061c"'],
      ['\u1680', '"\\u1680"'],
    ]
    expect(GO.filter(([s, quoted]) => goQuote(s) !== quoted)).toEqual([])
  })

  it('round-trips trees that no query text would write in this shape', () => {
    const x = (label: string): LabelFilterExpr => ({ kind: 'compare', label, op: '=', value: { type: 'string', value: label } })
    const trees: Expr[] = [
      // right-nested and, and or under and on both sides
      { kind: 'log', matchers: [{ name: 'a', op: '=', value: 'b' }], pipeline: [{ kind: 'label_filter', expr: { kind: 'and', left: x('p'), right: { kind: 'and', left: x('q'), right: x('r') } } }] },
      {
        kind: 'log',
        matchers: [{ name: 'a', op: '=', value: 'b' }],
        pipeline: [{ kind: 'label_filter', expr: { kind: 'and', left: { kind: 'or', left: x('p'), right: x('q') }, right: { kind: 'or', left: x('r'), right: x('s') } } }],
      },
      // a bare json extraction is the one whose expression is its label
      { kind: 'log', matchers: [{ name: 'a', op: '=', value: 'b' }], pipeline: [{ kind: 'parser', parser: 'json', extract: [{ label: 'k', expr: 'k' }] }] },
      // durations below a second, and a negative literal under ^
      { kind: 'range', op: 'count_over_time', log: { kind: 'log', matchers: [{ name: 'a', op: '=', value: 'b' }], pipeline: [] }, rangeNs: 1_000_001n, offsetNs: 1n },
      { kind: 'binary', op: '^', bool: false, left: { kind: 'number', value: -2 }, right: { kind: 'number', value: 2 } },
    ]
    for (const tree of trees) expect(parseLogQL(formatLogQL(tree))).toStrictEqual(tree)
  })
})

describe('formatLogQL on the largest trees the parser accepts', () => {
  it('does not exhaust the stack', () => {
    for (const query of [`${'1 + '.repeat(1000)}1`, `{a="b"} | ${'x="1" and '.repeat(1000)}x="1"`, `${'('.repeat(99)}1${')'.repeat(99)}`, `${'sum('.repeat(99)}vector(1)${')'.repeat(99)}`]) {
      const tree = parseLogQL(query)
      expect(parseLogQL(formatLogQL(tree))).toStrictEqual(tree)
    }
  })
})
