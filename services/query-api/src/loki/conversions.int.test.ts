// Durations and sizes in label filters and unwrap through the Loki API on embedded ClickHouse, to
// the last digit: a filter compares time.Durations (integer nanoseconds) as Loki's does, and
// `unwrap duration()` is Go's Duration.Seconds() — whole seconds plus the nanoseconds left / 1e9,
// which is not always the nearest float64 to the decimal (5.488s is 5.4879999999999995); sizes are
// go-humanize's ParseBytes, whole bytes (1.3KiB is 1331).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serveTestLogs } from '../test-store.js'
import type { ServedLogs } from '../test-store.js'

const NS = 1_000_000_000n
const T0_S = Math.floor(Date.now() / 60_000) * 60 - 3600
const at = (s: number) => (BigInt(T0_S + s) * NS).toString()
const TOOK = ['43ms', '1.1h', '5.488s', '1m30.5s', '250ms', '2h45m0.001s']
const SIZE = ['1.3KiB', '1,024', '2 MB', '0.5b', '10KB', '1.5 MiB']

let served: ServedLogs

beforeAll(async () => {
  const rows = TOOK.map((took, n) => ({
    id: `d-${n}`,
    tenant: 'default',
    Timestamp: at(10 + n),
    ObservedTimestamp: at(10 + n),
    ServiceName: 'timer',
    HostName: 'h1',
    SeverityText: 'INFO',
    SeverityNumber: 9,
    Body: `done took=${took} size="${SIZE[n]}" step=${n}`,
  }))
  served = await serveTestLogs('duration', 'loki_duration', rows)
})

afterAll(() => served?.close())

async function get(pathname: string, params: Record<string, string>): Promise<unknown> {
  const res = await fetch(`${served.baseUrl}${pathname}?${new URLSearchParams(params)}`)
  const body = await res.text()
  expect(res.status, body).toBe(200)
  return (JSON.parse(body) as { data: { result: unknown } }).data.result
}

/** The `took` (or `size`) of the lines a filter keeps, in time order. */
async function kept(filter: string, field = 'took'): Promise<string[]> {
  const result = (await get('/loki/api/v1/query_range', { query: `{service_name="timer"} | logfmt | ${filter}`, start: at(0), end: at(60), direction: 'forward', limit: '100' })) as { values: [string, string][] }[]
  return result.flatMap((s) => s.values).sort((a, b) => (BigInt(a[0]) < BigInt(b[0]) ? -1 : 1)).map(([, line]) => {
      const m = new RegExp(`${field}=(?:"([^"]*)"|(\\S+))`).exec(line)!
      return m[1] ?? m[2]!
    })
}

/** Each line's unwrapped value (`max_over_time` per step), by the text it was read from. */
async function unwrapped(conversion: string, texts: readonly string[]): Promise<Record<string, string>> {
  const result = (await get('/loki/api/v1/query', {
    query: `max_over_time({service_name="timer"} | logfmt | unwrap ${conversion} [1m]) by (step)`,
    time: at(60),
  })) as { metric: { step: string }; value: [number, string] }[]
  return Object.fromEntries(result.map((s) => [texts[Number(s.metric.step)], s.value[1]]))
}

describe('durations', () => {
  it('are compared in nanoseconds in label filters, as Loki compares time.Durations: 43ms equals 43ms', async () => {
    expect(await kept('took == 43ms')).toEqual(['43ms'])
    expect(await kept('took = 0.043s')).toEqual(['43ms'])
    expect(await kept('took > 43ms and took < 1m')).toEqual(['5.488s', '250ms'])
    expect(await kept('took >= 1.1h')).toEqual(['1.1h', '2h45m0.001s'])
    expect(await kept('took <= 66m')).toEqual(['43ms', '1.1h', '5.488s', '1m30.5s', '250ms'])
    expect(await kept('took > 9900s')).toEqual(['2h45m0.001s'])
  })

  it('unwrap as Go\'s Duration.Seconds() gives them, to the last digit', async () => {
    expect(await unwrapped('duration(took)', TOOK)).toEqual({ '43ms': '0.043', '1.1h': '3960', '5.488s': '5.4879999999999995', '1m30.5s': '90.5', '250ms': '0.25', '2h45m0.001s': '9900.001' })
  })

  it('are go-humanize sizes, whole bytes, in label filters (compared as Loki compares them) and unwrap', async () => {
    expect(await kept('size == 1331b', 'size')).toEqual(['1.3KiB'])
    expect(await kept('size == 1KiB | __error__=""', 'size')).toEqual(['1,024'])
    expect(await kept('size < 1b', 'size')).toEqual(['0.5b'])
    expect(await unwrapped('bytes(size)', SIZE)).toEqual({ '1.3KiB': '1331', '1,024': '1024', '2 MB': '2000000', '0.5b': '0', '10KB': '10000', '1.5 MiB': '1572864' })
  })
})

describe('numbers', () => {
  it('compare with a literal beyond 2^53, written out or with an exponent (the statement binds its text)', async () => {
    expect(await kept('step < 99999999999999999999999999999', 'step')).toEqual(['0', '1', '2', '3', '4', '5'])
    expect(await kept('step > 1e29', 'step')).toEqual([])
    expect(await kept('step >= 2', 'step')).toEqual(['2', '3', '4', '5'])
  })
})
