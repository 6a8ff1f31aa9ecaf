// `| logfmt` on embedded ClickHouse: the decoder's labels and --strict's errors for lines of every
// kind of token, against what Loki's own decoder gives for them (its parser tests' lines among
// them); the fast reading of `| logfmt` without flags against the decoder on generated lines; the
// flags through the Loki API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ClickHouseHandle } from '@sluice/clickhouse'
import { serveTestLogs } from '../test-store.js'
import type { ServedLogs } from '../test-store.js'
import { prng } from '../loki-fixture.js'
import { isUtf8 } from 'node:buffer'
import type { LogExpr } from '../logql/ast.js'
import { parseLogQL } from '../logql/parse.js'
import { compileLogQuery } from './compile.js'
import { decodeSentLogfmt, logfmtRawSql } from './logfmt-decode.js'
import { logfmtExtractSql, logfmtPlainSql, logfmtSql } from './logfmt.js'
import type { Labels } from './output.js'
import { Params } from './sql.js'

const DATABASE = 'loki_logfmt'

let served: ServedLogs
let ch: ClickHouseHandle
let baseUrl: string

const NS = 1_000_000_000n
const T0_S = Math.floor(Date.now() / 60_000) * 60 - 3600
const at = (s: number) => (BigInt(T0_S + s) * NS).toString()
const SHOP = [
  'level=info msg="paid \\"in full\\"" amount=12.5',
  'status=500 path=/pay=now user=u1',
  'standalone status=200',
  'status=200 status',
  '{"status":200,"msg":"json line"}',
  'not json = at all',
]

beforeAll(async () => {
  const rows = SHOP.map((Body, n) => ({ id: `lf-${n}`, tenant: 'default', Timestamp: at(n + 1), ObservedTimestamp: at(n + 1), ServiceName: 'shop', SeverityText: 'INFO', SeverityNumber: 9, Body }))
  served = await serveTestLogs('logfmt', DATABASE, rows)
  ch = served.ch
  baseUrl = served.baseUrl
})

afterAll(() => served?.close())

// ---- the decoder --------------------------------------------------------------------------------

interface Decoded {
  labels: Labels
  /** `__error_details__` with --strict ('' for none). */
  details: string
}

/** What `| logfmt` with `flags` reads from each line (bytes: a line that need not be UTF-8). */
async function decode(lines: (string | Buffer)[], flags: { strict: boolean; keepEmpty: boolean }): Promise<Decoded[]> {
  const p = new Params()
  const defs: string[] = []
  const name = (expr: string) => {
    defs.push(`${expr} AS d${defs.length}`)
    return `d${defs.length - 1}`
  }
  const r = logfmtSql('line', flags, name)
  const hex = p.bind(lines.map((l) => Buffer.from(l).toString('hex')), 'Array(String)')
  const details = r.error ? `if(${r.error.failed}, ${r.error.details}, '')` : "''"
  const query = `WITH ${defs.join(',\n')}
SELECT n, ${r.map} AS labels, ${details} AS details
FROM (SELECT arrayJoin(arrayZip(arrayMap(h -> unhex(h), ${hex}), range(length(${hex})))) AS z, z.1 AS line, z.2 AS n)
ORDER BY n`
  const rs = await ch.client.query({ query, query_params: p.values, format: 'JSONEachRow' })
  return (await rs.json<Decoded & { n: number }>()).map(({ labels, details }) => ({ labels, details }))
}

/**
 * A line and what Loki's decoder reads from it: `k` with --keep-empty; `s` with --strict (by
 * default `k` without its empty values) and the error; `sk` with both (by default `k` when the line
 * has no error, `s` when it has).
 */
interface Case {
  line: string | Buffer
  k: Labels
  s?: Labels
  error?: string
  sk?: Labels
}

const withoutEmpty = (l: Labels) => Object.fromEntries(Object.entries(l).filter(([, v]) => v !== ''))
const at_ = (pos: number, message: string) => `logfmt syntax error at pos ${pos} : ${message}`
const bytes = (...parts: (string | number[])[]) => Buffer.concat(parts.map((x) => (typeof x === 'string' ? Buffer.from(x) : Buffer.from(x))))

