// Real Elasticsearch clients against the real pipeline — gateway → Kafka → enricher → Kafka →
// ClickHouse sink → query API. The official JS client (@elastic/elasticsearch): its handshake
// (info, index exists, template, cluster health), `client.bulk` and the `client.helpers.bulk`
// helper with gzip request bodies; every document arrives in ClickHouse with its fields, bad
// documents are reported by the client per item and stored nowhere, a retried bulk with the same
// ids is stored once. syslog-ng's elasticsearch-http() destination with its default template
// (Debian's syslog-ng-core, syslog-ng-mod-http and syslog-ng-scl; .ci/run installs them).
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Client } from '@elastic/elasticsearch'
import type { estypes } from '@elastic/elasticsearch'
import { describe, expect, it, onTestFinished } from 'vitest'
import type { StoredLog } from '../infra/logs.js'
import { isolation, startSluice, waitFor } from '../infra/sluice.js'

async function logs(queryApi: string, params: Record<string, string>): Promise<StoredLog[]> {
  const res = await fetch(`${queryApi}/v1/logs?${new URLSearchParams({ tenant: 'es', limit: '1000', ...params })}`)
  if (res.status !== 200) throw new Error(`query-api answered ${res.status}: ${await res.text()}`)
  return ((await res.json()) as { logs: StoredLog[] }).logs
}

/** Stored rows once `n` of them are there (and a moment later, to see that no more follow). */
async function exactly(queryApi: string, params: Record<string, string>, n: number): Promise<StoredLog[]> {
  await waitFor(`${n} rows for ${JSON.stringify(params)}`, async () => ((await logs(queryApi, params)).length >= n ? true : undefined))
  await new Promise((r) => setTimeout(r, 1000))
  return logs(queryApi, params)
}

// Recent times: older ones would fall outside the table's TTL.
const BASE_MS = Math.floor(Date.now() / 1000) * 1000 - 3_600_000
const iso = (ms: number) => new Date(ms).toISOString()
/** How the query API writes a time: ISO with nanoseconds. */
const stored = (ms: number) => iso(ms).replace('Z', '000000Z')

const itemOf = (item: Partial<Record<estypes.BulkOperationType, estypes.BulkResponseItem>>) => Object.entries(item)[0]!

