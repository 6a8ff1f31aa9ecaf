// TLS on the gateway's TCP listeners without a broker: the configuration's checks, each listener
// switched to TLS answering over it (and refusing plain text), mutual TLS, and certificates
// reloaded in place. OTLP/gRPC over TLS is in protocols/otlp-grpc.test.ts (the OpenTelemetry
// SDK's exporter); the shippers' own clients (syslog-ng, go-lumber, pygelf, fluent-logger-golang,
// the Collector) in test/e2e/ingest-tls.e2e.test.ts.
import { once } from 'node:events'
import { readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import { decodeMultiStream, encode } from '@msgpack/msgpack'
import https from 'node:https'
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { ConfigError } from '@sluice/config'
import { createRegistry } from '@sluice/observability'
import type { Registry } from '@sluice/observability'
import { makeCerts, renewServerCert } from '../../../test/infra/certs.js'
import type { TestCerts } from '../../../test/infra/certs.js'
import { startBeats } from './beats.js'
import { loadConfig } from './config.js'
import { startForward } from './forward.js'
import { startGelf } from './gelf.js'
import type { ProtocolContext } from './protocol.js'
import { tenantRule } from './protocol.js'
import { startSyslog } from './syslog.js'
import { buildApp, protocolContext } from './service.js'
import { decoded, fakeIngest, fakeProducer, jsonCodec } from './test-fakes.js'
import { ListenerTls } from './tls.js'

let certs: TestCerts
let otherCa: TestCerts
beforeAll(async () => {
  ;[certs, otherCa] = await Promise.all([makeCerts(), makeCerts('Another CA')])
}, 60_000)
afterAll(async () => {
  await Promise.all([certs.remove(), otherCa.remove()])
})

const NO_LISTENERS = { SYSLOG_TCP_PORT: '0', SYSLOG_UDP_PORT: '0', GELF_TCP_PORT: '0', GELF_UDP_PORT: '0', FORWARD_PORT: '0', BEATS_PORT: '0', GATEWAY_OTLP_GRPC_PORT: '0' }
const files = () => ({ GATEWAY_TLS_CERT_FILE: certs.certFile, GATEWAY_TLS_KEY_FILE: certs.keyFile })
const configError = (env: Record<string, string>): string => {
  try {
    loadConfig({ TOPIC_LOGS_RAW: 'raw', ...env })
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    return (err as ConfigError).issues.join('\n')
  }
  throw new Error('the configuration was accepted')
}

describe('TLS configuration', () => {
  it('refuses a listener switched to TLS without a certificate, and half a pair', () => {
    expect(configError({ BEATS_TLS: 'true', SYSLOG_TCP_TLS: 'true' })).toBe(
      ['SYSLOG_TCP_TLS=true needs GATEWAY_TLS_CERT_FILE and GATEWAY_TLS_KEY_FILE (the certificate and key it serves)', 'BEATS_TLS=true needs GATEWAY_TLS_CERT_FILE and GATEWAY_TLS_KEY_FILE (the certificate and key it serves)'].join('\n'),
    )
    expect(configError({ GATEWAY_TLS_CERT_FILE: certs.certFile })).toMatch(/^GATEWAY_TLS_CERT_FILE and GATEWAY_TLS_KEY_FILE: set both/)
    expect(configError({ GATEWAY_TLS_CLIENT_CA_FILE: certs.caFile })).toMatch(/^GATEWAY_TLS_CLIENT_CA_FILE needs GATEWAY_TLS_CERT_FILE/)
  })

  it('reads the files at start, naming the one that is wrong', () => {
    expect(configError({ ...files(), GATEWAY_TLS_KEY_FILE: `${certs.dir}/missing.key` })).toMatch(new RegExp(`^GATEWAY_TLS_KEY_FILE ${certs.dir}/missing.key: ENOENT`))
    // The key of another certificate.
    expect(configError({ ...files(), GATEWAY_TLS_KEY_FILE: certs.clientKeyFile })).toMatch(/^GATEWAY_TLS_CERT_FILE .* and GATEWAY_TLS_KEY_FILE .*: not a PEM certificate and its private key \(.*key values mismatch/)
    expect(configError({ ...files(), GATEWAY_TLS_CLIENT_CA_FILE: certs.keyFile })).toBe(`GATEWAY_TLS_CLIENT_CA_FILE ${certs.keyFile}: holds no PEM certificate`)
  })

  it('warns when a certificate is given but no listener is switched to TLS', () => {
    const warned = (env: Record<string, string>) => {
      const lines: Array<Record<string, unknown>> = []
      const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) })
      protocolContext(loadConfig({ TOPIC_LOGS_RAW: 'raw', ...env }), { logger, registry: createRegistry({ defaultMetrics: false }), checks: {}, producer: fakeProducer(), codec: jsonCodec })
      return lines.map((l) => l.msg)
    }
    expect(warned(files())).toEqual(['GATEWAY_TLS_CERT_FILE is set but no listener is switched to TLS (SYSLOG_TCP_TLS, GELF_TCP_TLS, FORWARD_TLS, BEATS_TLS, GATEWAY_OTLP_GRPC_TLS): every port speaks plain text'])
    expect(warned({ ...files(), GELF_TCP_TLS: 'true' })).toEqual([])
    expect(warned({})).toEqual([])
  })

  it('gives the files and the switches to the listeners', () => {
    const config = loadConfig({ TOPIC_LOGS_RAW: 'raw', ...files(), GATEWAY_TLS_CLIENT_CA_FILE: certs.caFile, BEATS_TLS: 'true', FORWARD_TLS: 'yes' })
    expect(config.tls).toEqual({ certFile: certs.certFile, keyFile: certs.keyFile, clientCaFile: certs.caFile })
    expect(config.tlsOn).toEqual({ http: false, syslog: false, gelf: false, forward: true, beats: true, grpc: false })
    expect(loadConfig({ TOPIC_LOGS_RAW: 'raw' }).tls).toBeUndefined()
  })
})