// Each checked against Loki's decoder (pkg/logql/log/logfmt, driven as its LogfmtParser drives it).
const CASES: Case[] = [
  // Loki's parser tests.
  { line: 'foo="foo bar" =notkey bar=10ms', k: { foo: 'foo bar', bar: '10ms' }, s: { foo: 'foo bar' }, error: at_(15, "unexpected '='") },
  { line: 'foo="foo bar" b\u{FFFD}r=10ms', k: { foo: 'foo bar' }, error: at_(20, 'invalid key') },
  { line: 'foo="foo bar" bu"zz=10ms', k: { foo: 'foo bar' }, error: at_(17, 'unexpected \'"\'') },
  { line: 'bar=bu=zz foo="foo bar"', k: { foo: 'foo bar' }, s: {}, error: at_(7, "unexpected '='") },
  { line: 'foo bar=buzz', k: { foo: '', bar: 'buzz' } },
  { line: 'foo=b\u{FFFD}r bar=buzz', k: { foo: 'b r', bar: 'buzz' } },
  // The documentation's line.
  {
    line: 'at=info method=GET path=/ host=grafana.net fwd="124.133.124.161" service=8ms status=200',
    k: { at: 'info', method: 'GET', path: '/', host: 'grafana.net', fwd: '124.133.124.161', service: '8ms', status: '200' },
  },
  // Quoted values: escapes as JSON's and \'; a lone surrogate is U+FFFD, then a space.
  { line: 'a="x\\"y z" b=2', k: { a: 'x"y z', b: '2' } },
  { line: 'msg="tab\\there \\u00e9\\ud83d\\ude00 \\/ \\\\ \\\'" n=1', k: { msg: "tab\there é😀 / \\ '", n: '1' } },
  { line: 'k="\\ud800x" j="\\udc00"', k: { k: ' x', j: ' ' } },
  { line: 'k="bad \\q escape" after=1', k: { after: '1' }, s: {}, error: at_(18, 'invalid quoted value') },
  { line: 'k="\\u12" after=1', k: { after: '1' }, s: {}, error: at_(9, 'invalid quoted value') },
  { line: 'a=1 b="unterminated c=3', k: { a: '1' }, error: at_(24, 'unterminated quoted value') },
  { line: 'a=1 b="ends with escaped quote\\"', k: { a: '1' }, error: at_(33, 'unterminated quoted value') },
  // A quoted value ends its token; what follows starts the next.
  { line: 'a="b"c=d e="f"="g" h=i', k: { a: 'b', c: 'd', e: 'f', h: 'i' }, s: { a: 'b', c: 'd', e: 'f' }, error: at_(15, "unexpected '='") },
  { line: 'a"b c=1', k: { c: '1' }, s: {}, error: at_(2, 'unexpected \'"\'') },
  { line: '"quoted" c=1', k: { c: '1' }, s: {}, error: at_(1, 'unexpected \'"\'') },
  { line: 'k=v=w=x z=1', k: { z: '1' }, s: {}, error: at_(4, "unexpected '='") },
  { line: 'k=v"w z=1', k: { z: '1' }, s: {}, error: at_(4, 'unexpected \'"\'') },
  // Keys sanitised: Unicode spaces trimmed, a leading digit prefixed, other characters as `_`.
  { line: 'x.y=1 9z=2 \u00a0k\u00a0=3 été=4 -=5', k: { x_y: '1', _9z: '2', k: '3', _t_: '4', _: '5' } },
  // The first pair of a key wins (Loki 3.5+); without --keep-empty the first with a value.
  { line: 'a=1 a=2 a= a b=', k: { a: '1', b: '' } },
  { line: 'a= a=2 a=3 b b=4', k: { a: '', b: '' }, s: { a: '2', b: '4' } },
  { line: 'x.y=1 x_y=2 9z=3 _9z=4', k: { x_y: '1', _9z: '3' } },
  { line: 'empty="" k=""x', k: { empty: '', k: '', x: '' } },
  // Every byte up to 0x20 separates.
  { line: 'a\tb=1\nc=2\u0000d=3', k: { a: '', b: '1', c: '2', d: '3' } },
  // A key holding U+FFFD is an error up to the next separator, quotes or not.
  { line: 'k\u{FFFD}="q r" s=1', k: { s: '1' }, s: {}, error: at_(5, 'invalid key') },
  { line: 'k\u{FFFD}"x y=1', k: { y: '1' }, s: {}, error: at_(5, 'unexpected \'"\'') },
  { line: 'k\u{FFFD} t=1', k: { t: '1' }, s: {}, error: at_(5, 'invalid key') },
  { line: '=', k: {}, error: at_(1, "unexpected '='") },
  { line: '', k: {} },
  { line: '   ', k: {} },
  // Bytes that are not UTF-8: a space each in a value, an invalid key in a key; positions in bytes.
  { line: bytes('a=x', [0xff, 0xfe], 'y b=2'), k: { a: 'x  y', b: '2' } },
  { line: bytes('a=1 k', [0xc3], '=2 c="unterminated'), k: { a: '1' }, error: at_(7, 'invalid key') },
  { line: bytes('a=1 ', [0xed, 0xa0, 0x80], '=2 c="d'), k: { a: '1' }, error: at_(8, 'invalid key') },
  { line: bytes('a=x', [0xff], ' b=c=d'), k: { a: 'x ' }, error: at_(9, "unexpected '='") },
]