describe('Elasticsearch bulk API end to end', () => {
  it('takes the official client’s handshake and bulk requests, storing each document with its fields and refusing bad ones per item', async () => {
    const rt = await startSluice(['gateway', 'enricher', 'clickhouse-sink', 'query-api'], isolation())
    const q = rt.addresses['query-api']!
    const client = new Client({ node: rt.addresses.gateway!, headers: { 'x-sluice-tenant': 'es' } })
    onTestFinished(() => client.close())

    // The handshake: the client itself checks the product header of every answer.
    const info = await client.info()
    expect(info.tagline).toBe('You Know, for Search')
    expect(info.version.number).toMatch(/^8\.\d+\.\d+$/)
    expect(await client.indices.exists({ index: 'shop-logs' })).toBe(true)
    expect(await client.indices.existsIndexTemplate({ name: 'shop' })).toBe(false)
    expect(await client.indices.putIndexTemplate({ name: 'shop', index_patterns: ['shop-*'], data_stream: {} })).toEqual({ acknowledged: true })
    expect(await client.indices.existsIndexTemplate({ name: 'shop' })).toBe(true)
    expect((await client.cluster.health()).status).toBe('green')

    const operations = [
      { index: { _id: 'es-1' } },
      { '@timestamp': iso(BASE_MS + 1), message: 'payment declined for order 42', log: { level: 'error', logger: 'pay' }, service: { name: 'checkout' }, host: { name: 'web-1' }, trace: { id: '0AF7651916CD43DD8448EB211C80319C' }, order: { id: 42, items: ['a', 'b'] } },
      { create: { _index: 'audit-logs', _id: 'es-2' } },
      { '@timestamp': iso(BASE_MS + 2), 'log.level': 'warning', message: 'refund issued', 'service.name': 'checkout', 'host.hostname': 'web-2', 'user.id': 'u7' },
      { index: { _id: 'es-bad-time' } },
      { '@timestamp': 'the day before', message: 'never stored', service: { name: 'checkout' } },
      { create: { _id: 'es-no-message' } },
      { service: { name: 'checkout' }, level: 'info' },
      { delete: { _id: 'es-1' } },
    ]
    const res = await client.bulk({ index: 'shop-logs', operations })
    expect(res.errors).toBe(true)
    expect(res.items.map((i) => itemOf(i)).map(([op, r]) => [op, r._index, r._id, r.status, r.error?.type])).toEqual([
      ['index', 'shop-logs', 'es-1', 201, undefined],
      ['create', 'audit-logs', 'es-2', 201, undefined],
      ['index', 'shop-logs', 'es-bad-time', 400, 'mapper_parsing_exception'],
      ['create', 'shop-logs', 'es-no-message', 400, 'mapper_parsing_exception'],
      ['delete', 'shop-logs', 'es-1', 400, 'illegal_argument_exception'],
    ])
    expect(itemOf(res.items[2]!)[1].error?.reason).toMatch(/failed to parse field \[@timestamp\]/)
    expect(itemOf(res.items[3]!)[1].error?.reason).toMatch(/no \[message\] field/)
    // A retry of the same documents under the same ids is stored once.
    const retried = await client.bulk({ index: 'shop-logs', operations: operations.slice(0, 4) })
    expect(retried.errors).toBe(false)

    const checkout = await exactly(q, { service: 'checkout' }, 2)
    expect(checkout).toHaveLength(2)
    const byId = Object.fromEntries(checkout.map((l) => [l.id, l]))
    expect(byId['es-1']).toMatchObject({
      tenant: 'es',
      timestamp: stored(BASE_MS + 1),
      service: 'checkout',
      host: 'web-1',
      severity_text: 'ERROR',
      message: 'payment declined for order 42',
      trace_id: '0af7651916cd43dd8448eb211c80319c',
      resource: { 'elasticsearch.index': 'shop-logs' },
      source: 'http',
    })
    expect(byId['es-1']!.attributes).toMatchObject({ 'log.logger': 'pay', 'order.id': '42', 'order.items': '["a","b"]' })
    expect(byId['es-2']).toMatchObject({ timestamp: stored(BASE_MS + 2), host: 'web-2', severity_text: 'WARN', message: 'refund issued', resource: { 'elasticsearch.index': 'audit-logs' } })
    expect(byId['es-2']!.attributes).toMatchObject({ 'user.id': 'u7', 'log.level': 'warning' })
  })

  it('runs the client’s bulk helper over many gzip-compressed requests, reporting the bad documents through onDrop', async () => {
    const rt = await startSluice(['gateway', 'enricher', 'clickhouse-sink', 'query-api'], isolation())
    const q = rt.addresses['query-api']!
    const client = new Client({ node: rt.addresses.gateway!, compression: true, headers: { 'x-sluice-tenant': 'es' } })
    onTestFinished(() => client.close())

    const total = 600
    const bad = new Set([17, 318, 599])
    const docs = Array.from({ length: total }, (_, n) => ({
      '@timestamp': bad.has(n) ? `not a time ${n}` : iso(BASE_MS + n),
      message: `job ${n} finished`,
      log: { level: n % 3 === 0 ? 'debug' : 'info' },
      service: { name: 'worker' },
      host: { hostname: `node-${n % 4}` },
      job: { n, queue: 'default' },
    }))
    const dropped: Array<{ status: number; type: string | undefined; n: number }> = []
    const stats = await client.helpers.bulk<(typeof docs)[number]>({
      datasource: docs,
      onDocument: (doc) => ({ create: { _index: 'jobs', _id: `job-${doc.job.n}` } }),
      onDrop: (d) => dropped.push({ status: d.status, type: d.error?.type, n: d.document.job.n }),
      flushBytes: 16_000,
      concurrency: 3,
    })
    expect(stats).toMatchObject({ total, successful: total - bad.size, failed: bad.size, aborted: false })
    expect(dropped.sort((a, b) => a.n - b.n)).toEqual([...bad].map((n) => ({ status: 400, type: 'mapper_parsing_exception', n })))

    const rows = await exactly(q, { service: 'worker' }, total - bad.size)
    expect(rows).toHaveLength(total - bad.size)
    expect(rows.some((r) => bad.has(Number(r.attributes['job.n'])))).toBe(false)
    const one = rows.find((r) => r.id === 'job-42')
    expect(one).toMatchObject({ timestamp: stored(BASE_MS + 42), host: 'node-2', severity_text: 'DEBUG', message: 'job 42 finished', resource: { 'elasticsearch.index': 'jobs' } })
    expect(one!.attributes).toMatchObject({ 'job.n': '42', 'job.queue': 'default' })
  })
})

