// The gateway's TCP listeners over TLS end to end (services/gateway/src/tls.ts), each spoken to by a
// real client that verifies the gateway's certificate against the test CA (test/infra/certs.ts):
//   - syslog-ng's syslog() destination, transport("tls") (RFC 5425) → SYSLOG_TCP_TLS;
//   - go-lumber's client v2 as Filebeat's output.logstash with ssl.* (test/shippers/beats-go) → BEATS_TLS;
//   - pygelf's GelfTlsHandler behind `logging` (test/shippers/gelf-python) → GELF_TCP_TLS;
//   - fluent-logger-golang with FluentNetwork "tls", which trusts the test CA through SSL_CERT_FILE
//     (test/shippers/fluent-go) → FORWARD_TLS;
//   - the OpenTelemetry Collector's gRPC otlp exporter with tls.ca_file (test/shippers/otelcol) →
//     GATEWAY_OTLP_GRPC_TLS.
//   - the Elasticsearch client's bulk over HTTPS → GATEWAY_HTTP_TLS.
// One Sluice serves the six and asks for no client certificate; a plain-text Beats client on its
// TLS port is refused, stores nothing and is counted (sluice_gateway_tls_handshake_failures_total).
// A second asks for client certificates (GATEWAY_TLS_CLIENT_CA_FILE): go-lumber, syslog-ng, pygelf
// and the Collector presenting the one the test CA signed are stored; go-lumber without one, and
// syslog-ng presenting another CA's, are refused, store nothing and are counted.
// fluent-logger-golang cannot present a certificate: it is in the first only. Each record's
// message, service, host, level, time where the client sets it, and source are read back from
// ClickHouse through the query API. Certificate reloads and configuration refusals are
// services/gateway/src/tls.test.ts's.
import { execFile, spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import https from 'node:https'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { Client as EsClient } from '@elastic/elasticsearch'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { makeCerts } from '../infra/certs.js'
import type { TestCerts } from '../infra/certs.js'
import { TELEMETRY, buildCollector, delivered, startCollector } from '../infra/collector.js'
import { goShipper } from '../infra/go-shipper.js'
import { isoNs, isoSecNs, logsOf, queryLogs } from '../infra/logs.js'
import { freePort } from '../infra/ports.js'
import { REPO_ROOT } from '../infra/providers.js'
import { pythonVenv } from '../infra/python.js'
import { sharedSluice, waitFor } from '../infra/sluice.js'

const run = promisify(execFile)
const TARGETS = ['gateway', 'enricher', 'clickhouse-sink', 'query-api'] as const
const SYSLOG_NG = '/usr/sbin/syslog-ng'
// Recent times (older ones would fall outside the table's TTL).
const BASE_S = Math.floor(Date.now() / 1000) - 300

let certs: TestCerts
/** A CA the gateway does not trust, with a client certificate it signed. */
let otherCerts: TestCerts
let beatsBin = ''
let fluentBin = ''
let python = ''
let syslogNgVersion = ''

type Listener = 'syslog' | 'beats' | 'gelf' | 'forward' | 'grpc'
/** Each listener's port and TLS switch. */
const SWITCHES = {
  syslog: ['SYSLOG_TCP_PORT', 'SYSLOG_TCP_TLS'],
  beats: ['BEATS_PORT', 'BEATS_TLS'],
  gelf: ['GELF_TCP_PORT', 'GELF_TCP_TLS'],
  forward: ['FORWARD_PORT', 'FORWARD_TLS'],
  grpc: ['GATEWAY_OTLP_GRPC_PORT', 'GATEWAY_OTLP_GRPC_TLS'],
} as const satisfies Record<Listener, readonly [string, string]>

/** The gateway's env for listeners `on`, each on a free port (written into `ports`) and switched to TLS. */
async function tlsListeners(on: readonly Listener[], ports: Partial<Record<Listener, number>>, extra: Record<string, string> = {}): Promise<Record<string, string>> {
  const env: Record<string, string> = { GATEWAY_TLS_CERT_FILE: certs.certFile, GATEWAY_TLS_KEY_FILE: certs.keyFile, ...extra }
  for (const listener of on) {
    const port = await freePort()
    ports[listener] = port
    const [portVar, tlsVar] = SWITCHES[listener]
    env[portVar] = String(port)
    env[tlsVar] = 'true'
  }
  return env
}

/** GET `url` (http or https, the latter trusting the test CA): the body. */
async function getText(url: string): Promise<string> {
  const u = new URL(url)
  if (u.protocol === 'http:') return (await fetch(url)).text()
  return new Promise((resolve, reject) => {
    https
      .get({ host: u.hostname, port: u.port, path: u.pathname, servername: 'localhost', ca: readFileSync(certs.caFile) }, (res) => {
        let body = ''
        res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve(body))
      })
      .on('error', reject)
  })
}

