// Attribute labels by the names the Loki API shows them under, on embedded ClickHouse: a stored key
// whose sanitised name neither is the key nor reads back as it with every `_` as `.` (user-agent,
// cloud.availability_zone, http.response.status_code) is found through the attribute_keys table
// (0016), in stream selectors, label filters and `by` groupings, for rows stored before the
// migration (its back-fill) and after (its view), and for each tenant only under its own keys.
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { migrate } from '@sluice/clickhouse'
import { listenQueryApi, openTestStore } from '../test-store.js'
import type { TestStore } from '../test-store.js'

const DATABASE = 'loki_attribute_keys'
const SCHEMAS_DIR = fileURLToPath(new URL('../../../../schemas/clickhouse', import.meta.url))
const NS = 1_000_000_000n
const T0_S = Math.floor(Date.now() / 60_000) * 60 - 3600
const at = (s: number) => (BigInt(T0_S + s) * NS).toString()

type Labels = Record<string, string>
let n = 0
const row = (tenant: string, resource: Labels, attributes: Labels, body: string) => {
  n++
  return {
    id: `ak-${n}`,
    tenant,
    Timestamp: at(n),
    ObservedTimestamp: at(n),
    ServiceName: 'edge',
    SeverityText: 'INFO',
    SeverityNumber: 9,
    ResourceAttributes: { 'service.name': 'edge', ...resource },
    LogAttributes: attributes,
    Body: body,
  }
}

let store: TestStore
let baseUrl: string
let app: FastifyInstance | undefined

beforeAll(async () => {
  store = await openTestStore('attribute-keys', DATABASE)
  // The schema as it was before 0016 (undone), and rows stored under it: the migration's back-fill covers them.
  for (const query of [`DROP VIEW ${DATABASE}.attribute_keys_mv`, `DROP TABLE ${DATABASE}.attribute_keys`, `ALTER TABLE ${DATABASE}.schema_migrations DELETE WHERE version = 16`])
    await store.ch.client.command({ query, clickhouse_settings: { mutations_sync: '1' } })
  await store.ch.client.insert({
    table: `${DATABASE}.logs`,
    format: 'JSONEachRow',
    values: [
      row('default', { 'cloud.availability_zone': 'eu-1a', 'user-agent': 'curl/8' }, { 'http.response.status_code': '500' }, 'old line one'),
      row('default', { 'cloud.availability_zone': 'eu-1b' }, { 'http.response.status_code': '200' }, 'old line two'),
    ],
  })
  expect(await migrate(store.ch.client, { database: DATABASE, ttlDays: 30, dir: SCHEMAS_DIR })).toEqual(['0016_attribute_keys'])
  // Rows stored after: the view. `user/agent` sanitises as `user-agent` does; another tenant has `tier` only.
  await store.ch.client.insert({
    table: `${DATABASE}.logs`,
    format: 'JSONEachRow',
    values: [
      row('default', { 'cloud.availability_zone': 'eu-1a', 'user/agent': 'wget/1' }, { 'http.response.status_code': '503', 'k8s.pod.name': 'pod-a' }, 'new line three'),
      row('default', { 'k8s.namespace.name': 'shop' }, { 'http.response.status_code': '200' }, 'new line four'),
      row('other', { tier: 'gold' }, { 'user-agent': 'curl/8' }, 'other tenant line'),
    ],
  })
  ;({ app, baseUrl } = await listenQueryApi(store.ch, DATABASE))
})
afterAll(async () => {
  await app?.close()
  await store?.close()
})

async function get(pathname: string, params: Record<string, string>, tenant = 'default'): Promise<unknown> {
  const res = await fetch(`${baseUrl}${pathname}?${new URLSearchParams(params)}`, { headers: { 'X-Scope-OrgID': tenant } })
  const body = await res.text()
  expect(res.status, body).toBe(200)
  return JSON.parse(body)
}

/** The lines a log query answers, oldest first. */
async function bodies(query: string, tenant = 'default'): Promise<string[]> {
  const reply = (await get('/loki/api/v1/query_range', { query, start: at(0), end: at(60), direction: 'forward' }, tenant)) as { data: { result: { values: [string, string][] }[] } }
  return reply.data.result
    .flatMap((s) => s.values)
    .sort((a, b) => (BigInt(a[0]) < BigInt(b[0]) ? -1 : 1))
    .map(([, line]) => line)
}

