// Fluentd's Forward protocol end to end (the gateway's FORWARD_PORT listener), sent by the real
// client libraries:
//   - fluent-logger-golang, which Docker's `fluentd` logging driver is built on (test/shippers/fluent-go,
//     built from the Go module proxy by test/shippers/build-go.sh): Docker's record shape and tags,
//     with the driver's defaults (Message mode, whole seconds, no ack) and with its options
//     fluentd-sub-second-precision (EventTime), fluentd-request-ack, fluentd-async, and a
//     unix:// fluentd-address (FORWARD_SOCKET_PATH);
//   - fluent-logger-python (test/shippers/fluent-python, in a virtualenv of its own): FluentSender
//     with nanosecond EventTime, and FluentHandler behind `logging` (Message mode without options);
//   - fluent-logger-node in PackedForward, CompressedPackedForward (gzip) and Message mode, each
//     record waiting for the gateway's ack, and with FORWARD_SHARED_KEY: the handshake with the
//     right key stores, a wrong key and a client that skips the handshake are refused and store
//     nothing.
// Each record's message, level, service, host, time (to the nanosecond with EventTime), attributes,
// tag (resource fluent.tag), source and tenant (FORWARD_TENANT, else the default) are read back
// from ClickHouse through the query API. Not covered here: the Forward mode ([tag, [[time, record],
// …]]), which none of these libraries sends, and FORWARD_ALLOWED_SOURCES: the unit tests
// (services/gateway/src/forward.test.ts) cover both.
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { isoSecNs, queryLogs } from '../infra/logs.js'
import type { StoredLog } from '../infra/logs.js'
import { goShipper } from '../infra/go-shipper.js'
import { freePort } from '../infra/ports.js'
import { REPO_ROOT } from '../infra/providers.js'
import { pythonVenv } from '../infra/python.js'
import { isolation, startSluice, waitFor } from '../infra/sluice.js'

const run = promisify(execFile)
const TARGETS = ['gateway', 'enricher', 'clickhouse-sink', 'query-api'] as const

// fluent-logger's bundled types miss options its code reads (enableReconnect) and declare EventTime
// as an instance rather than a class: the part of its API used here, as lib/sender.js has it.
interface EventTime {
  epoch: number
  nano: number
}
interface FluentSender {
  /** `time`: an EventTime, or a number sent as it is (whole seconds). The callback runs once acked (requireAckResponse), else once written. */
  emit(label: string, record: Record<string, unknown>, time: number | EventTime, callback: (err?: Error) => void): void
  /** Handshake failures (HandshakeError) and socket errors; the pending emits' callbacks are not called for them. */
  on(event: 'error', listener: (err: Error) => void): void
  end(): void
}
interface FluentSenderOptions {
  host: string
  port: number
  eventMode?: 'Message' | 'PackedForward' | 'CompressedPackedForward'
  requireAckResponse?: boolean
  ackResponseTimeout?: number
  enableReconnect?: boolean
  security?: { clientHostname: string; sharedKey: string }
  internalLogger?: { info: (...args: unknown[]) => void; error: (...args: unknown[]) => void }
}
const fluentLogger = createRequire(import.meta.url)('fluent-logger') as {
  createFluentSender(tagPrefix: string, options: FluentSenderOptions): FluentSender
  EventTime: new (epoch: number, nano: number) => EventTime
}

/** A sender of `tagPrefix`, what it logged, and its emit as a promise. */
function nodeSender(tagPrefix: string, options: FluentSenderOptions) {
  const said: string[] = []
  const sender = fluentLogger.createFluentSender(tagPrefix, {
    // No reconnect 10 minutes after a failure, from a timer that would outlive the test.
    enableReconnect: false,
    internalLogger: { info: (...a) => void said.push(a.join(' ')), error: (...a) => void said.push(a.join(' ')) },
    ...options,
  })
  const errors: Error[] = []
  sender.on('error', (err) => void errors.push(err))
  const emit = (label: string, record: Record<string, unknown>, time: number | EventTime) =>
    new Promise<void>((resolve, reject) => sender.emit(label, record, time, (err) => (err ? reject(err) : resolve())))
  return { sender, said, errors, emit }
}