/** The gateway's protocol context with `env`'s TLS, a fake accept path, its registry and its log lines. */
function context(env: Record<string, string>) {
  const config = loadConfig({ TOPIC_LOGS_RAW: 'raw', HOST: '127.0.0.1', ...NO_LISTENERS, ...env })
  const registry = createRegistry({ defaultMetrics: false })
  const lines: Array<Record<string, unknown>> = []
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) })
  const fake = fakeIngest()
  const tlsOf = config.tls === undefined ? undefined : new ListenerTls(config.tls, registry, log)
  const ctx: ProtocolContext = { config, ingest: fake.ingest, log, registry, tls: tlsOf, tenantOf: tenantRule(config) }
  return { ctx, fake, registry, lines }
}

async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1')
  await once(s, 'listening')
  const { port } = s.address() as net.AddressInfo
  await new Promise((r) => s.close(r))
  return port
}

/** A TLS connection trusting the test CA; `client`: the certificate it presents. */
async function connectTls(port: number, client?: { certFile: string; keyFile: string }): Promise<tls.TLSSocket> {
  const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(certs.caFile), ...(client && { cert: readFileSync(client.certFile), key: readFileSync(client.keyFile) }) })
  onTestFinished(() => void socket.destroy())
  await once(socket, 'secureConnect')
  return socket
}

/** Resolves once `check` holds, polling; rejects after 5 s. */
async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 10))
  }
}

async function failures(registry: Registry, listener: string): Promise<number> {
  const text = await registry.metrics()
  const m = new RegExp(`^sluice_gateway_tls_handshake_failures_total\\{listener="${listener}"\\} (\\d+)$`, 'm').exec(text)
  return m ? Number(m[1]) : 0
}

/** A plain TCP connection writing `bytes` to a TLS port: resolves with what it read back before the gateway closed it. */
async function plainAttempt(port: number, bytes: Buffer): Promise<Buffer> {
  const socket = net.connect(port, '127.0.0.1')
  onTestFinished(() => void socket.destroy())
  const read: Buffer[] = []
  socket.on('data', (d: Buffer) => read.push(d))
  socket.on('error', () => {})
  await once(socket, 'connect')
  socket.write(bytes)
  await once(socket, 'close')
  return Buffer.concat(read)
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}
/** A Lumberjack v2 window of one event. */
const beatsWindow = (message: string) => {
  const json = Buffer.from(JSON.stringify({ '@timestamp': '2026-12-07T10:00:00.000Z', message }))
  return Buffer.concat([Buffer.from('2W'), u32(1), Buffer.from('2J'), u32(1), u32(json.length), json])
}
const messages = (fake: ReturnType<typeof fakeIngest>) => fake.batches.flatMap((b) => b.events.map((e) => e.message))