describe('attribute labels under their sanitised names', () => {
  it('select streams by a resource attribute whose key has dots and underscores, or a hyphen, before and after the migration', async () => {
    expect(await bodies('{cloud_availability_zone="eu-1a"}')).toEqual(['old line one', 'new line three'])
    expect(await bodies('{cloud_availability_zone=~"eu-.*"}')).toEqual(['old line one', 'old line two', 'new line three'])
    // Two keys named alike: either one matches.
    expect(await bodies('{user_agent=~".+"}')).toEqual(['old line one', 'new line three'])
    expect(await bodies('{user_agent="wget/1"}')).toEqual(['new line three'])
    // The name-with-dots reading still works, through the table as well.
    expect(await bodies('{k8s_namespace_name="shop"}')).toEqual(['new line four'])
  })

  it('filter and group by a log attribute (structured metadata) whose key has underscores', async () => {
    expect(await bodies('{service_name="edge"} | http_response_status_code >= 500')).toEqual(['old line one', 'new line three'])
    expect(await bodies('{service_name="edge"} | k8s_pod_name="pod-a"')).toEqual(['new line three'])
    const reply = (await get('/loki/api/v1/query', { query: 'sum by (http_response_status_code) (count_over_time({service_name="edge"}[2h]))', time: at(60) })) as {
      data: { result: { metric: Labels; value: [number, string] }[] }
    }
    expect(Object.fromEntries(reply.data.result.map((r) => [r.metric.http_response_status_code, r.value[1]]))).toEqual({ '200': '2', '500': '1', '503': '1' })
  })

  it('serve the label browser, series, volume, detected labels and the live tail by the same names', async () => {
    const range = { start: at(0), end: at(60) }
    expect(await get('/loki/api/v1/label/k8s_pod_name/values', { ...range, query: '{cloud_availability_zone="eu-1a"}' })).toMatchObject({ data: ['pod-a'] })
    expect(await get('/loki/api/v1/label/user_agent/values', { ...range, query: '{user_agent=~".+"}' })).toMatchObject({ data: ['curl/8', 'wget/1'] })
    expect(await get('/loki/api/v1/labels', { ...range, query: '{user_agent="wget/1"}' })).toMatchObject({ data: ['cloud_availability_zone', 'level', 'service_name', 'user_agent'] })
    const series = (await get('/loki/api/v1/series', { ...range, 'match[]': '{cloud_availability_zone="eu-1b"}' })) as { data: Labels[] }
    expect(series.data.map((s) => s.cloud_availability_zone)).toEqual(['eu-1b'])
    const volume = (await get('/loki/api/v1/index/volume', { ...range, query: '{cloud_availability_zone=~"eu-.*"}' })) as { data: { result: { metric: Labels; value: [number, string] }[] } }
    // Bytes of the lines, as Loki's volume answers: 'old line one' + 'new line three', 'old line two'.
    expect(Object.fromEntries(volume.data.result.map((r) => [r.metric.cloud_availability_zone, r.value[1]]))).toEqual({ 'eu-1a': '26', 'eu-1b': '12' })
    const labels = (await get('/loki/api/v1/detected_labels', { ...range, query: '{user_agent=~".+"}' })) as { detectedLabels: { label: string; cardinality: number }[] }
    expect(labels.detectedLabels.find((l) => l.label === 'user_agent')).toEqual({ label: 'user_agent', cardinality: 2 })

    const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/loki/api/v1/tail?${new URLSearchParams({ query: '{cloud_availability_zone="eu-1a"}', start: at(0) })}`, { headers: { 'X-Scope-OrgID': 'default' } })
    const frame = await new Promise<{ streams: { values: [string, string][] }[] }>((resolve, reject) => {
      ws.once('message', (data: Buffer) => resolve(JSON.parse(String(data)) as { streams: { values: [string, string][] }[] }))
      ws.once('close', (code, reason) => reject(new Error(`closed ${code} ${String(reason)}`)))
    })
    ws.close()
    expect(frame.streams.flatMap((s) => s.values.map((v) => v[1])).sort()).toEqual(['new line three', 'old line one'])
  })

  it("keeps to each tenant's own keys", async () => {
    expect(await bodies('{service_name="edge"} | user_agent="curl/8"', 'other')).toEqual(['other tenant line'])
    expect(await bodies('{tier="gold"}', 'other')).toEqual(['other tenant line'])
    expect(await bodies('{tier="gold"}')).toEqual([])
    const keys = await store.ch.client.query({ query: `SELECT tenant, Name, Kind, Key FROM ${DATABASE}.attribute_keys WHERE Name = 'user_agent' GROUP BY ALL ORDER BY ALL`, format: 'JSONEachRow' })
    expect(await keys.json()).toEqual([
      { tenant: 'default', Name: 'user_agent', Kind: 'resource', Key: 'user-agent' },
      { tenant: 'default', Name: 'user_agent', Kind: 'resource', Key: 'user/agent' },
      { tenant: 'other', Name: 'user_agent', Kind: 'log', Key: 'user-agent' },
    ])
  })

  it('reads the attribute_keys table once for the labels of a query, then builds its statement from what it remembers', async () => {
    const statements: string[] = []
    const query: typeof store.ch.client.query = (params) => (statements.push(params.query), store.ch.client.query(params))
    const client = new Proxy(store.ch.client, { get: (target, key) => (key === 'query' ? query : Reflect.get(target, key, target)) })
    const probed = await listenQueryApi({ ...store.ch, client }, DATABASE)
    try {
      const ask = async () => {
        statements.length = 0
        const res = await fetch(`${probed.baseUrl}/loki/api/v1/query_range?${new URLSearchParams({ query: '{service_name="edge"} | user_agent="curl/8"', start: at(0), end: at(60) })}`, { headers: { 'X-Scope-OrgID': 'default' } })
        expect(res.status).toBe(200)
        return [...statements]
      }
      const first = await ask()
      expect(first).toHaveLength(2)
      expect(first[0]).toContain('.attribute_keys')
      // Remembered: the same statement, without the read before it.
      expect(await ask()).toEqual([first[1]])
    } finally {
      await probed.app.close()
    }
  })
})