describe('the logfmt decoder', () => {
  const lines = CASES.map((c) => c.line)
  const shown = (c: Case) => (typeof c.line === 'string' ? c.line : c.line.toString('hex'))

  it('reads with --keep-empty what Loki reads, standalone keys and empty values as empty labels', async () => {
    const got = await decode(lines, { strict: false, keepEmpty: true })
    CASES.forEach((c, n) => expect(got[n], shown(c)).toEqual({ labels: c.k, details: '' }))
  })

  it('stops with --strict at the first error, keeping the pairs before it, with the error Loki gives', async () => {
    const got = await decode(lines, { strict: true, keepEmpty: false })
    CASES.forEach((c, n) => expect(got[n], shown(c)).toEqual({ labels: c.s ?? withoutEmpty(c.k), details: c.error ?? '' }))
  })

  it('takes both flags together', async () => {
    const got = await decode(lines, { strict: true, keepEmpty: true })
    const expected = (c: Case): Labels => c.sk ?? (c.error === undefined ? c.k : (c.s ?? withoutEmpty(c.k)))
    CASES.forEach((c, n) => expect(got[n], shown(c)).toEqual({ labels: expected(c), details: c.error ?? '' }))
  })
})

// ---- extraction parameters ------------------------------------------------------------------------

/** What `| logfmt label=…, …` reads from each line, each label taking the keys given. */
async function extract(lines: (string | Buffer)[], keys: Record<string, string[]>): Promise<Labels[]> {
  const p = new Params()
  const defs: string[] = []
  const name = (expr: string) => {
    defs.push(`${expr} AS d${defs.length}`)
    return `d${defs.length - 1}`
  }
  const r = logfmtExtractSql('line', new Map(Object.entries(keys)), p, name)
  const hex = p.bind(lines.map((l) => Buffer.from(l).toString('hex')), 'Array(String)')
  const query = `WITH ${defs.join(',\n')}
SELECT n, ${r.map} AS labels
FROM (SELECT arrayJoin(arrayZip(arrayMap(h -> unhex(h), ${hex}), range(length(${hex})))) AS z, z.1 AS line, z.2 AS n)
ORDER BY n`
  const rs = await ch.client.query({ query, query_params: p.values, format: 'JSONEachRow' })
  return (await rs.json<{ n: number; labels: Labels }>()).map((r) => r.labels)
}

// Loki's LogfmtExpressionParser, as a log query runs it: each label set (to '' without a pair), the
// last pair whose sanitised key the label takes winning, a value with U+FFFD (or a byte that is not
// UTF-8) read as ''.
describe('the logfmt decoder with extraction parameters', () => {
  it("reads Loki's parser tests' line", async () => {
    const line = 'app=foo level=error spaces="value with ÜFT8👌" ts=2021-02-12T19:18:10.037940878Z'
    const keys = { app: ['app'], lvl: ['level', 'lvl'], timestamp: ['ts', 'timestamp'], spaces: ['spaces'], nope: ['nope'] }
    expect(await extract([line], keys)).toEqual([{ app: 'foo', lvl: 'error', timestamp: '2021-02-12T19:18:10.037940878Z', spaces: 'value with ÜFT8👌', nope: '' }])
  })

  it('takes the last pair of any of its keys, empty or a standalone key too', async () => {
    const lines = ['a=5 x=7', 'x=7 a=5', 'b=1', 'x=1 x=', 'x=1 x', 'x=1 x=b=c a"b', 'x="q\\"r" y=2', 'x.y=1 k=2', '']
    expect((await extract(lines, { a: ['x', 'a'] })).map((l) => l.a)).toEqual(['7', '5', '', '', '', '1', 'q"r', '', ''])
  })

  it("reads a value with U+FFFD or a byte that is not UTF-8 as ''", async () => {
    const lines = ['x=b\u{FFFD}r', bytes('x=b', [0xff], 'r'), 'x="\\ud800"', bytes('x=ok ', [0xc3], '=1'), 'x="\\u00e9"']
    expect((await extract(lines, { a: ['x'] })).map((l) => l.a)).toEqual(['', '', '', 'ok', 'é'])
  })

  it('matches sanitised keys', async () => {
    expect(await extract(['x.y=1 x_y=2 9z=3', 'x_y=2 x-y=4'], { x_y: ['x_y'], _9z: ['_9z'] })).toEqual([
      { x_y: '2', _9z: '3' },
      { x_y: '4', _9z: '' },
    ])
  })
})

