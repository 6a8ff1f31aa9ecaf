// Gateway → Kafka → enricher → Kafka → ClickHouse sink → query API, all real: records posted over HTTP in every
// accepted format arrive in ClickHouse exactly once with the right fields.
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { isolation, startSluice, waitFor } from '../infra/sluice.js'

interface Stats {
  total: number
  byLevel: Record<string, number>
  byService: Record<string, { total: number }>
}

async function post(base: string, body: string | Buffer, headers: Record<string, string>) {
  const res = await fetch(`${base}/v1/logs`, { method: 'POST', body, headers })
  return { status: res.status, body: (await res.json()) as { accepted: number; rejected: number; errors?: { index: number; field: string; message: string }[] } }
}

async function stats(base: string): Promise<Stats> {
  const res = await fetch(`${base}/v1/stats`)
  return (await res.json()) as Stats
}

const LEVELS = ['debug', 'INFO', 'warning', 'ERR', 'fatal'] as const
// Recent event times: older ones would fall outside the table's TTL.
const BASE_MS = Math.floor(Date.now() / 1000) * 1000 - 3_600_000

function record(i: number) {
  return {
    id: `rec-${i}`,
    timestamp: BASE_MS + i,
    level: LEVELS[i % LEVELS.length],
    service: `svc-${i % 7}`,
    host: `host-${i % 3}`,
    message: `request ${i} handled in ${i % 100} ms`,
    attributes: { route: '/api/items', n: i },
  }
}

