// The error labels of answered lines, worked out in JavaScript from each mark's condition
// (pipeline.ts, Mark), against the same labels as SQL expressions: a `drop __error__` matcher that
// matches no error (`"no such error"`) changes no answer, but clears the marks, so the statement
// selects `__error__` and `__error_details__` as it did before marks. Every query is asked both
// ways over lines that fail each parser and converter in each way, through the Loki API on
// embedded ClickHouse, and each question must mark some lines, so the comparison is not vacuous.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serveTestLogs } from '../test-store.js'
import type { ServedLogs } from '../test-store.js'

const DATABASE = 'loki_error_marks'
const NS = 1_000_000_000n
const T0_S = Math.floor(Date.now() / 60_000) * 60 - 3600
const at = (s: number) => (BigInt(T0_S + s) * NS).toString()

type Labels = Record<string, string>

const BODIES = [
  '{"duration":"2s","size":"3KB","n":"7","msg":"ok"}',
  '{"duration":"150ms","size":"12","n":"1.5"}',
  '{"duration":"-3s","size":"1 MiB","n":"-2"}',
  '{"duration":"fast","size":"huge","n":"many"}',
  '{"duration":1.0,"size":2048,"n":3}',
  '{"duration":0,"size":"5zb","n":"0x1p3"}',
  '{"duration":"","size":"","n":""}',
  '{"duration":".5s","size":"1,024 kb","n":"inf"}',
  '{"duration":"1h.5m","size":"10 EB","n":"1e400"}',
  '{"nested":{"duration":"9s"},"msg":"nested only"}',
  '  \t{"duration":"4s"}',
  '[1, 2, 3]',
  '"a json string"',
  '{"duration":"5s", "broken": ',
  'duration=6s size=1KB n=4 msg="logfmt line"',
  'duration="7s size=2KB',
  'plain text, no fields at all',
  '',
  '{"_entry":"packed line","duration":"8s","n":"x"}',
  '{"_entry":"packed","duration":"soon"}',
  '{"nested":{"duration":"later"}}',
  'duration=soon size=big n=x',
  'duration=3s junk="unclosed',
  '{"duration":null,"n":null,"msg":"nulls"}',
]

let served: ServedLogs

beforeAll(async () => {
  const rows = BODIES.map((Body, n) => ({
    id: `em-${n}`,
    tenant: 'default',
    Timestamp: at(n + 1),
    ObservedTimestamp: at(n + 1),
    ServiceName: 'marks',
    SeverityText: 'INFO',
    SeverityNumber: 9,
    Body,
  }))
  served = await serveTestLogs('error-marks', DATABASE, rows)
})
afterAll(() => served.close())

/** The lines of a log query, oldest first: the line, its parsed labels and the statement's columns. */
async function lines(query: string): Promise<{ line: string; parsed: Labels }[]> {
  const params = new URLSearchParams({ query, start: at(0), end: at(60), direction: 'forward', limit: '100' })
  const res = await fetch(`${served.baseUrl}/loki/api/v1/query_range?${params}`, { headers: { 'X-Scope-OrgID': 'default', 'X-Loki-Response-Encoding-Flags': 'categorize-labels' } })
  const text = await res.text()
  expect(res.status, text).toBe(200)
  const reply = JSON.parse(text) as { data: { result: { values: [string, string, { parsed?: Labels }?][] }[] } }
  return reply.data.result
    .flatMap((s) => s.values)
    .sort((a, b) => (BigInt(a[0]) < BigInt(b[0]) ? -1 : BigInt(a[0]) > BigInt(b[0]) ? 1 : a[1] < b[1] ? -1 : 1))
    .map(([, line, extra]) => ({ line, parsed: extra?.parsed ?? {} }))
}

const SELECTOR = '{service_name="marks"}'
const AS_SQL = ' | drop __error__="no such error"'