/** The `n` records of `service` under `tenant` once the query API holds that many, by message; throws when it holds more. */
async function stored(q: string, tenant: string, service: string, n: number): Promise<Map<string, StoredLog>> {
  const logs = await waitFor(`${n} logs of ${service} (tenant ${tenant})`, async () => {
    const logs = await queryLogs(q, { tenant, service, limit: '100' })
    return logs.length >= n ? logs : undefined
  }, 30_000)
  if (logs.length !== n) throw new Error(`expected ${n} logs of ${service}, the query API holds ${logs.length}: ${logs.map((l) => l.message).join(' | ')}`)
  return new Map(logs.map((l) => [l.message, l]))
}

// Recent whole seconds (older times would fall outside the table's TTL); the nanoseconds are ones a
// millisecond clock could not have produced.
const BASE = Math.floor(Date.now() / 1000) - 120

let goClient = ''

/** Runs sluice-fluent-go with `flags`, the `lines` on its stdin; rejects with its stderr when it exits non-zero. */
async function fluentGo(port: number, flags: string[], lines: Array<{ tag?: string; time?: string; record: Record<string, unknown> }>): Promise<string> {
  const child = run(goClient, ['-host', '127.0.0.1', '-port', String(port), ...flags], { timeout: 60_000 })
  child.child.stdin!.end(lines.map((l) => JSON.stringify(l)).join('\n'))
  const { stdout, stderr } = await child
  return stdout + stderr
}