// ---- the fast reading ---------------------------------------------------------------------------

/**
 * Lines of logfmt's every kind of token, as bytes: 40 % made of what the fast reading takes (names
 * as Loki keeps them, plain and quoted values, separators ≤ 0x20 it knows), each of those with one
 * thing in three it does not (a key Loki renames, an escape, a quote or '=' out of place, a glued
 * pair, an error token, U+FFFD, a byte that is not UTF-8, a control byte); 40 % anything at all;
 * 20 % text and JSON, with a pair now and then. Keys come from a short list, so that they repeat.
 */
function generatedLines(count: number, seed: number): Buffer[] {
  const rnd = prng(seed)
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!
  const NAMES = ['a', 'b', 'level', 'msg', '_k', 'A9', 'ts', 'a_b']
  const RENAMED = ['x.y', '9z', 'k-1', 'é', 'k\u00a0', '\u2000k', 'a.b', 'x_y', '-']
  const VALUES = ['1', 'info', '12ms', '/api/v1?q=1', 'c:\\path', 'é', '日本', '😀', '\x7f', 'a\\b', 'u-1']
  const QUOTED = ['GET /api 200', 'x=y', '', ' ', 'tab\there', 'new\nline', 'é ü', '\x01', 'k="v"']
  const SEPARATORS = [' ', ' ', ' ', '  ', '\t', '\n', '\r\n', '\x0b', '\x0c']
  const ODD = [
    () => pick(['\x00', '\x1f', '\u00a0', '\u2028', '']),
    () => `${pick(RENAMED)}=${pick(VALUES)}`,
    () => `${pick(NAMES)}="${pick(['\\"q\\"', '\\\\', '\\u00e9', '\\ud83d\\ude00', '\\ud800', '\\q', '\\n', '\\'])}"`,
    () => `${pick(NAMES)}=${pick(['v=w', 'v"w', '"', '=', 'x"', '\u{FFFD}', 'b\u{FFFD}r'])}`,
    () => pick(['=x', '=', '"q"', 'a"b', '"', 'k\u{FFFD}=1', 'k="unterminated', '==']),
    () => `${pick(NAMES)}="${pick(QUOTED)}"${pick(NAMES)}=${pick(VALUES)}`,
    () => `${pick(NAMES)}="v${pick(['\u{FFFD}', '\x00'])}"`,
  ]
  const BYTES = [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xc0, 0xaf], [0xef, 0xbf, 0xbd], [0xe2, 0x82]]
  const plainToken = () => {
    const r = rnd()
    if (r < 0.08) return pick(NAMES)
    if (r < 0.5) return `${pick(NAMES)}="${pick(QUOTED)}"`
    return `${pick(NAMES)}=${r < 0.6 ? '' : pick(VALUES)}`
  }
  const anyToken = () => (rnd() < 0.4 ? plainToken() : pick(ODD)())
  const WORDS = ['User', 'u-1', 'logged', 'in', 'from', '10.0.0.1:5432', '(active=3,', 'idle=5)', 'took', '12ms', 'é', '"quoted', 'words"', 'x=y', 'a=', '-', '{', '}']
  const JSON_LINES = ['{"level":"info","msg":"a b","n":1}', '{"msg": "x a=b y", "n": 2}', '{"url":"/p?q=1&r=2"}', '["a", "b"]', '{"k": "é\\u00e9"}']
  const text = () => (rnd() < 0.3 ? pick(JSON_LINES) : Array.from({ length: 1 + Math.floor(rnd() * 8) }, () => pick(WORDS)).join(pick([' ', ' ', '\t'])))
  return Array.from({ length: count }, () => {
    if (rnd() < 0.2) return Buffer.from(text())
    const plain = rnd() < 0.5
    const n = Math.floor(rnd() * 7)
    const parts: Buffer[] = [Buffer.from(rnd() < 0.2 ? pick(SEPARATORS) : '')]
    for (let i = 0; i < n; i++) {
      if (i > 0) parts.push(Buffer.from(plain ? pick(SEPARATORS) : pick([...SEPARATORS, '', '\x00', '\u00a0'])))
      parts.push(Buffer.from(plain ? (rnd() < 1 / (3 * n) ? pick(ODD)() : plainToken()) : anyToken()))
      if (!plain && rnd() < 0.1) parts.push(Buffer.from(pick(BYTES)))
    }
    if (rnd() < 0.2) parts.push(Buffer.from(pick(SEPARATORS)))
    return Buffer.concat(parts)
  })
}

