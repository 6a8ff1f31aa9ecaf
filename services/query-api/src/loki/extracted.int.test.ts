// Parsed labels whose name is taken, through the Loki API on embedded ClickHouse, as in Loki: a
// line's attribute (structured metadata) keeps its name and the parser's value is
// `<name>_extracted`; a label an earlier parser set on the line stays, a later parser leaves it
// (label_format overwrites it) — in the answered lines, in label filters and in `by` groupings alike.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serveTestLogs } from '../test-store.js'
import type { ServedLogs } from '../test-store.js'

const DATABASE = 'loki_extracted'
const NS = 1_000_000_000n
const T0_S = Math.floor(Date.now() / 60_000) * 60 - 3600
const at = (s: number) => (BigInt(T0_S + s) * NS).toString()

type Labels = Record<string, string>

// cart: JSON bodies, two of three with a `user` attribute; kv: logfmt bodies.
const ROWS: [service: string, attributes: Labels, body: string][] = [
  ['cart', { user: 'attr-a' }, '{"user":"body-a","n":"1"}'],
  ['cart', {}, '{"user":"body-b","n":"2"}'],
  ['cart', { user: 'attr-c', 'http.method': 'GET' }, '{"user":"body-c","http_method":"POST"}'],
  ['kv', { user: 'attr-d' }, 'user=body-d n=4'],
  ['kv', {}, 'user=body-e n=5'],
  // nested: JSON around logfmt, with `status` in both, in the JSON only or in the logfmt only.
  ['nested', {}, '{"status":"200","msg":"status=500 user=bob"}'],
  ['nested', {}, '{"msg":"status=503 user=eve"}'],
  ['nested', {}, '{"status":"204","msg":"user=ann"}'],
]

let served: ServedLogs

beforeAll(async () => {
  const rows = ROWS.map(([service, LogAttributes, Body], n) => ({
    id: `ex-${n}`,
    tenant: 'default',
    Timestamp: at(n + 1),
    ObservedTimestamp: at(n + 1),
    ServiceName: service,
    SeverityText: 'INFO',
    SeverityNumber: 9,
    LogAttributes,
    Body,
  }))
  served = await serveTestLogs('extracted', DATABASE, rows)
})
afterAll(() => served.close())

async function get(pathname: string, params: Record<string, string>, headers: Record<string, string> = {}): Promise<unknown> {
  const res = await fetch(`${served.baseUrl}${pathname}?${new URLSearchParams(params)}`, { headers: { 'X-Scope-OrgID': 'default', ...headers } })
  const body = await res.text()
  expect(res.status, body).toBe(200)
  return JSON.parse(body)
}

/** The lines of a log query, oldest first, with their structured metadata and parsed labels. */
async function lines(query: string): Promise<{ line: string; meta: Labels; parsed: Labels }[]> {
  const reply = (await get('/loki/api/v1/query_range', { query, start: at(0), end: at(60), direction: 'forward' }, { 'X-Loki-Response-Encoding-Flags': 'categorize-labels' })) as {
    data: { result: { values: [string, string, { structuredMetadata?: Labels; parsed?: Labels }?][] }[] }
  }
  return reply.data.result
    .flatMap((s) => s.values)
    .sort((a, b) => (BigInt(a[0]) < BigInt(b[0]) ? -1 : 1))
    .map(([, line, extra]) => ({ line, meta: extra?.structuredMetadata ?? {}, parsed: extra?.parsed ?? {} }))
}

const bodies = async (query: string) => (await lines(query)).map((e) => e.line)
const body = (n: number) => ROWS[n]![2]

describe('a parsed label named as an attribute of the line', () => {
  it('is answered as <name>_extracted beside the attribute, only on the lines that have the attribute', async () => {
    const got = await lines('{service_name="cart"} | json')
    expect(got.map((e) => e.parsed)).toEqual([{ user_extracted: 'body-a', n: '1' }, { user: 'body-b', n: '2' }, { user_extracted: 'body-c', http_method_extracted: 'POST' }])
    expect(got[0]!.meta.user).toBe('attr-a')
  })

  it('is filtered on as <name>_extracted, while <name> is the attribute where there is one', async () => {
    expect(await bodies('{service_name="cart"} | json | user_extracted="body-a"')).toEqual([body(0)])
    expect(await bodies('{service_name="cart"} | json | user_extracted=~"body-.*"')).toEqual([body(0), body(2)])
    expect(await bodies('{service_name="cart"} | json | user=~"attr-.*"')).toEqual([body(0), body(2)])
    expect(await bodies('{service_name="cart"} | json | user="body-b"')).toEqual([body(1)])
    // A dotted attribute key is the sanitised label name; the parsed one is renamed the same way.
    expect(await bodies('{service_name="cart"} | json | http_method_extracted="POST"')).toEqual([body(2)])
    expect(await bodies('{service_name="kv"} | logfmt | user_extracted="body-d"')).toEqual([body(3)])
    expect(await bodies('{service_name="kv"} | logfmt | user="body-e"')).toEqual([body(4)])
  })

  it('is grouped on as <name>_extracted', async () => {
    const reply = (await get('/loki/api/v1/query', { query: 'sum by (user_extracted) (count_over_time({service_name=~"cart|kv"} | json | __error__="" [10m]))', time: at(60) })) as {
      data: { result: { metric: Labels; value: [number, string] }[] }
    }
    const series = reply.data.result.map((r) => [r.metric.user_extracted ?? '', r.value[1]]).sort()
    expect(series).toEqual([
      ['', '1'],
      ['body-a', '1'],
      ['body-c', '1'],
    ])
  })
})

describe('a label two parsers extract from one line', () => {
  const NESTED = '{service_name="nested"} | json | line_format "{{.msg}}" | logfmt'

  it("keeps the first parser's value where it has one, the later parser's elsewhere", async () => {
    expect((await lines(NESTED)).map((e) => [e.line, e.parsed.status, e.parsed.user])).toEqual([
      ['status=500 user=bob', '200', 'bob'],
      ['status=503 user=eve', '503', 'eve'],
      ['user=ann', '204', 'ann'],
    ])
  })

  it('filters and groups on that value', async () => {
    expect(await bodies(`${NESTED} | status="200"`)).toEqual(['status=500 user=bob'])
    expect(await bodies(`${NESTED} | status>=500`)).toEqual(['status=503 user=eve'])
    const reply = (await get('/loki/api/v1/query', { query: `sum by (status) (count_over_time(${NESTED} [10m]))`, time: at(60) })) as {
      data: { result: { metric: Labels; value: [number, string] }[] }
    }
    expect(reply.data.result.map((r) => r.metric.status).sort()).toEqual(['200', '204', '503'])
  })

  it('is overwritten by a label_format after both', async () => {
    expect((await lines(`${NESTED} | label_format status="{{.user}}"`)).map((e) => e.parsed.status)).toEqual(['bob', 'eve', 'ann'])
    // ... and a parser after label_format leaves what it set.
    expect((await lines('{service_name="nested"} | json | label_format status="x" | line_format "{{.msg}}" | logfmt')).map((e) => e.parsed.status)).toEqual(['x', 'x', 'x'])
  })

  it('can be set by line_format from the renamed label', async () => {
    expect(await bodies('{service_name="cart"} | json | line_format "{{.user}}/{{.user_extracted}}"')).toEqual(['attr-a/body-a', 'body-b/', 'attr-c/body-c'])
  })
})