// Each pipeline marks some of the lines above (the count of marked lines is checked).
const PIPELINES = [
  '| json',
  '| json | duration > 1s',
  '| json | duration <= 1s',
  '| json | size > 1KB',
  '| json | n > 2',
  '| json | duration > 1s or n > 2',
  '| json | duration > 1s and size < 1MB',
  '| json | duration > 1s | size > 1KB | n != 3',
  '| json d="duration", s="size"',
  '| json d="duration" | d > 1s',
  '| json d="nested.duration" | d > 1s',
  '| logfmt --strict',
  '| logfmt --strict | duration > 1s',
  '| logfmt | duration > 1s',
  '| unpack',
  '| unpack | duration > 1s',
  '| json | line_format "{{.msg}}"',
  '| line_format "{{.duration}}" | json',
  '| json | line_format "{{ div 1 0 }}"',
  '| json | label_format d="{{ .duration | duration }}"',
  '| json | logfmt | duration > 1s',
  '| logfmt | json | n > 2',
  '| json | duration > 1s | keep duration',
  '| json | duration > 1s | drop __error_details__',
  '| json | drop __error__ | duration > 1s',
]

describe('the error labels of answered lines', () => {
  it.each(PIPELINES)('are the same from the marks as from the SQL labels: %s', async (pipeline) => {
    const fromMarks = await lines(`${SELECTOR} ${pipeline}`)
    const fromSql = await lines(`${SELECTOR} ${pipeline}${AS_SQL}`)
    expect(fromMarks).toEqual(fromSql)
    expect(fromMarks.some((l) => l.parsed.__error__ !== undefined || l.parsed.__error_details__ !== undefined), 'no line marked').toBe(true)
  })

  it('name each failure as Loki does', async () => {
    const filtered = await lines(`${SELECTOR} | json | duration > 1s`)
    const parsed = await lines(`${SELECTOR} | json`)
    const of = (got: { line: string; parsed: Labels }[], n: number) => got.find((l) => l.line === BODIES[n])?.parsed
    expect(of(filtered, 3)).toMatchObject({ __error__: 'LabelFilterErr', __error_details__: 'time: invalid duration "fast"' })
    expect(of(filtered, 1)).toBeUndefined()
    expect(of(filtered, 10)).toEqual({ duration: '4s' })
    const notObject = { __error__: 'JSONParserErr', __error_details__: "Value looks like object, but can't find closing '}' symbol" }
    expect(of(parsed, 11)).toEqual(notObject)
    expect(of(parsed, 16)).toEqual(notObject)
    // A line that breaks off inside its object is marked without details.
    expect(of(parsed, 13)).toEqual({ __error__: 'JSONParserErr' })
    // A parser's error stays: the label filter marks only lines without one.
    expect(of(await lines(`${SELECTOR} | json | duration > 1s or n > 2`), 11)).toBeUndefined()
  })
})

describe('a JSON null', () => {
  it('is no label, as Loki\'s json parser skips it: in answers, filters, groupings and series', async () => {
    const nulls = BODIES.length - 1
    const of = async (q: string) => (await lines(q)).find((l) => l.line === BODIES[nulls])?.parsed
    expect(await of(`${SELECTOR} | json`)).toEqual({ msg: 'nulls' })
    expect(await of(`${SELECTOR} | json | duration > 1s or msg = "nulls"`)).toEqual({ msg: 'nulls' })
    expect(await of(`${SELECTOR} | json | duration > 1s`)).toBeUndefined()
    expect(await of(`${SELECTOR} | json | n = ""`)).toEqual({ msg: 'nulls' })
    const series = async (q: string) => {
      const params = new URLSearchParams({ query: q, time: at(60) })
      const res = await fetch(`${served.baseUrl}/loki/api/v1/query?${params}`, { headers: { 'X-Scope-OrgID': 'default' } })
      expect(res.status).toBe(200)
      return ((await res.json()) as { data: { result: { metric: Labels; value: [number, string] }[] } }).data.result.map((r) => r.metric)
    }
    const [labels, ...more] = await series(`count_over_time(${SELECTOR} | json | msg = "nulls" [2m])`)
    expect(more).toEqual([])
    expect(labels).toMatchObject({ service_name: 'marks', msg: 'nulls' })
    expect(Object.keys(labels!)).not.toContain('duration')
    expect(Object.keys(labels!)).not.toContain('n')
    expect(await series(`sum by (n, msg) (count_over_time(${SELECTOR} | json | msg = "nulls" [2m]))`)).toEqual([{ msg: 'nulls' }])
  })
})