describe('listeners over TLS', () => {
  it('Beats: acknowledges a window sent over TLS, and a plain connection gets nothing but a count', async () => {
    const port = await freePort()
    const { ctx, fake, registry } = context({ ...files(), BEATS_TLS: 'true', BEATS_PORT: String(port) })
    const beats = (await startBeats(ctx))!
    onTestFinished(() => beats.close())
    expect(beats.address).toBe(`127.0.0.1:${port}`)
    const socket = await connectTls(port)
    // Beats reads its acknowledgements: TLS 1.3.
    expect(socket.getProtocol()).toBe('TLSv1.3')
    socket.write(beatsWindow('over tls'))
    const [ack] = (await once(socket, 'data')) as [Buffer]
    expect(ack.toString('latin1', 0, 2)).toBe('2A')
    expect(ack.readUInt32BE(2)).toBe(1)
    expect(messages(fake)).toEqual(['over tls'])
    // Lumberjack in plain text on the TLS port: no ACK, the connection closed, nothing stored.
    expect(await plainAttempt(port, beatsWindow('in plain text'))).toHaveLength(0)
    await until(() => messages(fake).length === 1)
    expect(await failures(registry, 'beats')).toBe(1)
    // A TCP check that connects and closes (a load balancer's): no failure.
    const probe = net.connect(port, '127.0.0.1')
    await once(probe, 'connect')
    probe.destroy()
    await new Promise((r) => setTimeout(r, 100))
    expect(await failures(registry, 'beats')).toBe(1)
  })

  it('syslog (RFC 5425) and GELF over TLS store what they read', async () => {
    const [syslogPort, gelfPort] = [await freePort(), await freePort()]
    const { ctx, fake } = context({ ...files(), SYSLOG_TCP_TLS: 'true', SYSLOG_TCP_PORT: String(syslogPort), GELF_TCP_TLS: 'true', GELF_TCP_PORT: String(gelfPort) })
    const syslog = await startSyslog(ctx)
    const gelf = await startGelf(ctx)
    onTestFinished(async () => {
      await Promise.all([syslog.close(), gelf.close()])
    })
    // RFC 5425 frames a message with its length (octet counting).
    const line = '<11>1 2026-12-07T10:00:00.000Z web-1 checkout 42 - - card declined over tls'
    const s = await connectTls(syslogPort)
    // Senders that never read get TLS 1.2: no session tickets after the handshake left unread.
    expect(s.getProtocol()).toBe('TLSv1.2')
    s.end(`${Buffer.byteLength(line)} ${line}`)
    const g = await connectTls(gelfPort)
    expect(g.getProtocol()).toBe('TLSv1.2')
    g.end(`${JSON.stringify({ version: '1.1', host: 'web-2', short_message: 'gelf over tls' })}\0`)
    await until(() => messages(fake).length === 2)
    expect(messages(fake).sort()).toEqual(['card declined over tls', 'gelf over tls'])
  })

  it('forward over TLS: the ack of a chunk comes back over the same connection', async () => {
    const port = await freePort()
    const { ctx, fake } = context({ ...files(), FORWARD_TLS: 'true', FORWARD_PORT: String(port) })
    const forward = (await startForward(ctx))!
    onTestFinished(() => forward.close())
    const socket = await connectTls(port)
    socket.write(encode(['app.checkout', [[1_765_101_600, { log: 'forwarded over tls' }]], { chunk: 'c-1' }]))
    for await (const reply of decodeMultiStream(socket)) {
      expect(reply).toEqual({ ack: 'c-1' })
      break
    }
    expect(messages(fake)).toEqual(['forwarded over tls'])
  })

  it('mutual TLS: only a client certificate the CA signed gets through', async () => {
    const port = await freePort()
    const { ctx, fake, registry, lines } = context({ ...files(), GATEWAY_TLS_CLIENT_CA_FILE: certs.caFile, BEATS_TLS: 'true', BEATS_PORT: String(port) })
    const beats = (await startBeats(ctx))!
    onTestFinished(() => beats.close())
    // Without a certificate, and with one another CA signed: the handshake fails (TLS 1.3 tells the client at its first read).
    for (const client of [undefined, { certFile: otherCa.clientCertFile, keyFile: otherCa.clientKeyFile }]) {
      const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(certs.caFile), ...(client && { cert: readFileSync(client.certFile), key: readFileSync(client.keyFile) }) })
      onTestFinished(() => void socket.destroy())
      // (events.once would reject with the alert the client reads.)
      const closed = new Promise((resolve) => socket.on('close', resolve))
      socket.on('error', () => {})
      socket.write(beatsWindow('refused'))
      await closed
    }
    expect(await failures(registry, 'beats')).toBe(2)
    // Each refusal told with its reason (the sender's address where the connection still had one).
    const reasons = lines.filter((l) => l.msg === 'tls handshake failed').map((l) => l.reason)
    expect(reasons).toHaveLength(2)
    expect(reasons[0]).toMatch(/^ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE$/)
    expect(reasons[1]).toMatch(/^client certificate refused: UNABLE_TO_VERIFY_LEAF_SIGNATURE$/)
    const socket = await connectTls(port, { certFile: certs.clientCertFile, keyFile: certs.clientKeyFile })
    socket.write(beatsWindow('with a client certificate'))
    const [ack] = (await once(socket, 'data')) as [Buffer]
    expect(ack.readUInt32BE(2)).toBe(1)
    expect(messages(fake)).toEqual(['with a client certificate'])
  })
})