describe('| logfmt without flags', () => {
  it("reads every generated line as the decoder does, the fast reading answering most of the plain ones", async () => {
    const lines = [1, 2, 3].flatMap((seed) => generatedLines(20_000, seed))
    await ch.client.command({ query: `CREATE TABLE ${DATABASE}.generated (n UInt32, hex String) ENGINE = Memory` })
    await ch.client.insert({ table: `${DATABASE}.generated`, values: lines.map((l, n) => ({ n, hex: l.toString('hex') })), format: 'JSONEachRow' })
    const defs: string[] = []
    const name = (expr: string) => {
      defs.push(`${expr} AS d${defs.length}`)
      return `d${defs.length - 1}`
    }
    const plain = logfmtPlainSql('line', name)
    const exact = logfmtSql('line', { strict: false, keepEmpty: false }, name).map
    const pairs = (m: string) => `arraySort(CAST(${m}, 'Array(Tuple(String, String))'))`
    const query = `WITH ${defs.join(',\n')}
SELECT count() AS lines, countIf(fast) AS fast, groupArrayIf(3)((hex(line), got, want), got != want) AS wrong
FROM (SELECT unhex(hex) AS line, ${plain.fast} AS fast, ${pairs(plain.map)} AS got, ${pairs(exact)} AS want FROM ${DATABASE}.generated)
SETTINGS short_circuit_function_evaluation = 'force_enable'`
    const rs = await ch.client.query({ query, format: 'JSONEachRow' })
    const [r] = await rs.json<{ lines: string; fast: string; wrong: unknown[] }>()
    expect(r!.wrong).toEqual([])
    expect(Number(r!.lines)).toBe(lines.length)
    // Both readings answer for many lines (the generator's plain half, less what spoils it).
    expect(Number(r!.fast)).toBeGreaterThan(lines.length * 0.3)
    expect(Number(r!.fast)).toBeLessThan(lines.length * 0.6)
  })
})

// ---- the decoder in JavaScript -----------------------------------------------------------------------

/**
 * Each line as a log query sends it (its text through ClickHouse's JSON, and logfmtRawSql beside it)
 * with the SQL decoder's labels without flags, and the JavaScript decoder's labels of it.
 */
async function bothReadings(table: string): Promise<{ line: string; sql: Labels; js: Labels }[]> {
  const defs: string[] = []
  const name = (expr: string) => {
    defs.push(`${expr} AS d${defs.length}`)
    return `d${defs.length - 1}`
  }
  const exact = logfmtSql('line', { strict: false, keepEmpty: false }, name).map
  const query = `WITH ${defs.join(',\n')}
SELECT hex, line AS text, ${logfmtRawSql('line')} AS raw, ${exact} AS sql
FROM (SELECT n, hex, unhex(hex) AS line FROM ${table})
ORDER BY n
SETTINGS short_circuit_function_evaluation = 'force_enable'`
  const rs = await ch.client.query({ query, format: 'JSONEachRow' })
  const rows = await rs.json<{ hex: string; text: string; raw: string; sql: Labels }>()
  return rows.map((r) => ({ line: r.hex, sql: r.sql, js: { ...decodeSentLogfmt(r.text, r.raw) } }))
}

