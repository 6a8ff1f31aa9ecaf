// Loki in, Loki out, through the whole pipeline: streams pushed to the gateway's Loki push API
// (as Promtail or Alloy would) travel Kafka → enricher → ClickHouse and are read back through
// query-api's Loki HTTP API (as Grafana would): the same lines with the same labels, counts by
// level, the label browser, tenant isolation, and a live tail that sees a line pushed after it
// connected.
import { describe, expect, it, onTestFinished } from 'vitest'
import WebSocket from 'ws'
import { isolation, startSluice, waitFor } from '../infra/sluice.js'

interface Streams {
  status: string
  data: { resultType: string; result: { stream: Record<string, string>; values: [string, string, Record<string, Record<string, string>>?][] }[] }
}

describe('Loki push → Loki query end to end', () => {
  it('reads back what was pushed with its labels, counts it, browses its labels and tails new lines', async () => {
    const rt = await startSluice(['gateway', 'enricher', 'clickhouse-sink', 'query-api'], isolation())
    const gw = rt.addresses.gateway!
    const q = rt.addresses['query-api']!
    const nowNs = BigInt(Date.now()) * 1_000_000n
    const at = (secondsAgo: number) => (nowNs - BigInt(secondsAgo) * 1_000_000_000n).toString()

    const pushed = [
      { labels: { service_name: 'cart', level: 'error', env: 'prod' }, lines: ['{"status":500,"msg":"payment failed"}', '{"status":502,"msg":"upstream down"}'] },
      { labels: { service_name: 'cart', level: 'info', env: 'prod' }, lines: ['{"status":200,"msg":"order placed"}', '{"status":201,"msg":"cart created"}', '{"status":200,"msg":"order placed"}'] },
      { labels: { service_name: 'web', level: 'info', env: 'staging' }, lines: ['GET /index.html 200'] },
    ]
    const push = async (tenant: string, streams: typeof pushed, offset = 0) => {
      const body = {
        streams: streams.map((s, i) => ({ stream: s.labels, values: s.lines.map((line, j) => [at(60 + offset - i * 10 - j), line, { trace_id: `${i}${j}`.padStart(32, 'a') }]) })),
      }
      const res = await fetch(`${gw}/loki/api/v1/push`, { method: 'POST', headers: { 'content-type': 'application/json', 'X-Scope-OrgID': tenant }, body: JSON.stringify(body) })
      expect(res.status).toBe(204)
    }
    await push('shop', pushed)
    await push('other', [{ labels: { service_name: 'cart', level: 'info', env: 'prod' }, lines: ['another tenant'] }])

    const loki = async <T>(path: string, params: Record<string, string>, tenant = 'shop', headers: Record<string, string> = {}): Promise<T> => {
      const res = await fetch(`${q}/loki/api/v1/${path}?${new URLSearchParams(params)}`, { headers: { 'X-Scope-OrgID': tenant, ...headers } })
      expect(res.status, await res.clone().text()).toBe(200)
      return (await res.json()) as T
    }
    const cart = await waitFor('the cart lines', async () => {
      const r = await loki<Streams>('query_range', { query: '{service_name="cart"}', since: '1h', limit: '100' }, 'shop', { 'X-Loki-Response-Encoding-Flags': 'categorize-labels' })
      const n = r.data.result.reduce((s, x) => s + x.values.length, 0)
      return n >= 5 ? r : undefined
    })
    // The labels pushed are the stream labels read back; the pushed metadata rides on each entry.
    const byLevel = Object.fromEntries(cart.data.result.map((s) => [s.stream.level, s]))
    expect(Object.keys(byLevel).sort()).toEqual(['error', 'info'])
    expect(byLevel.error!.stream).toEqual({ service_name: 'cart', level: 'error', env: 'prod' })
    expect(byLevel.error!.values.map((v: [string, string, unknown?]) => v[1])).toEqual([...pushed[0]!.lines].reverse()) // newest first; a stream's later lines are newer
    expect(byLevel.error!.values[0]![2]!.structuredMetadata).toMatchObject({ trace_id: '01'.padStart(32, 'a'), detected_level: 'error' })
    expect(cart.data.result.flatMap((s) => s.values.map((v) => v[1]))).not.toContain('another tenant')

    const errors = await loki<Streams>('query_range', { query: '{service_name="cart"} | json | status >= 500', since: '1h' })
    expect(errors.data.result.flatMap((s) => s.values.map((v) => v[1])).sort()).toEqual([...pushed[0]!.lines].sort())

    const counts = await loki<{ data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } }>('query', {
      query: 'sum by (level) (count_over_time({env="prod"}[1h]))',
    })
    expect(counts.data.resultType).toBe('vector')
    expect(Object.fromEntries(counts.data.result.map((r) => [r.metric.level, Number(r.value[1])]))).toEqual({ error: 2, info: 3 })

    // The label browser reads the label_values view, filled by the same INSERTs as the lines; a
    // reader in another engine session can see a batch's lines a moment before it.
    const settled = async (path: string, tenant: string, done: (data: string[]) => boolean) =>
      (await waitFor(`${path} of ${tenant}`, async () => {
        const r = await loki<{ data: string[] }>(path, { since: '1h' }, tenant)
        return done(r.data) ? r.data : undefined
      }, 30_000).catch(async () => (await loki<{ data: string[] }>(path, { since: '1h' }, tenant)).data))
    expect(await settled('labels', 'shop', (d) => ['service_name', 'level', 'env'].every((l) => d.includes(l)))).toEqual(expect.arrayContaining(['service_name', 'level', 'env']))
    expect(await settled('label/env/values', 'shop', (d) => d.length >= 2)).toEqual(['prod', 'staging'])
    expect(await settled('label/env/values', 'other', (d) => d.length >= 1)).toEqual(['prod'])

    // Live tail: the backlog first, then a line pushed after connecting.
    const frames: { streams: { stream: Record<string, string>; values: [string, string][] }[] }[] = []
    const ws = new WebSocket(`${q.replace('http', 'ws')}/loki/api/v1/tail?${new URLSearchParams({ query: '{service_name="web"}', limit: '10' })}`, { headers: { 'X-Scope-OrgID': 'shop' } })
    onTestFinished(() => ws.close())
    ws.on('message', (m) => frames.push(JSON.parse(String(m))))
    const lines = () => frames.flatMap((f) => f.streams.flatMap((s) => s.values.map((v) => v[1])))
    await waitFor('the tail backlog', async () => (lines().includes('GET /index.html 200') ? true : undefined), 30_000)
    await push('shop', [{ labels: { service_name: 'web', level: 'warn', env: 'staging' }, lines: ['GET /slow 200 took 3s'] }], -55)
    await waitFor('the new line on the tail', async () => (lines().includes('GET /slow 200 took 3s') ? true : undefined), 60_000)
    expect(lines().filter((l) => l === 'GET /index.html 200')).toHaveLength(1) // not sent twice
  })
})