describe('Fluentd Forward protocol end to end', () => {
  beforeAll(async () => {
    ;[goClient] = await Promise.all([goShipper('fluent-go'), pythonVenv('fluent-python', 'test/shippers/fluent-python/requirements.txt')])
  }, 600_000)

  it("stores what fluent-logger-golang sends as Docker's fluentd driver does: whole seconds, EventTime with acks, the async queue", async () => {
    const port = await freePort()
    const tenant = 'fwd-docker'
    // Docker's fluentd-address=unix:///…: the gateway serves the protocol on a Unix socket too.
    const socketDir = mkdtempSync(path.join(os.tmpdir(), 'sluice-fwd-'))
    onTestFinished(() => rmSync(socketDir, { recursive: true, force: true }))
    const socketPath = path.join(socketDir, 'forward.sock')
    const rt = await startSluice([...TARGETS], isolation({ FORWARD_PORT: String(port), FORWARD_SOCKET_PATH: socketPath, FORWARD_TENANT: tenant }))
    const q = rt.addresses['query-api']!
    // What the driver sends per line: {container_id, container_name, source, log}, tagged with the
    // container's short id unless `--log-opt tag=…` says otherwise.
    const id = '3f1c9a7be2d4c6a8f0e1d2c3b4a5968778695a4b3c2d1e0f9a8b7c6d5e4f3a2b'
    const docker = (name: string, source: 'stdout' | 'stderr', log: string) => ({ container_id: id, container_name: `/${name}`, source, log })

    // The driver's defaults: Message mode, time in whole seconds (the fraction dropped), no ack.
    expect(
      await fluentGo(port, [], [
        { tag: id.slice(0, 12), time: isoSecNs(BASE, 250_000_000), record: docker('web-1', 'stdout', 'listening on port 8080') },
        { tag: id.slice(0, 12), time: isoSecNs(BASE + 1, 999_999_999), record: docker('web-1', 'stderr', 'retrying the upstream connection') },
        { tag: id.slice(0, 12), time: isoSecNs(BASE + 2), record: docker('web-1', 'stdout', 'config reloaded') },
      ]),
    ).toBe('')
    // fluentd-sub-second-precision and fluentd-request-ack, `--log-opt tag=docker.{{.Name}}`: each
    // record waits for its ack, its time kept to the nanosecond.
    expect(
      await fluentGo(port, ['-subsecond', '-ack'], [
        { tag: 'docker.web-2', time: isoSecNs(BASE + 3, 123_456_789), record: docker('web-2', 'stdout', 'worker 1 started') },
        { tag: 'docker.web-2', time: isoSecNs(BASE + 3, 123_456_790), record: docker('web-2', 'stdout', 'worker 2 started') },
      ]),
    ).toBe('')
    // fluentd-address=unix://<socket>, with acks and sub-second times.
    expect(await fluentGo(port, ['-socket', socketPath, '-subsecond', '-ack'], [{ tag: 'docker.web-3', time: isoSecNs(BASE + 3, 5), record: docker('web-3', 'stdout', 'over the unix socket') }])).toBe('')
    // A line longer than Docker's 16 KiB buffer: the driver sends it in parts (moby's fluentd.go:
    // partial_message, partial_id, partial_ordinal, partial_last), each waiting for its ack here;
    // another stream's line comes between them.
    const long = `payload ${'abcdefghij'.repeat(2_500)} end`
    const part = (log: string, ordinal: number, last: boolean) => ({ ...docker('web-4', 'stdout', log), partial_message: 'true', partial_id: 'a1b2c3d4e5f6', partial_ordinal: String(ordinal), partial_last: String(last) })
    expect(
      await fluentGo(port, ['-subsecond', '-ack'], [
        { tag: 'docker.web-4', time: isoSecNs(BASE + 3, 7), record: part(long.slice(0, 16_384), 1, false) },
        { tag: 'docker.web-4', time: isoSecNs(BASE + 3, 8), record: docker('web-4', 'stderr', 'between the parts') },
        { tag: 'docker.web-4', time: isoSecNs(BASE + 3, 9), record: part(long.slice(16_384), 2, true) },
      ]),
    ).toBe('')
    // fluentd-async with acks: queued, then sent by the library's goroutine; Close drains the queue.
    // An application's own record, as a Go service logs through the library directly.
    expect(
      await fluentGo(port, ['-async', '-ack'], [
        { tag: 'app.jobs', time: isoSecNs(BASE + 4, 500_000_000), record: { msg: 'queue drained', level: 'warn', app: 'go-jobs', host: 'go-host-1', job: { id: 'j-7', attempts: 2, dry_run: false }, tags: ['batch', 'nightly'] } },
      ]),
    ).toBe('')

    const web1 = await stored(q, tenant, 'web-1', 3)
    expect([...web1.values()].map((l) => [l.message, l.timestamp, l.attributes.source]).sort()).toEqual([
      ['config reloaded', isoSecNs(BASE + 2), 'stdout'],
      ['listening on port 8080', isoSecNs(BASE), 'stdout'],
      ['retrying the upstream connection', isoSecNs(BASE + 1), 'stderr'],
    ])
    for (const l of web1.values()) {
      // container_name is the service, its leading `/` gone. As with `app` and the other container
      // fields, the field stays an attribute too (it says more than the service); so does the rest.
      expect(l).toMatchObject({ tenant, service: 'web-1', host: null, severity_text: 'INFO', source: 'forward' })
      expect(l.attributes).toEqual({ container_id: id, container_name: '/web-1', source: expect.stringMatching(/^std(out|err)$/) })
      expect(l.resource).toEqual({ 'fluent.tag': id.slice(0, 12) })
    }

    const web2 = await stored(q, tenant, 'web-2', 2)
    expect(web2.get('worker 1 started')!.timestamp).toBe(isoSecNs(BASE + 3, 123_456_789))
    expect(web2.get('worker 2 started')!.timestamp).toBe(isoSecNs(BASE + 3, 123_456_790))
    for (const l of web2.values()) {
      expect(l).toMatchObject({ tenant, service: 'web-2', host: null, severity_text: 'INFO', source: 'forward', attributes: { container_id: id, container_name: '/web-2', source: 'stdout' } })
      expect(l.resource).toEqual({ 'fluent.tag': 'docker.web-2' })
    }

    const [web3] = (await stored(q, tenant, 'web-3', 1)).values()
    expect(web3).toMatchObject({ tenant, service: 'web-3', message: 'over the unix socket', timestamp: isoSecNs(BASE + 3, 5), source: 'forward', resource: { 'fluent.tag': 'docker.web-3' } })

    // The long line whole, at its first part's time, without the partial_* fields.
    const web4 = await stored(q, tenant, 'web-4', 2)
    expect(web4.get('between the parts')).toMatchObject({ timestamp: isoSecNs(BASE + 3, 8), attributes: { source: 'stderr' } })
    const joined = web4.get(long)
    expect(joined !== undefined).toBe(true)
    expect(joined).toMatchObject({ timestamp: isoSecNs(BASE + 3, 7) })
    expect(joined!.attributes).toEqual({ container_id: id, container_name: '/web-4', source: 'stdout' })

    const [jobs] = (await stored(q, tenant, 'go-jobs', 1)).values()
    expect(jobs).toMatchObject({ tenant, message: 'queue drained', host: 'go-host-1', severity_text: 'WARN', timestamp: isoSecNs(BASE + 4), source: 'forward' })
    // Nested maps flattened with dots, arrays as JSON text (JSON's numbers reach msgpack as floats).
    expect(jobs!.attributes).toEqual({ app: 'go-jobs', 'job.id': 'j-7', 'job.attempts': '2', 'job.dry_run': 'false', tags: '["batch","nightly"]' })
    expect(jobs!.resource).toEqual({ 'fluent.tag': 'app.jobs' })
  })

  it("stores what fluent-logger-python sends: FluentSender's nanosecond EventTime and FluentHandler behind logging, under the default tenant", async () => {
    const python = await pythonVenv('fluent-python', 'test/shippers/fluent-python/requirements.txt')
    const port = await freePort()
    // No FORWARD_TENANT: the gateway's default tenant.
    const rt = await startSluice([...TARGETS], isolation({ FORWARD_PORT: String(port) }))
    const q = rt.addresses['query-api']!
    const before = Math.floor(Date.now() / 1000)
    const { stdout, stderr } = await run(python, [path.join(REPO_ROOT, 'test/shippers/fluent-python/send_logs.py'), '127.0.0.1', String(port), 'py', String(BASE)], { timeout: 60_000 })
    const after = Math.ceil(Date.now() / 1000)
    expect(stdout + stderr).toBe('')

    // The billing records name their service each in a field of its own: service, service.name, PROGRAM.
    const billing = await stored(q, 'default', 'py-billing', 4)
    const invoice = billing.get('invoice sent')!
    expect(invoice).toMatchObject({ tenant: 'default', host: 'py-host-1', severity_text: 'INFO', timestamp: isoSecNs(BASE, 123_456_789), source: 'forward' })
    expect(invoice.attributes).toEqual({ 'invoice.id': 'inv-9', 'invoice.total': '12.5', 'invoice.paid': 'true', tags: '["eu","vip"]' })
    // ECS's flat names: log.level, service.name, host.name.
    const declined = billing.get('card declined')!
    expect(declined).toMatchObject({ host: 'py-host-1', severity_text: 'WARN', timestamp: isoSecNs(BASE, 250_000_001) })
    expect(declined.attributes).toEqual({ 'order.id': 'o-17' })
    // No message field: the record's JSON text is the message.
    const [login] = [...billing.values()].filter((l) => l.message.startsWith('{'))
    expect(JSON.parse(login!.message)).toEqual({ event: 'login', user: 'u-1', service: 'py-billing' })
    expect(login).toMatchObject({ host: null, severity_text: 'INFO', timestamp: isoSecNs(BASE, 500_000_000) })
    // The enricher reads that JSON message too, and adds its fields the record lacks: its service.
    expect(login!.attributes).toEqual({ event: 'login', user: 'u-1', service: 'py-billing' })
    for (const l of billing.values()) expect(l.resource).toEqual({ 'fluent.tag': 'py.billing' })

    // FluentRecordFormatter's record: the fields of its format (app is the service, hostname the
    // host, level the level), the message, and the fields of a dict message; the time is the
    // LogRecord's, in whole seconds.
    const orders = await stored(q, 'default', 'py-orders', 3)
    expect([...orders.values()].map((l) => [l.message, l.severity_text]).sort()).toEqual([
      ['order o-1 shipped', 'INFO'],
      ['payment gateway unreachable', 'ERROR'],
      ['stock low', 'WARN'],
    ])
    for (const l of orders.values()) {
      expect(l).toMatchObject({ tenant: 'default', host: os.hostname(), source: 'forward' })
      expect(l.timestamp).toMatch(/\.000000000Z$/)
      expect(Date.parse(l.timestamp) / 1000).toBeGreaterThanOrEqual(before)
      expect(Date.parse(l.timestamp) / 1000).toBeLessThanOrEqual(after)
      expect(l.resource).toEqual({ 'fluent.tag': 'py.orders' })
    }
    expect(orders.get('order o-1 shipped')!.attributes).toEqual({ app: 'py-orders', logger: 'orders.api' })
    // WARNING is WARN; Sluice keeps a level's spelling when it is not the canonical one.
    expect(orders.get('stock low')!.attributes).toEqual({ app: 'py-orders', logger: 'orders.api', sku: 's-7', left: '3', 'log.level': 'WARNING' })

    // journald's names (Fluent Bit's systemd input): MESSAGE, PROGRAM, HOST, and PRIORITY, the
    // syslog severity as text, 0 emerg to 7 debug ("3": err) — not an OTel severity number.
    const ledger = billing.get('ledger write failed')!
    expect(ledger).toMatchObject({ host: 'py-host-2', timestamp: isoSecNs(BASE, 999_999_999) })
    expect(ledger.severity_text).toBe('ERROR')
    // Read as the syslog severity it is: the level is ERROR, with no other spelling to keep.
    expect(ledger.attributes).toEqual({ _PID: '4242' })
  })

  it('stores what fluent-logger-node sends in PackedForward, CompressedPackedForward and Message mode, each acked once stored', async () => {
    const port = await freePort()
    const tenant = 'fwd-node'
    const rt = await startSluice([...TARGETS], isolation({ FORWARD_PORT: String(port), FORWARD_TENANT: tenant }))
    const q = rt.addresses['query-api']!
    const { EventTime } = fluentLogger

    // PackedForward: the emits of one flush interval go as one entries stream of one tag; times
    // as EventTime and as whole seconds in the same stream. Records as Fluent Bit's kubernetes
    // filter shapes them.
    const packed = nodeSender('k8s', { host: '127.0.0.1', port, eventMode: 'PackedForward', requireAckResponse: true })
    const pod = { pod_name: 'api-7d9f', namespace_name: 'shop', container_name: 'api', labels: { app: 'api', tier: 'web' } }
    await Promise.all([
      packed.emit('shop.api', { log: 'order o-1 accepted', stream: 'stdout', kubernetes: pod }, new EventTime(BASE, 1)),
      packed.emit('shop.api', { log: 'order o-2 accepted', stream: 'stdout', kubernetes: pod }, new EventTime(BASE, 2)),
      packed.emit('shop.api', { log: 'order o-3 rejected', stream: 'stderr', level: 'error', kubernetes: pod }, BASE + 1),
    ])
    packed.sender.end()

    // CompressedPackedForward: the same, gzip-compressed.
    const compressed = nodeSender('app', { host: '127.0.0.1', port, eventMode: 'CompressedPackedForward', requireAckResponse: true })
    const payment = { 'service.name': 'node-payments', 'host.hostname': 'pay-1' }
    await Promise.all([
      compressed.emit('payments', { message: 'refund issued', 'log.level': 'warn', ...payment, amount: 12.5, customer: { tier: 'gold', ids: [1, 2] } }, new EventTime(BASE + 2, 999_999_999)),
      compressed.emit('payments', { message: 'payout scheduled', 'log.level': 'debug', ...payment, batch: 'b-4' }, new EventTime(BASE + 3, 0)),
    ])
    compressed.sender.end()

    // Message mode, [tag, time, record, {chunk}] one at a time.
    const message = nodeSender('app', { host: '127.0.0.1', port, eventMode: 'Message', requireAckResponse: true })
    await message.emit('worker', { msg: 'job j-9 finished', level: 'info', container: { name: 'worker' }, host: 'w-1' }, new EventTime(BASE + 4, 42))
    await message.emit('sidecar', { log: 'proxy ready', kubernetes: { container: { name: 'sidecar' }, host: 'node-3' } }, BASE + 5)
    message.sender.end()
    for (const s of [packed, compressed, message]) expect(s.errors).toEqual([])

    const api = await stored(q, tenant, 'api', 3)
    expect([...api.values()].map((l) => [l.message, l.severity_text, l.timestamp, l.attributes.stream]).sort()).toEqual([
      ['order o-1 accepted', 'INFO', isoSecNs(BASE, 1), 'stdout'],
      ['order o-2 accepted', 'INFO', isoSecNs(BASE, 2), 'stdout'],
      ['order o-3 rejected', 'ERROR', isoSecNs(BASE + 1), 'stderr'],
    ])
    for (const l of api.values()) {
      expect(l).toMatchObject({ tenant, host: null, source: 'forward' })
      expect(l.attributes).toEqual({ stream: l.attributes.stream, 'kubernetes.container_name': 'api', 'kubernetes.pod_name': 'api-7d9f', 'kubernetes.namespace_name': 'shop', 'kubernetes.labels.app': 'api', 'kubernetes.labels.tier': 'web' })
      expect(l.resource).toEqual({ 'fluent.tag': 'k8s.shop.api' })
    }

    const payments = await stored(q, tenant, 'node-payments', 2)
    expect(payments.get('refund issued')).toMatchObject({ tenant, host: 'pay-1', severity_text: 'WARN', timestamp: isoSecNs(BASE + 2, 999_999_999), attributes: { amount: '12.5', 'customer.tier': 'gold', 'customer.ids': '[1,2]' } })
    expect(payments.get('payout scheduled')).toMatchObject({ tenant, host: 'pay-1', severity_text: 'DEBUG', timestamp: isoSecNs(BASE + 3), attributes: { batch: 'b-4' } })
    for (const l of payments.values()) {
      expect(Object.keys(l.attributes).sort()).toEqual(l.message === 'refund issued' ? ['amount', 'customer.ids', 'customer.tier'] : ['batch'])
      expect(l.resource).toEqual({ 'fluent.tag': 'app.payments' })
    }

    const [worker] = (await stored(q, tenant, 'worker', 1)).values()
    expect(worker).toMatchObject({ tenant, message: 'job j-9 finished', host: 'w-1', severity_text: 'INFO', timestamp: isoSecNs(BASE + 4, 42), resource: { 'fluent.tag': 'app.worker' } })
    expect(worker!.attributes).toEqual({ 'container.name': 'worker' })
    const [sidecar] = (await stored(q, tenant, 'sidecar', 1)).values()
    // kubernetes.host is the node's name, not a host field: an attribute.
    expect(sidecar).toMatchObject({ tenant, message: 'proxy ready', host: null, timestamp: isoSecNs(BASE + 5), resource: { 'fluent.tag': 'app.sidecar' } })
    expect(sidecar!.attributes).toEqual({ 'kubernetes.container.name': 'sidecar', 'kubernetes.host': 'node-3' })
  })

  it("with FORWARD_SHARED_KEY, stores what fluent-logger-node sends after the handshake with the right key, and nothing of a wrong key's or a client that skips it", async () => {
    const port = await freePort()
    const tenant = 'fwd-secure'
    const sharedKey = 'forward-shared-key-5d1e'
    const rt = await startSluice([...TARGETS], isolation({ FORWARD_PORT: String(port), FORWARD_TENANT: tenant, FORWARD_SHARED_KEY: sharedKey }))
    const q = rt.addresses['query-api']!
    const { EventTime } = fluentLogger
    const record = (msg: string) => ({ msg, service: 'node-secure', hostname: 'sec-1' })

    // A wrong key: the server's PONG says the authentication failed; the record is never written.
    const wrong = nodeSender('secure', { host: '127.0.0.1', port, eventMode: 'PackedForward', requireAckResponse: true, security: { clientHostname: 'node-e2e-client', sharedKey: 'not-the-key' } })
    const wrongEmit = wrong.emit('audit', record('from a wrong key'), new EventTime(BASE, 1))
    await waitFor('the handshake error', async () => (wrong.errors.length > 0 ? true : undefined), 15_000)
    expect(wrong.errors.map((e) => [e.name, e.message])).toEqual([['HandshakeError', expect.stringMatching(/^Authentication failed: /)]])
    void wrongEmit.catch(() => undefined)
    wrong.sender.end()

    // No key at all: the client writes its record without answering the server's HELO, reads the
    // HELO where it waits for an ack, and fails; the server stores nothing of that connection.
    const keyless = nodeSender('secure', { host: '127.0.0.1', port, eventMode: 'Message', requireAckResponse: true, ackResponseTimeout: 10_000 })
    await expect(keyless.emit('audit', record('from no key'), new EventTime(BASE, 2))).rejects.toThrow()
    keyless.sender.end()

    // The right key: HELO, PING, PONG, then the records, acked once stored.
    const right = nodeSender('secure', { host: '127.0.0.1', port, eventMode: 'PackedForward', requireAckResponse: true, security: { clientHostname: 'node-e2e-client', sharedKey } })
    await Promise.all([right.emit('audit', record('key accepted'), new EventTime(BASE, 3)), right.emit('audit', record('second record after the handshake'), new EventTime(BASE, 4))])
    right.sender.end()
    expect(right.errors).toEqual([])
    expect(right.said).toContain('Established')

    // Only the right key's records, stored after the refused ones were sent.
    const secure = await stored(q, tenant, 'node-secure', 2)
    expect(secure.get('key accepted')).toMatchObject({ tenant, host: 'sec-1', timestamp: isoSecNs(BASE, 3), source: 'forward' })
    expect(secure.get('second record after the handshake')).toMatchObject({ tenant, host: 'sec-1', timestamp: isoSecNs(BASE, 4), source: 'forward' })
    for (const l of secure.values()) {
      expect(l.attributes).toEqual({})
      expect(l.resource).toEqual({ 'fluent.tag': 'secure.audit' })
    }
  })
})