describe('| logfmt without flags in JavaScript', () => {
  it("reads Loki's cases as the SQL decoder does", async () => {
    await ch.client.command({ query: `CREATE TABLE ${DATABASE}.cases (n UInt32, hex String) ENGINE = Memory` })
    await ch.client.insert({ table: `${DATABASE}.cases`, values: CASES.map((c, n) => ({ n, hex: Buffer.from(c.line).toString('hex') })), format: 'JSONEachRow' })
    const read = await bothReadings(`${DATABASE}.cases`)
    expect(read).toHaveLength(CASES.length)
    for (const r of read) expect(r.js, r.line).toEqual(r.sql)
    // And what Loki gives, where the cases say it for no flags: the first pair of a key with a value.
    expect(read[0]!.js).toEqual({ foo: 'foo bar', bar: '10ms' })
  })

  it('reads every generated line as the SQL decoder does, bytes that are not UTF-8 too', async () => {
    const lines = [4, 5, 6].flatMap((seed) => generatedLines(20_000, seed))
    await ch.client.command({ query: `CREATE TABLE ${DATABASE}.generated_js (n UInt32, hex String) ENGINE = Memory` })
    await ch.client.insert({ table: `${DATABASE}.generated_js`, values: lines.map((l, n) => ({ n, hex: l.toString('hex') })), format: 'JSONEachRow' })
    const read = await bothReadings(`${DATABASE}.generated_js`)
    expect(read).toHaveLength(lines.length)
    const wrong = read.filter((r) => JSON.stringify(Object.entries(r.js).sort()) !== JSON.stringify(Object.entries(r.sql).sort()))
    expect(wrong.slice(0, 3)).toEqual([])
    // The lines hold what the decoder must get right: pairs, and lines that are not UTF-8.
    expect(read.filter((r) => Object.keys(r.sql).length > 0).length).toBeGreaterThan(lines.length / 2)
    expect(lines.filter((l) => !isUtf8(l)).length).toBeGreaterThan(1000)
  })
})

describe('| logfmt with extraction parameters', () => {
  it('reads every generated line as the decoder does, the fast reading answering most of the plain ones', async () => {
    const lines = [4, 5, 6].flatMap((seed) => generatedLines(20_000, seed))
    await ch.client.command({ query: `CREATE TABLE ${DATABASE}.generated_x (n UInt32, hex String) ENGINE = Memory` })
    await ch.client.insert({ table: `${DATABASE}.generated_x`, values: lines.map((l, n) => ({ n, hex: l.toString('hex') })), format: 'JSONEachRow' })
    const p = new Params()
    const defs: string[] = []
    const name = (expr: string) => {
      defs.push(`${expr} AS d${defs.length}`)
      return `d${defs.length - 1}`
    }
    // Labels of one key and of two (both of the generator's names), and of a key only a renamed one gives.
    const keys = new Map([['a', ['a']], ['lvl', ['level', 'lvl']], ['ts', ['A9', 'ts']], ['m', ['msg', 'm']], ['x_y', ['x_y']]])
    const r = logfmtExtractSql('line', keys, p, name)
    const query = `WITH ${defs.join(',\n')}
SELECT count() AS lines, countIf(fast) AS fast, groupArrayIf(3)((hex(line), got, want), got != want) AS wrong
FROM (SELECT unhex(hex) AS line, ${r.fast} AS fast, arraySort(CAST(${r.map}, 'Array(Tuple(String, String))')) AS got, arraySort(CAST(${r.exact}, 'Array(Tuple(String, String))')) AS want FROM ${DATABASE}.generated_x)
SETTINGS short_circuit_function_evaluation = 'force_enable'`
    const rs = await ch.client.query({ query, query_params: p.values, format: 'JSONEachRow' })
    const [row] = await rs.json<{ lines: string; fast: string; wrong: unknown[] }>()
    expect(row!.wrong).toEqual([])
    expect(Number(row!.lines)).toBe(lines.length)
    expect(Number(row!.fast)).toBeGreaterThan(lines.length * 0.2)
    expect(Number(row!.fast)).toBeLessThan(lines.length * 0.6)
  })
})

// ---- through the API ------------------------------------------------------------------------------

interface Entry {
  line: string
  parsed: Labels
}

async function get(pathname: string, params: Record<string, string>, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const res = await fetch(`${baseUrl}${pathname}?${new URLSearchParams(params)}`, { headers })
  return { status: res.status, body: await res.text() }
}

/** The lines of a log query, oldest first, with their parsed labels (categorize-labels). */
async function lines(query: string): Promise<Entry[]> {
  const reply = await get('/loki/api/v1/query_range', { query, start: at(0), end: at(60), direction: 'forward' }, { 'X-Loki-Response-Encoding-Flags': 'categorize-labels' })
  expect(reply.status, reply.body).toBe(200)
  const result = (JSON.parse(reply.body) as { data: { result: { values: [string, string, { parsed?: Labels }?][] }[] } }).data.result
  return result
    .flatMap((s) => s.values)
    .sort((a, b) => (BigInt(a[0]) < BigInt(b[0]) ? -1 : 1))
    .map(([, line, meta]) => ({ line, parsed: meta?.parsed ?? {} }))
}

const failed = (pos: number, message: string) => ({ __error__: 'LogfmtParserErr', __error_details__: at_(pos, message) })