describe('HTTPS (GATEWAY_HTTP_TLS)', () => {
  it("serves the HTTP protocols over TLS: the OpenTelemetry SDK's HTTP exporter verifying the gateway, and no plain HTTP", async () => {
    const producer = fakeProducer()
    const registry = createRegistry({ defaultMetrics: false })
    const config = loadConfig({ TOPIC_LOGS_RAW: 'raw', HOST: '127.0.0.1', ...NO_LISTENERS, ...files(), GATEWAY_TLS_CLIENT_CA_FILE: certs.caFile, GATEWAY_HTTP_TLS: 'true' })
    const app = buildApp(config, { logger: pino({ level: 'silent' }), registry, checks: {}, producer, codec: jsonCodec })
    onTestFinished(() => app.close())
    const port = Number(new URL(await app.listen({ host: '127.0.0.1', port: 0 })).port)
    const ca = readFileSync(certs.caFile)
    // No client certificate asked for on HTTP, even with GATEWAY_TLS_CLIENT_CA_FILE (API keys are its door).
    const exporter = new OTLPLogExporter({ url: `https://localhost:${port}/v1/logs`, httpAgentOptions: { ca } })
    const result = await new Promise<{ code: number; error?: Error }>((resolve) => {
      const provider = new LoggerProvider({
        resource: resourceFromAttributes({ 'service.name': 'https-sdk' }),
        processors: [new SimpleLogRecordProcessor({ exporter: { export: (logs, done) => exporter.export(logs, (r) => (resolve(r), done(r))), shutdown: () => exporter.shutdown(), forceFlush: () => exporter.forceFlush() } })],
      })
      onTestFinished(() => provider.shutdown())
      provider.getLogger('checkout').emit({ body: 'exported over https' })
    })
    expect(result.error).toBeUndefined()
    expect(result.code).toBe(0)
    expect(producer.sent.flatMap((b) => b.messages.map((m) => decoded(m).message))).toEqual(['exported over https'])
    const health = await new Promise<number>((resolve, reject) => https.get({ host: '127.0.0.1', port, path: '/healthz', servername: 'localhost', ca }, (res) => resolve(res.statusCode!)).on('error', reject))
    expect(health).toBe(200)
    // Plain HTTP on the HTTPS port: no answer, a failed handshake.
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow()
    expect(await failures(registry, 'http')).toBe(1)
  })
})

describe('handshake timeout', () => {
  it('closes a connection that does not complete its handshake in time, counted', async () => {
    const registry = createRegistry({ defaultMetrics: false })
    const listenerTls = new ListenerTls({ certFile: certs.certFile, keyFile: certs.keyFile }, registry, pino({ level: 'silent' }), { handshakeTimeoutMs: 200 })
    let served = 0
    const server = listenerTls.server('gelf', {}, () => void served++)
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())))
    // Connected, and silent: closed by the gateway (a test timeout otherwise), never served.
    const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
    onTestFinished(() => void socket.destroy())
    socket.on('error', () => {})
    await new Promise((resolve) => socket.on('close', resolve))
    expect(served).toBe(0)
    expect(await failures(registry, 'gelf')).toBe(1)
  })
})

describe('certificate reload', () => {
  it('serves a renewed certificate to new connections, and keeps the last good one when the files are broken', async () => {
    const own = await makeCerts('Reload CA')
    onTestFinished(() => own.remove())
    const registry = createRegistry({ defaultMetrics: false })
    const lines: Array<Record<string, unknown>> = []
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) })
    const listenerTls = new ListenerTls({ certFile: own.certFile, keyFile: own.keyFile }, registry, log)
    const server = listenerTls.server('syslog', {}, (socket) => socket.end('hello'))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())))
    const port = (server.address() as net.AddressInfo).port
    const peer = async () => {
      const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(own.caFile) })
      await once(socket, 'secureConnect')
      const cert = socket.getPeerCertificate()
      socket.destroy()
      return cert.subject.CN
    }
    expect(await peer()).toBe('localhost')
    expect(listenerTls.reload()).toBe(false)
    await renewServerCert(own, 'renewed.localhost')
    expect(listenerTls.reload()).toBe(true)
    expect(await peer()).toBe('renewed.localhost')
    expect(lines.some((l) => l.msg === 'tls: certificate reloaded')).toBe(true)
    // A broken file: refused, logged, the renewed certificate still serves.
    writeFileSync(own.keyFile, 'not a key\n')
    expect(listenerTls.reload()).toBe(false)
    expect(lines.find((l) => l.level === 50)?.msg).toBe('tls: the certificate files changed but cannot be used; the last good certificate keeps serving')
    expect(await peer()).toBe('renewed.localhost')
  })
})