/** The gateway's count of failed TLS handshakes on `listener`, from its /metrics. */
async function handshakeFailures(gateway: string, listener: Listener | 'http'): Promise<number> {
  const metrics = await getText(`${gateway}/metrics`)
  return Number(new RegExp(`^sluice_gateway_tls_handshake_failures_total\\{listener="${listener}"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0)
}

/** Runs sluice-beats-go with `flags`, the events on its stdin; rejects with its stderr when it exits non-zero. */
async function beatsGo(port: number, flags: string[], events: object[]): Promise<string> {
  const child = run(beatsBin, ['-addr', `127.0.0.1:${port}`, '-timeout', '10s', ...flags], { timeout: 60_000 })
  child.child.stdin!.end(events.map((e) => JSON.stringify(e)).join('\n'))
  const { stdout, stderr } = await child
  return stdout + stderr
}

/** An event as Filebeat writes it for output.logstash. */
const filebeat = (i: number, message: string, level = 'info') => ({
  '@timestamp': new Date((BASE_S + i) * 1000 + 250).toISOString(),
  '@metadata': { beat: 'filebeat', type: '_doc', version: '8.15.0' },
  message,
  host: { name: 'web-tls' },
  log: { level, file: { path: '/var/log/checkout/app.log' } },
  service: { name: 'beats-tls' },
})

/** Runs send_logs.py's GelfTlsHandler to `port` with `tlsArgs` (the CA file, then a client certificate and key); rejects with its stderr. */
async function pygelfTls(port: number, tlsArgs: string[]): Promise<string> {
  const { stdout, stderr } = await run(python, [path.join(REPO_ROOT, 'test/shippers/gelf-python/send_logs.py'), 'tls', '127.0.0.1', String(port), ...tlsArgs], { timeout: 60_000 })
  return stdout + stderr
}

/**
 * Runs syslog-ng in the foreground until `stop` or the test's end: it reads the RFC 5424 `lines`
 * from a file (flags(syslog-protocol): their time, host, app and structured data pass through) and
 * forwards them with syslog() over TLS to localhost:`port`, `tls` its tls() options.
 */
function syslogNgTls(port: number, tls: string, lines: string[]): { said: () => string; stop: () => Promise<void> } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-syslog-ng-tls-'))
  writeFileSync(path.join(dir, 'in.log'), `${lines.join('\n')}\n`)
  writeFileSync(
    path.join(dir, 'syslog-ng.conf'),
    `@version: ${syslogNgVersion}
options { keep-hostname(yes); keep-timestamp(yes); use-dns(no); frac-digits(6); send-time-zone("+00:00"); stats-freq(0); };
source s_in { file("${dir}/in.log" follow-freq(0.2) flags(syslog-protocol)); };
destination d_tls { syslog("localhost" port(${port}) transport("tls") ${tls}); };
log { source(s_in); destination(d_tls); };
`,
  )
  const args = ['-F', '-f', path.join(dir, 'syslog-ng.conf'), `--persist-file=${path.join(dir, 'persist')}`, `--pidfile=${path.join(dir, 'pid')}`, `--control=${path.join(dir, 'ctl')}`]
  const child = spawn(SYSLOG_NG, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TZ: 'UTC' } })
  let output = ''
  child.stdout.on('data', (d: Buffer) => (output += d.toString()))
  child.stderr.on('data', (d: Buffer) => (output += d.toString()))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      await once(child, 'exit')
    }
    rmSync(dir, { recursive: true, force: true })
  }
  onTestFinished(stop)
  return { said: () => output, stop }
}

/** RFC 5424's time of `us` microseconds after the epoch, as syslog-ng reads and sends it. */
const syslogTime = (us: number) => `${new Date(Math.floor(us / 1000)).toISOString().slice(0, 19)}.${String(us % 1_000_000).padStart(6, '0')}+00:00`
/** The query API's timestamp of the same. */
const storedUs = (us: number) => `${new Date(Math.floor(us / 1000)).toISOString().slice(0, 19)}.${String(us % 1_000_000).padStart(6, '0')}000Z`

/** The Collector (an otlp HTTP receiver on a free port) exporting over OTLP/gRPC with `tls` to `grpcPort`; returns it and its receiver's URL. */
async function collectorTo(grpcPort: number, tls: Record<string, unknown>) {
  const port = await freePort()
  // `otlp_grpc` is the gRPC `otlp` exporter's name since v0.160 (`otlp` its alias).
  const collector = await startCollector({
    receivers: { otlp: { protocols: { http: { endpoint: `127.0.0.1:${port}` } } } },
    exporters: { 'otlp_grpc/sluice': { endpoint: `127.0.0.1:${grpcPort}`, tls: { insecure: false, ...tls } } },
    service: { telemetry: TELEMETRY, pipelines: { logs: { receivers: ['otlp'], exporters: ['otlp_grpc/sluice'] } } },
  })
  return { collector, receiver: `http://127.0.0.1:${port}/v1/logs` }
}

/** OTLP/JSON of `service` on `host`: one WARN record a message, a second apart from `s`. */
function otlpJson(service: string, host: string, s: number, messages: string[]) {
  const text = (key: string, value: string) => ({ key, value: { stringValue: value } })
  return {
    resourceLogs: [
      {
        resource: { attributes: [text('service.name', service), text('host.name', host)] },
        scopeLogs: [{ scope: { name: 'e2e.tls' }, logRecords: messages.map((m, i) => ({ timeUnixNano: `${s + i}000000000`, severityNumber: 13, severityText: 'WARN', body: { stringValue: m } })) }],
      },
    ],
  }
}

/** Posts `body` to the Collector's receiver; throws unless it took it. */
async function feedCollector(receiver: string, body: object): Promise<void> {
  const res = await fetch(receiver, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  if (!res.ok) throw new Error(`the Collector's receiver answered ${res.status}: ${await res.text()}`)
}

beforeAll(async () => {
  const version = existsSync(SYSLOG_NG) ? /Config version: (\S+)/.exec(spawnSync(SYSLOG_NG, ['--version'], { encoding: 'utf8' }).stdout)?.[1] : undefined
  if (version === undefined) throw new Error(`${SYSLOG_NG} is missing: apt-get install syslog-ng-core (.ci/run does)`)
  syslogNgVersion = version
  ;[certs, otherCerts, beatsBin, fluentBin, python] = await Promise.all([
    makeCerts(),
    makeCerts('Another test CA'),
    goShipper('beats-go'),
    goShipper('fluent-go'),
    pythonVenv('gelf-python', 'test/shippers/gelf-python/requirements.txt'),
    buildCollector(),
  ])
}, 600_000)

afterAll(async () => {
  await certs?.remove()
  await otherCerts?.remove()
})

describe('TLS listeners, the gateway verified by each client against the test CA', () => {
  const ports: Partial<Record<Listener, number>> = {}
  const sluice = sharedSluice([...TARGETS], () => tlsListeners(['syslog', 'beats', 'gelf', 'forward', 'grpc'], ports, { GATEWAY_HTTP_TLS: 'true' }))

  it("stores what the Elasticsearch client's bulk sends over HTTPS (GATEWAY_HTTP_TLS), and answers no plain HTTP", async () => {
    const rt = sluice()
    const gateway = new URL(rt.addresses.gateway!)
    expect(gateway.protocol).toBe('https:')
    const client = new EsClient({ node: `https://localhost:${gateway.port}`, tls: { ca: readFileSync(certs.caFile) }, headers: { 'x-sluice-tenant': 'default' } })
    onTestFinished(() => client.close())
    const res = await client.bulk({ index: 'shop-logs', operations: [{ create: {} }, { '@timestamp': new Date(BASE_S * 1000).toISOString(), message: 'bulk over https', 'service.name': 'es-https', 'log.level': 'warn' }] })
    expect(res.errors).toBe(false)
    const logs = await logsOf(rt.addresses['query-api']!, 'es-https', 1)
    expect(logs.get('bulk over https')).toMatchObject({ severity_text: 'WARN', source: 'http' })
    await expect(fetch(`http://127.0.0.1:${gateway.port}/healthz`)).rejects.toThrow()
    await waitFor('the plain request counted', async () => ((await handshakeFailures(rt.addresses.gateway!, 'http')) > 0 ? true : undefined), 10_000)
  })

  it('stores what syslog-ng forwards with syslog() over TLS (RFC 5425), the server checked for its name', async () => {
    const q = sluice().addresses['query-api']!
    const baseUs = BASE_S * 1_000_000
    const { said } = syslogNgTls(ports.syslog!, `tls(ca-file("${certs.caFile}") peer-verify(required-trusted))`, [
      `<134>1 ${syslogTime(baseUs + 250_000)} web-tls checkout-tls 4242 ORD [order@32473 id="o-7"] payment accepted over tls`,
      `<131>1 ${syslogTime(baseUs + 1_000_000)} web-tls checkout-tls - - - card declined over tls`,
    ])
    const logs = await logsOf(q, 'checkout-tls', 2).catch((err: unknown) => {
      throw new Error(`${String(err)}; syslog-ng said: ${said().slice(-2000)}`)
    })
    expect(logs.get('payment accepted over tls')).toMatchObject({ service: 'checkout-tls', host: 'web-tls', severity_text: 'INFO', timestamp: storedUs(baseUs + 250_000), source: 'syslog' })
    expect(logs.get('payment accepted over tls')!.attributes).toEqual({ 'syslog.facility': 'local0', 'syslog.procid': '4242', 'syslog.msgid': 'ORD', 'order@32473.id': 'o-7', 'meta.sequenceId': '1' })
    expect(logs.get('card declined over tls')).toMatchObject({ host: 'web-tls', severity_text: 'ERROR', timestamp: storedUs(baseUs + 1_000_000), source: 'syslog' })
  })

  it("stores what go-lumber sends over TLS as Filebeat's output.logstash with ssl does, and nothing of a plain-text client on the TLS port", async () => {
    const rt = sluice()
    const q = rt.addresses['query-api']!
    // Plain Lumberjack on the TLS-only port: connected, but read as no TLS and closed, the window never acknowledged.
    await expect(beatsGo(ports.beats!, [], [filebeat(0, 'sent in plain text')])).rejects.toThrow(/window 1 \(1 events\)/)
    await waitFor('the plain-text connection counted', async () => ((await handshakeFailures(rt.addresses.gateway!, 'beats')) > 0 ? true : undefined), 10_000)
    expect(await handshakeFailures(rt.addresses.gateway!, 'beats')).toBe(1)

    expect(await beatsGo(ports.beats!, ['-tls-ca', certs.caFile, '-batch', '2'], [filebeat(1, 'order o-1 placed over tls'), filebeat(2, 'payment declined over tls', 'error'), filebeat(3, 'order o-2 placed over tls')])).toBe('')
    const logs = await logsOf(q, 'beats-tls', 3)
    expect([...logs.keys()].sort()).toEqual(['order o-1 placed over tls', 'order o-2 placed over tls', 'payment declined over tls'])
    expect(logs.get('order o-1 placed over tls')).toMatchObject({ host: 'web-tls', severity_text: 'INFO', timestamp: isoNs((BASE_S + 1) * 1000 + 250), source: 'beats' })
    expect(logs.get('payment declined over tls')).toMatchObject({ host: 'web-tls', severity_text: 'ERROR', source: 'beats' })
    expect(await handshakeFailures(rt.addresses.gateway!, 'beats')).toBe(1)
  })

  // pygelf closes its socket without reading from it: over TLS 1.3 the server's session tickets,
  // left unread, would make the kernel reset the connection and drop the records not yet sent; the
  // gateway serves GELF (and syslog) at TLS 1.2 for it (tls.ts), and all three arrive.
  it("stores what pygelf's GelfTlsHandler sends, the server's certificate validated", async () => {
    const q = sluice().addresses['query-api']!
    const before = Date.now() - 1000
    expect(await pygelfTls(ports.gelf!, [certs.caFile])).toBe('')
    const logs = await logsOf(q, 'py-tls', 3)
    expect(logs.get('order o-1 accepted')).toMatchObject({ service: 'py-tls', host: os.hostname(), severity_text: 'INFO', source: 'gelf' })
    expect(logs.get('order o-1 accepted')!.attributes).toEqual({ order_id: 'o-1', amount: '12.5', app: 'py-tls' })
    expect(logs.get('stock low for sku-9')).toMatchObject({ severity_text: 'WARN', attributes: { sku: 'sku-9', app: 'py-tls' } })
    expect(logs.get('payment gateway unreachable')).toMatchObject({ severity_text: 'ERROR' })
    for (const l of logs.values()) expect(Date.parse(l.timestamp)).toBeGreaterThanOrEqual(before)
  })

  it('stores what fluent-logger-golang sends with FluentNetwork "tls", the server verified against SSL_CERT_FILE', async () => {
    const q = sluice().addresses['query-api']!
    const lines = [
      { tag: 'app.jobs', time: isoSecNs(BASE_S, 5), record: { msg: 'job j-1 started over tls', level: 'info', app: 'go-tls', host: 'go-host-tls' } },
      { tag: 'app.jobs', time: isoSecNs(BASE_S + 1, 7), record: { msg: 'job j-1 failed over tls', level: 'error', app: 'go-tls', host: 'go-host-tls' } },
    ]
    const child = run(fluentBin, ['-host', '127.0.0.1', '-port', String(ports.forward), '-tls', '-ack', '-subsecond'], { timeout: 60_000, env: { ...process.env, SSL_CERT_FILE: certs.caFile } })
    child.child.stdin!.end(lines.map((l) => JSON.stringify(l)).join('\n'))
    const { stdout, stderr } = await child
    expect(stdout + stderr).toBe('')
    const logs = await logsOf(q, 'go-tls', 2)
    expect(logs.get('job j-1 started over tls')).toMatchObject({ host: 'go-host-tls', severity_text: 'INFO', timestamp: isoSecNs(BASE_S, 5), source: 'forward', resource: { 'fluent.tag': 'app.jobs' } })
    expect(logs.get('job j-1 failed over tls')).toMatchObject({ host: 'go-host-tls', severity_text: 'ERROR', timestamp: isoSecNs(BASE_S + 1, 7), source: 'forward' })
  })

  it("stores what the Collector's gRPC otlp exporter sends with tls.ca_file", async () => {
    const q = sluice().addresses['query-api']!
    const { collector, receiver } = await collectorTo(ports.grpc!, { ca_file: certs.caFile })
    await feedCollector(receiver, otlpJson('otelcol-tls', 'node-tls', BASE_S, ['exported over tls', 'exported over tls again']))
    const logs = await delivered(collector, 'the Collector’s records', () => queryLogs(q, { service: 'otelcol-tls', limit: '100' }), 2)
    expect(logs.map((l) => [l.message, l.timestamp])).toEqual([
      ['exported over tls again', isoSecNs(BASE_S + 1)],
      ['exported over tls', isoSecNs(BASE_S)],
    ])
    for (const l of logs) expect(l).toMatchObject({ service: 'otelcol-tls', host: 'node-tls', severity_text: 'WARN', source: 'otlp' })
  })
})

describe('mutual TLS (GATEWAY_TLS_CLIENT_CA_FILE)', () => {
  const ports: Partial<Record<Listener, number>> = {}
  const sluice = sharedSluice([...TARGETS], () => tlsListeners(['syslog', 'beats', 'gelf', 'grpc'], ports, { GATEWAY_TLS_CLIENT_CA_FILE: certs.caFile }))

  it("stores what go-lumber sends presenting a certificate the CA signed, and nothing of one without a certificate or with another CA's", async () => {
    const rt = sluice()
    const q = rt.addresses['query-api']!
    const tls = ['-tls-ca', certs.caFile]
    // TLS 1.3: the client's handshake completes, the window goes out, and the gateway's alert comes
    // back where its ACK would. Go's client presents a certificate only if one of the CAs the server
    // names in its request signed it, so another CA's is withheld and refused the same way.
    await expect(beatsGo(ports.beats!, tls, [filebeat(0, 'sent without a certificate')])).rejects.toThrow(/certificate required/)
    await expect(beatsGo(ports.beats!, [...tls, '-tls-cert', otherCerts.clientCertFile, '-tls-key', otherCerts.clientKeyFile], [filebeat(1, "sent with another CA's certificate")])).rejects.toThrow(/certificate required/)
    await waitFor('both refusals counted', async () => ((await handshakeFailures(rt.addresses.gateway!, 'beats')) >= 2 ? true : undefined), 10_000)

    expect(await beatsGo(ports.beats!, [...tls, '-tls-cert', certs.clientCertFile, '-tls-key', certs.clientKeyFile], [filebeat(2, 'sent with the signed certificate'), filebeat(3, 'sent with it again', 'warn')])).toBe('')
    const logs = await logsOf(q, 'beats-tls', 2)
    expect([...logs.keys()].sort()).toEqual(['sent with it again', 'sent with the signed certificate'])
    expect(logs.get('sent with the signed certificate')).toMatchObject({ host: 'web-tls', severity_text: 'INFO', timestamp: isoNs((BASE_S + 2) * 1000 + 250), source: 'beats' })
    expect(logs.get('sent with it again')).toMatchObject({ severity_text: 'WARN', source: 'beats' })
    expect(await handshakeFailures(rt.addresses.gateway!, 'beats')).toBe(2)
  })

  it("stores what syslog-ng forwards presenting its key-file and cert-file, and nothing it sends with another CA's", async () => {
    const rt = sluice()
    const q = rt.addresses['query-api']!
    const baseUs = (BASE_S + 10) * 1_000_000
    const tls = (ca: TestCerts) => `tls(ca-file("${certs.caFile}") peer-verify(required-trusted) key-file("${ca.clientKeyFile}") cert-file("${ca.clientCertFile}"))`
    // OpenSSL presents the configured certificate whoever signed it: the gateway checks its chain.
    const untrusted = syslogNgTls(ports.syslog!, tls(otherCerts), [`<165>1 ${syslogTime(baseUs)} relay-mtls audit-mtls - - - from a certificate another CA signed`])
    await waitFor('the untrusted certificate refused', async () => ((await handshakeFailures(rt.addresses.gateway!, 'syslog')) > 0 ? true : undefined), 15_000).catch((err: unknown) => {
      throw new Error(`${String(err)}; syslog-ng said: ${untrusted.said().slice(-2000)}`)
    })
    await untrusted.stop()

    const trusted = syslogNgTls(ports.syslog!, tls(certs), [`<165>1 ${syslogTime(baseUs + 500_000)} relay-mtls audit-mtls - - - login by a known host`])
    const logs = await logsOf(q, 'audit-mtls', 1).catch((err: unknown) => {
      throw new Error(`${String(err)}; syslog-ng said: ${trusted.said().slice(-2000)}`)
    })
    expect(logs.get('login by a known host')).toMatchObject({ service: 'audit-mtls', host: 'relay-mtls', severity_text: 'INFO', timestamp: storedUs(baseUs + 500_000), source: 'syslog', attributes: { 'syslog.facility': 'local4' } })
  })

  it("stores what pygelf's GelfTlsHandler sends with its certfile and keyfile", async () => {
    const q = sluice().addresses['query-api']!
    expect(await pygelfTls(ports.gelf!, [certs.caFile, certs.clientCertFile, certs.clientKeyFile])).toBe('')
    const logs = await logsOf(q, 'py-tls', 3)
    expect(logs.get('order o-1 accepted')).toMatchObject({ host: os.hostname(), severity_text: 'INFO', source: 'gelf', attributes: { order_id: 'o-1', amount: '12.5', app: 'py-tls' } })
    expect(logs.get('payment gateway unreachable')).toMatchObject({ severity_text: 'ERROR', source: 'gelf' })
  })

  it("stores what the Collector's gRPC otlp exporter sends with tls.cert_file and key_file", async () => {
    const q = sluice().addresses['query-api']!
    const { collector, receiver } = await collectorTo(ports.grpc!, { ca_file: certs.caFile, cert_file: certs.clientCertFile, key_file: certs.clientKeyFile })
    await feedCollector(receiver, otlpJson('otelcol-mtls', 'node-mtls', BASE_S + 20, ['exported with a client certificate']))
    const [log] = await delivered(collector, 'the Collector’s record', () => queryLogs(q, { service: 'otelcol-mtls', limit: '100' }), 1)
    expect(log).toMatchObject({ service: 'otelcol-mtls', host: 'node-mtls', severity_text: 'WARN', message: 'exported with a client certificate', timestamp: isoSecNs(BASE_S + 20), source: 'otlp' })
  })
})