const SYSLOG_NG = '/usr/sbin/syslog-ng'
const SCL = '/usr/share/syslog-ng/include/scl/elasticsearch/elastic-http.conf'
/** The config version this syslog-ng speaks ("Config version: 3.35"), or undefined when it is not installed. */
const syslogNgVersion = existsSync(SYSLOG_NG) && existsSync(SCL) ? /Config version: (\S+)/.exec(spawnSync(SYSLOG_NG, ['--version'], { encoding: 'utf8' }).stdout)?.[1] : undefined

describe('syslog-ng elasticsearch-http() destination end to end', () => {
  it('stores what syslog-ng reads from RFC 5424 lines and sends with its default template', async () => {
    if (syslogNgVersion === undefined) throw new Error(`${SYSLOG_NG} with its elasticsearch-http() SCL is missing: apt-get install syslog-ng-core syslog-ng-mod-http syslog-ng-scl (.ci/run does)`)
    const rt = await startSluice(['gateway', 'enricher', 'clickhouse-sink', 'query-api'], isolation())
    const q = rt.addresses['query-api']!
    const dir = mkdtempSync(path.join(tmpdir(), 'sluice-syslog-ng-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const input = path.join(dir, 'in.log')
    const lines = [
      `<11>1 ${iso(BASE_MS + 1000)} web-1 checkout 4242 PAY [meta order="42"] payment declined for order 42`,
      `<14>1 ${iso(BASE_MS + 2000)} web-2 checkout - - - cart saved`,
      `<12>1 ${iso(BASE_MS + 3000)} web-1 checkout - - - card expires soon`,
    ]
    writeFileSync(input, lines.map((l) => `${l}\n`).join(''))
    // Documented configuration: the destination's default template (MESSAGE, PRIORITY, PROGRAM,
    // HOST, @timestamp) and headers(), which replaces the default Content-Type, so it is repeated.
    writeFileSync(
      path.join(dir, 'syslog-ng.conf'),
      `@version: ${syslogNgVersion}
@include "scl.conf"
options { keep-hostname(yes); frac-digits(3); send-time-zone("+00:00"); stats-freq(0); };
source s_file { file("${input}" follow-freq(0.2) flags(syslog-protocol)); };
destination d_sluice {
  elasticsearch-http(
    url("${rt.addresses.gateway!}/_bulk")
    index("syslog")
    type("")
    headers("Content-Type: application/x-ndjson", "x-sluice-tenant: es")
    batch-lines(2)
    batch-timeout(200)
  );
};
log { source(s_file); destination(d_sluice); };
`,
    )
    const child = spawn(SYSLOG_NG, ['-F', '-f', path.join(dir, 'syslog-ng.conf'), `--persist-file=${path.join(dir, 'persist')}`, `--pidfile=${path.join(dir, 'pid')}`, `--control=${path.join(dir, 'ctl')}`], { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGTERM')
    })

    const rows = await exactly(q, { service: 'checkout' }, lines.length).catch((err: unknown) => {
      throw new Error(`${String(err)}; syslog-ng said: ${stderr.slice(-2000)}`)
    })
    expect(rows).toHaveLength(lines.length)
    const byMessage = Object.fromEntries(rows.map((r) => [r.message, r]))
    expect(byMessage['payment declined for order 42']).toMatchObject({
      tenant: 'es',
      timestamp: stored(BASE_MS + 1000),
      service: 'checkout',
      host: 'web-1',
      severity_text: 'ERROR',
      resource: { 'elasticsearch.index': 'syslog' },
      source: 'http',
    })
    expect(byMessage['payment declined for order 42']!.attributes).toMatchObject({ PID: '4242', MSGID: 'PAY', FACILITY: 'user', '_SDATA.meta.order': '42' })
    expect(byMessage['cart saved']).toMatchObject({ timestamp: stored(BASE_MS + 2000), host: 'web-2', severity_text: 'INFO' })
    expect(byMessage['card expires soon']).toMatchObject({ severity_text: 'WARN', attributes: expect.objectContaining({ 'log.level': 'warning' }) })
  })
})