describe('| logfmt --strict and --keep-empty through the API', () => {
  it('reads the labels of the lines answered without flags (in JavaScript), also of a line a template made', async () => {
    expect(await lines('{service_name="shop"} | logfmt')).toEqual([
      { line: SHOP[0], parsed: { level_extracted: 'info', msg: 'paid "in full"', amount: '12.5' } },
      // `path=/pay=now` is an error token; the pairs around it are read.
      { line: SHOP[1], parsed: { status: '500', user: 'u1' } },
      { line: SHOP[2], parsed: { status: '200' } },
      { line: SHOP[3], parsed: { status: '200' } },
      { line: SHOP[4], parsed: {} },
      { line: SHOP[5], parsed: {} },
    ])
    // The second parser reads the line line_format made of the first one's label.
    const chained = await lines('{service_name="shop"} | logfmt | line_format "a={{.status}} b=\\"{{.user}}\\"" | logfmt')
    expect(chained[1]).toEqual({ line: 'a=500 b="u1"', parsed: { status: '500', user: 'u1', a: '500', b: 'u1' } })
    expect(chained[0]).toEqual({ line: 'a= b=""', parsed: { level_extracted: 'info', msg: 'paid "in full"', amount: '12.5' } })
  })

  it('labels a malformed line LogfmtParserErr with the details, keeping the pairs before the error', async () => {
    expect(await lines('{service_name="shop"} | logfmt --strict')).toEqual([
      // `level` is a stream label: the parsed one is level_extracted, as in Loki.
      { line: SHOP[0], parsed: { level_extracted: 'info', msg: 'paid "in full"', amount: '12.5' } },
      { line: SHOP[1], parsed: { status: '500', ...failed(21, "unexpected '='") } },
      { line: SHOP[2], parsed: { status: '200' } },
      { line: SHOP[3], parsed: { status: '200' } },
      { line: SHOP[4], parsed: failed(2, 'unexpected \'"\'') },
      { line: SHOP[5], parsed: failed(10, "unexpected '='") },
    ])
  })

  it('filters on __error__ and __error_details__, and drops them', async () => {
    const ok = await lines('{service_name="shop"} | logfmt --strict | __error__=""')
    expect(ok.map((e) => e.line)).toEqual([SHOP[0], SHOP[2], SHOP[3]])
    const at21 = await lines('{service_name="shop"} | logfmt --strict | __error_details__=~".* pos 21 .*"')
    expect(at21.map((e) => e.line)).toEqual([SHOP[1]])
    const dropped = await lines('{service_name="shop"} | logfmt --strict | drop __error__, __error_details__')
    expect(dropped[1]).toEqual({ line: SHOP[1], parsed: { status: '500' } })
    // A drop before the parser hides no error of its own.
    const again = await lines('{service_name="shop"} | drop __error__ | logfmt --strict | __error__!=""')
    expect(again.map((e) => e.line)).toEqual([SHOP[1], SHOP[4], SHOP[5]])
  })

  it("replaces an earlier parser's error, as Loki's does", async () => {
    const both = await lines('{service_name="shop"} | json | logfmt --strict')
    // Lines 1, 4 (valid JSON) and 5 are no logfmt; the others, no JSON, keep json's error.
    expect(both.map((e) => e.parsed.__error__)).toEqual(['JSONParserErr', 'LogfmtParserErr', 'JSONParserErr', 'JSONParserErr', 'LogfmtParserErr', 'LogfmtParserErr'])
    expect(both[4]!.parsed.__error_details__).toBe(at_(2, 'unexpected \'"\''))
  })

  it('keeps a standalone key with --keep-empty, where the key has no pair before it', async () => {
    const empty = await lines('{service_name="shop"} | logfmt --keep-empty | status=""')
    expect(empty.map((e) => e.line)).toEqual([SHOP[0], SHOP[4], SHOP[5]])
    const plain = await lines('{service_name="shop"} | logfmt --keep-empty | status="200"')
    expect(plain.map((e) => e.line)).toEqual([SHOP[2], SHOP[3]])
  })

  it('counts the lines without an error in a metric query', async () => {
    const reply = await get('/loki/api/v1/query', { query: 'sum(count_over_time({service_name="shop"} | logfmt --strict | __error__="" [5m]))', time: at(60) })
    expect(reply.status, reply.body).toBe(200)
    const result = (JSON.parse(reply.body) as { data: { result: { value: [number, string] }[] } }).data.result
    expect(result.map((s) => s.value[1])).toEqual(['3'])
  })

  it('sets every label asked for with extraction parameters, to the last pair of its keys', async () => {
    expect((await lines('{service_name="shop"} | logfmt st="status", msg')).map((e) => e.parsed)).toEqual([{ msg: 'paid "in full"' }, { st: '500' }, { st: '200' }, {}, {}, {}])
    // A label without a value is '': it is there, so a number filter marks the line instead of dropping it.
    // Marked with the error Go's strconv.ParseFloat gives for '' in __error_details__, as Loki does.
    const filtered = await lines('{service_name="shop"} | logfmt st="status" | st > 250')
    const unread = { __error__: 'LabelFilterErr', __error_details__: 'strconv.ParseFloat: parsing "": invalid syntax' }
    expect(filtered.map((e) => [e.line, e.parsed])).toEqual([[SHOP[0], unread], [SHOP[1], { st: '500' }], [SHOP[3], unread], [SHOP[4], unread], [SHOP[5], unread]])
  })

  it('refuses extraction parameters in a metric query (400)', async () => {
    const reply = await get('/loki/api/v1/query', { query: 'sum by (st) (count_over_time({service_name="shop"} | logfmt st="status" [5m]))', time: at(60) })
    expect(reply.status).toBe(400)
    expect(reply.body).toMatch(/logfmt with extraction parameters in a metric query/)
  })

  it('reads parsers chained through line_format, each reading the line the one before wrote', async () => {
    // Each decoder's reading is a column of its own (Pipeline.bind): five in a row plan in a few ms.
    const chained = await lines('{service_name="shop"} | logfmt | line_format "{{.msg}}" | logfmt | line_format "{{.a}}" | logfmt | line_format "{{.b}}" | logfmt | line_format "{{.c}}" | logfmt')
    // msg's value `paid "in full"` read again as logfmt holds no pair; every later line is empty.
    expect(chained.map((e) => [e.line, e.parsed])).toEqual([
      ['', { level_extracted: 'info', msg: 'paid "in full"', amount: '12.5' }],
      ['', { status: '500', user: 'u1' }],
      ['', { status: '200' }],
      ['', { status: '200' }],
      ['', {}],
      ['', {}],
    ])
  })

  it('answers a query too big for ClickHouse to plan with a 400 naming it (parsers chained through line_format)', async () => {
    const stages = Array.from({ length: 40 }, (_, i) => `| logfmt | line_format "{{.k${i}}}"`).join(' ')
    const reply = await get('/loki/api/v1/query_range', { query: `{service_name="shop"} ${stages}`, start: at(0), end: at(60) })
    expect(reply.status, reply.body).toBe(400)
    expect(reply.body).toMatch(/^the query is too big for ClickHouse to plan \((Query tree is too big|Max query size exceeded)/)
  })

  it('has ClickHouse analyse a decoder once however often its labels are mentioned', async () => {
    // The analyser expands a WITH name at every mention; a decoder's reading is bound to a column
    // (Pipeline.bind). Counted in the query tree ClickHouse builds: the decoder's regular
    // expressions (its characters, tokens and a quoted value's pieces) a few times, not once per
    // mention (named in WITH, these four queries held 232, 348, 1 612 and 203).
    const queries = [
      '{service_name="shop"} | logfmt | status >= 500',
      '{service_name="shop"} | logfmt | status >= 500 or status = "" | user != "u2" | line_format "{{.status}} {{.user}}"',
      // --strict's error details read the line's characters again (offsets of stray bytes).
      '{service_name="shop"} | logfmt --strict | status >= 500 | __error__ = ""',
      '{service_name="shop"} | logfmt st="status" | st > 250 | st != "404"',
    ]
    const counts: number[] = []
    for (const q of queries) {
      const st = compileLogQuery({ db: DATABASE, tenant: 'default' }, parseLogQL(q) as LogExpr, { fromNs: BigInt(at(0)), toNs: BigInt(at(60)), limit: 100, direction: 'backward' })
      const rs = await ch.client.query({ query: `EXPLAIN QUERY TREE ${st.query}`, query_params: st.params, format: 'TabSeparatedRaw' })
      counts.push((await rs.text()).match(/function_name: extractAll\b/g)?.length ?? 0)
    }
    for (const [i, n] of counts.entries()) expect(n, queries[i]).toBeLessThanOrEqual(8)
  })

  it('refuses --strict with extraction parameters (400 naming it)', async () => {
    const reply = await get('/loki/api/v1/query_range', { query: '{service_name="shop"} | logfmt --strict status', start: at(0), end: at(60) })
    expect(reply.status).toBe(400)
    expect(reply.body).toMatch(/logfmt --strict with extraction parameters/)
  })
})