describe('ingest end to end', () => {
  it('stores 10 000 logs posted as JSON, arrays, NDJSON and gzip NDJSON, each once with its fields', async () => {
    const iso = isolation()
    const rt = await startSluice(['gateway', 'enricher', 'clickhouse-sink', 'query-api'], iso)
    const gw = rt.addresses.gateway!
    const q = rt.addresses['query-api']!

    const total = 10_000
    const requests: Array<() => Promise<{ status: number }>> = []
    // 100 single objects, 30 arrays of 50, 50 NDJSON bodies of 100, 34 gzip NDJSON bodies of 100.
    let i = 0
    for (let n = 0; n < 100; n++) {
      const one = JSON.stringify(record(i++))
      requests.push(() => post(gw, one, { 'content-type': 'application/json' }))
    }
    for (let n = 0; n < 30; n++) {
      const batch = Array.from({ length: 50 }, () => record(i++))
      requests.push(() => post(gw, JSON.stringify(batch), { 'content-type': 'application/json' }))
    }
    for (let n = 0; n < 50; n++) {
      const lines = Array.from({ length: 100 }, () => JSON.stringify(record(i++))).join('\n')
      requests.push(() => post(gw, lines, { 'content-type': 'application/x-ndjson' }))
    }
    for (let n = 0; n < 34; n++) {
      const lines = Array.from({ length: 100 }, () => JSON.stringify(record(i++))).join('\n')
      requests.push(() => post(gw, gzipSync(lines), { 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' }))
    }
    expect(i).toBe(total)
    // Sixteen clients posting concurrently.
    const results: { status: number }[] = []
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let next = requests.shift(); next; next = requests.shift()) results.push(await next())
      }),
    )
    expect(results).toHaveLength(214)
    expect(results.every((r) => r.status === 200)).toBe(true)

    const s = await waitFor('all rows in ClickHouse', async () => {
      const st = await stats(q)
      return st.total >= total ? st : undefined
    })
    expect(s.total).toBe(total)
    expect(s.byLevel).toEqual({ DEBUG: 2000, INFO: 2000, WARN: 2000, ERROR: 2000, FATAL: 2000 })
    expect(Object.keys(s.byService)).toHaveLength(7)

    const res = await fetch(`${q}/v1/logs?service=svc-2&q=${encodeURIComponent('request 1234 ')}`)
    const { logs } = (await res.json()) as { logs: Record<string, unknown>[] }
    expect(logs).toHaveLength(1)
    expect(logs[0]).toMatchObject({
      id: 'rec-1234',
      tenant: 'default',
      service: 'svc-2',
      host: 'host-1',
      severity_text: 'FATAL',
      severity_number: 21,
      message: 'request 1234 handled in 34 ms',
      timestamp: new Date(BASE_MS + 1234).toISOString().replace('Z', '000000Z'),
      attributes: { route: '/api/items', n: '1234' },
      source: 'http',
    })
  })

  it('stores exactly the good records of a mixed request and names the bad ones', async () => {
    const iso = isolation()
    const rt = await startSluice(['gateway', 'enricher', 'clickhouse-sink', 'query-api'], iso)
    const body = [
      JSON.stringify({ id: 'good-0', message: 'ok 0', service: 'mixed' }),
      '{not json',
      JSON.stringify({ id: 'bad-2', message: 'x', level: 'loud', service: 'mixed' }),
      JSON.stringify({ id: 'good-3', message: 'ok 3', service: 'mixed', level: 'error' }),
      JSON.stringify({ id: 'bad-4', service: 'mixed' }),
      JSON.stringify({ id: 'bad-5', message: 'x', timestamp: 'yesterday', service: 'mixed' }),
    ].join('\n')
    const r = await post(rt.addresses.gateway!, body, { 'content-type': 'application/x-ndjson' })
    expect(r.status).toBe(207)
    expect(r.body.accepted).toBe(2)
    expect(r.body.rejected).toBe(4)
    expect(r.body.errors?.map((e) => [e.index, e.field])).toEqual([
      [1, ''],
      [2, 'level'],
      [4, 'message'],
      [5, 'timestamp'],
    ])

    const q = rt.addresses['query-api']!
    await waitFor('good rows', async () => ((await stats(q)).total >= 2 ? true : undefined))
    // Give a wrongly accepted record time to arrive before asserting its absence.
    await new Promise((res) => setTimeout(res, 1000))
    const { logs } = (await (await fetch(`${q}/v1/logs?service=mixed`)).json()) as { logs: { id: string }[] }
    expect(logs.map((l) => l.id).sort()).toEqual(['good-0', 'good-3'])
  })

  it('turns away a record too large for Kafka by index, accepts the rest, and keeps accepting', async () => {
    const iso = isolation()
    const rt = await startSluice(['gateway'], iso)
    const gw = rt.addresses.gateway!
    const body = [JSON.stringify({ message: 'fine' }), JSON.stringify({ message: 'x'.repeat(1_200_000) }), JSON.stringify({ message: 'also fine' })].join('\n')
    const r = await post(gw, body, { 'content-type': 'application/x-ndjson' })
    expect(r.status).toBe(207)
    expect(r.body).toMatchObject({ accepted: 2, rejected: 1, errors: [{ index: 1, field: '', message: expect.stringContaining('the limit is 1000000') }] })
    expect((await post(gw, JSON.stringify({ message: 'next' }), { 'content-type': 'application/json' })).status).toBe(200)
  })

  it('answers 400 for an all-invalid request and 413 with the limit for an oversize body', async () => {
    const iso = isolation({ GATEWAY_MAX_BODY_BYTES: '1024' })
    const rt = await startSluice(['gateway'], iso)
    const gw = rt.addresses.gateway!
    const bad = await post(gw, JSON.stringify([{ level: 'info' }]), { 'content-type': 'application/json' })
    expect(bad.status).toBe(400)
    expect(bad.body.accepted).toBe(0)
    const big = await fetch(`${gw}/v1/logs`, { method: 'POST', body: JSON.stringify({ message: 'x'.repeat(4000) }), headers: { 'content-type': 'application/json' } })
    expect(big.status).toBe(413)
    expect(await big.json()).toMatchObject({ error: 'PAYLOAD_TOO_LARGE', limitBytes: 1024 })
    const zipBomb = await fetch(`${gw}/v1/logs`, {
      method: 'POST',
      body: gzipSync(JSON.stringify({ message: 'y'.repeat(100_000) })),
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    })
    expect(zipBomb.status).toBe(413)
    const text = await fetch(`${gw}/v1/logs`, { method: 'POST', body: 'hello', headers: { 'content-type': 'text/csv' } })
    expect(text.status).toBe(415)
  })
})
