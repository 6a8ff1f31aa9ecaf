// Real syslog senders → the gateway's syslog listeners → Kafka → enricher → ClickHouse → query API.
// util-linux `logger` sends RFC 5424 (with structured data) and RFC 3164 over TCP, octet-counted
// and LF-framed, and over UDP. syslog-ng relays what it reads from files, the way a host's daemon
// forwards to a central server, over TCP octet-counted, TCP LF-framed and UDP, in the foreground
// with its own config, pid and work files in a temp dir (Debian's syslog-ng-core; .ci/run installs
// it, as the Elasticsearch test uses it too — Debian's rsyslog conflicts with it). Asserted: every
// record as stored (service, level, host, message, attributes, time).
import { execFile, spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import dgram from 'node:dgram'
import { once } from 'node:events'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it, onTestFinished } from 'vitest'
import type { StoredLog } from '../infra/logs.js'
import { isolation, startSluice, waitFor } from '../infra/sluice.js'

/** The default tenant's stored logs of `service`, oldest first, once there are `n` of them. */
function stored(q: string, service: string, n: number, sender: () => string = () => ''): Promise<StoredLog[]> {
  return waitFor(`${n} ${service} logs`, async () => {
    const res = await fetch(`${q}/v1/logs?tenant=default&service=${encodeURIComponent(service)}&limit=100`)
    const { logs } = (await res.json()) as { logs: StoredLog[] }
    return logs.length >= n ? logs.reverse() : undefined
  }, 30_000).catch((err: unknown) => {
    throw new Error(`${String(err)}${sender()}`)
  })
}

/** A port free for both TCP and UDP on 127.0.0.1 (the gateway's syslog ports are 0 in tests). */
async function freePort(): Promise<number> {
  for (;;) {
    const server = net.createServer().listen(0, '127.0.0.1')
    await once(server, 'listening')
    const port = (server.address() as net.AddressInfo).port
    const udp = dgram.createSocket('udp4')
    const free = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false))
      udp.bind(port, '127.0.0.1', () => resolve(true))
    })
    udp.close()
    server.close()
    await once(server, 'close')
    if (free) return port
  }
}

/** Gateway, enricher, sink and query API, the gateway's syslog listeners on one free port. */
async function pipeline() {
  const port = await freePort()
  const rt = await startSluice(['gateway', 'enricher', 'clickhouse-sink', 'query-api'], isolation({ SYSLOG_TCP_PORT: String(port), SYSLOG_UDP_PORT: String(port) }))
  return { port, q: rt.addresses['query-api']! }
}

/** Stored time (nanoseconds, RFC 3339) as epoch ms, for window checks. */
const epochMs = (t: string) => Date.parse(t)
/** Stored form of a time given in whole microseconds. */
const storedUs = (us: number) => `${new Date(Math.floor(us / 1000)).toISOString().slice(0, 19)}.${String(us % 1_000_000).padStart(6, '0')}000Z`

const run = promisify(execFile)
// logger stamps RFC 3164 in local time without a zone, which Sluice reads as UTC.
const logger = (args: string[]) => run('/usr/bin/logger', args, { env: { ...process.env, TZ: 'UTC' } })
const HOST = os.hostname()

describe('syslog end to end', () => {
  it('stores what util-linux logger sends: RFC 5424 and 3164, TCP octet-counted and LF, UDP', async () => {
    const { port, q } = await pipeline()
    const to = ['-n', '127.0.0.1', '-P', String(port)]
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-logger-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    writeFileSync(path.join(dir, 'batch.txt'), 'job 1 queued\njob 2 started\njob 3 done\n')

    const before = Date.now() - 1000
    // TCP, octet-counted, RFC 5424 with PROCID, MSGID and structured data with escapes.
    await logger(['--tcp', '--octet-count', '--rfc5424', ...to, '-t', 'checkout', '-p', 'local3.warning', '--id=4242', '--msgid', 'ORD', '--sd-id', 'order@32473', '--sd-param', 'id="o-1"', '--sd-param', 'note="a \\"q\\" \\] x"', 'payment slow'])
    // Three lines of a file: three octet-counted frames on one connection, in order.
    await logger(['--tcp', '--octet-count', '--rfc5424=notq', ...to, '-t', 'batch', '-p', 'local1.info', '-f', path.join(dir, 'batch.txt')])
    // TCP, LF-framed, RFC 5424 and RFC 3164.
    await logger(['--tcp', '--rfc5424=notq', ...to, '-t', 'cart', '-p', 'user.err', 'cart lost'])
    await logger(['--tcp', '--rfc3164', ...to, '-t', 'legacy', '-p', 'daemon.notice', '--id=77', 'legacy notice'])
    // UDP, one message per datagram.
    await logger(['--udp', '--rfc5424=notq', ...to, '-t', 'radio', '-p', 'local0.crit', '--sd-id', 'radio@32473', '--sd-param', 'band="5GHz"', 'link down'])
    await logger(['--udp', '--rfc3164', ...to, '-t', 'mailer', '-p', 'mail.debug', 'queue run'])
    const after = Date.now() + 1000

    const [checkout] = await stored(q, 'checkout', 1)
    expect(checkout).toMatchObject({ tenant: 'default', service: 'checkout', host: HOST, severity_text: 'WARN', severity_number: 13, message: 'payment slow', source: 'syslog' })
    expect(checkout!.attributes).toEqual({
      'syslog.facility': 'local3',
      'syslog.procid': '4242',
      'syslog.msgid': 'ORD',
      'timeQuality.tzKnown': '1',
      'timeQuality.isSynced': expect.stringMatching(/^[01]$/),
      'order@32473.id': 'o-1',
      'order@32473.note': 'a "q" ] x',
    })
    // logger stamps RFC 5424 to the microsecond, kept exactly.
    expect(checkout!.timestamp).toMatch(/\.\d{6}000Z$/)
    expect(epochMs(checkout!.timestamp)).toBeGreaterThanOrEqual(before)
    expect(epochMs(checkout!.timestamp)).toBeLessThanOrEqual(after)

    const batch = await stored(q, 'batch', 3)
    expect(batch.map((r) => [r.message, r.severity_text, r.host, r.attributes['syslog.facility']])).toEqual([
      ['job 1 queued', 'INFO', HOST, 'local1'],
      ['job 2 started', 'INFO', HOST, 'local1'],
      ['job 3 done', 'INFO', HOST, 'local1'],
    ])

    const [cart] = await stored(q, 'cart', 1)
    expect(cart).toMatchObject({ host: HOST, severity_text: 'ERROR', severity_number: 17, message: 'cart lost', attributes: { 'syslog.facility': 'user' } })

    const [legacy] = await stored(q, 'legacy', 1)
    // RFC 3164: notice is INFO (OTel 10), the PID in the tag, the time to the second.
    expect(legacy).toMatchObject({ host: HOST, severity_text: 'INFO', severity_number: 10, message: 'legacy notice', attributes: { 'syslog.facility': 'daemon', 'syslog.procid': '77' } })
    expect(legacy!.timestamp).toMatch(/:\d\d\.000000000Z$/)
    expect(epochMs(legacy!.timestamp)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000)
    expect(epochMs(legacy!.timestamp)).toBeLessThanOrEqual(after)

    const [radio] = await stored(q, 'radio', 1)
    expect(radio).toMatchObject({ host: HOST, severity_text: 'FATAL', severity_number: 21, message: 'link down', source: 'syslog' })
    expect(radio!.attributes).toEqual({ 'syslog.facility': 'local0', 'radio@32473.band': '5GHz' })

    const [mailer] = await stored(q, 'mailer', 1)
    expect(mailer).toMatchObject({ host: HOST, severity_text: 'DEBUG', severity_number: 5, message: 'queue run', attributes: { 'syslog.facility': 'mail' } })
  })

  it('stores what syslog-ng forwards from files over TCP octet-counted, TCP LF-framed and UDP', async () => {
    const relay = pickRelay()
    const { port, q } = await pipeline()
    const dir = mkdtempSync(path.join(os.tmpdir(), `sluice-${relay.name}-`))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const before = Date.now() - 1000
    const child = relay.start(dir, port)
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGTERM')
    })
    let output = ''
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()))
    const said = () => `; ${relay.name} said: ${output.slice(-2000)}`

    await relay.check(q, { before, said })
  })
})

// ---------------------------------------------------------------------------------------------
// Relays

interface Relay {
  name: 'syslog-ng'
  /** Writes the input files and the config into `dir` and starts the daemon in the foreground. */
  start(dir: string, port: number): ChildProcess
  /** Asserts what the relay forwarded, as stored. */
  check(q: string, opts: { before: number; said: () => string }): Promise<void>
}

const SYSLOG_NG = '/usr/sbin/syslog-ng'

let picked: Relay | undefined
/** syslog-ng, which must be installed (apt-get install syslog-ng-core). */
function pickRelay(): Relay {
  if (picked !== undefined) return picked
  const version = existsSync(SYSLOG_NG) ? /Config version: (\S+)/.exec(spawnSync(SYSLOG_NG, ['--version'], { encoding: 'utf8' }).stdout)?.[1] : undefined
  if (version === undefined) throw new Error(`${SYSLOG_NG} is missing: apt-get install syslog-ng-core (.ci/run does)`)
  picked = syslogNg(version)
  return picked
}

/**
 * syslog-ng: each file holds RFC 5424 lines (read with flags(syslog-protocol), so their time,
 * host, app, PROCID and structured data pass through), forwarded by syslog() over TCP (RFC 5424,
 * octet-counted) and UDP, and by network() over TCP (RFC 3164, LF-framed). syslog() adds its own
 * [meta sequenceId="n"] element.
 */
function syslogNg(version: string): Relay {
  // Recent whole seconds (older times would fall outside the table's TTL); µs where 5424 keeps them.
  const baseUs = (Math.floor(Date.now() / 1000) - 3600) * 1_000_000
  const iso = (us: number) => `${new Date(Math.floor(us / 1000)).toISOString().slice(0, 19)}.${String(us % 1_000_000).padStart(6, '0')}+00:00`
  return {
    name: 'syslog-ng',
    start(dir, port) {
      writeFileSync(
        path.join(dir, 'counted.log'),
        [
          `<156>1 ${iso(baseUs + 123_456)} web-1 checkout 4242 ORD [order@32473 id="o-1" note="a \\"q\\" \\] x"] payment slow`,
          `<11>1 ${iso(baseUs + 1_000_000)} web-1 checkout - - - payment failed`,
          '',
        ].join('\n'),
      )
      writeFileSync(path.join(dir, 'lf.log'), `<29>1 ${iso(baseUs + 2_000_000)} web-2 legacy 77 - - legacy notice\n`)
      writeFileSync(path.join(dir, 'udp.log'), `<130>1 ${iso(baseUs + 3_500_000)} web-3 radio - - [radio@32473 band="5GHz"] link down\n`)
      const to = (name: string) => `"127.0.0.1" port(${port}) persist-name("${name}")`
      writeFileSync(
        path.join(dir, 'syslog-ng.conf'),
        `@version: ${version}
options { keep-hostname(yes); keep-timestamp(yes); use-dns(no); frac-digits(6); send-time-zone("+00:00"); stats-freq(0); };
source s_counted { file("${dir}/counted.log" follow-freq(0.2) flags(syslog-protocol)); };
source s_lf { file("${dir}/lf.log" follow-freq(0.2) flags(syslog-protocol)); };
source s_udp { file("${dir}/udp.log" follow-freq(0.2) flags(syslog-protocol)); };
destination d_counted { syslog(${to('counted')} transport("tcp")); };
destination d_lf { network(${to('lf')} transport("tcp")); };
destination d_udp { syslog(${to('udp')} transport("udp")); };
log { source(s_counted); destination(d_counted); };
log { source(s_lf); destination(d_lf); };
log { source(s_udp); destination(d_udp); };
`,
      )
      const args = ['-F', '-f', path.join(dir, 'syslog-ng.conf'), `--persist-file=${path.join(dir, 'persist')}`, `--pidfile=${path.join(dir, 'pid')}`, `--control=${path.join(dir, 'ctl')}`]
      return spawn(SYSLOG_NG, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TZ: 'UTC' } })
    },
    async check(q, { said }) {
      const checkout = await stored(q, 'checkout', 2, said)
      expect(checkout).toEqual([
        expect.objectContaining({ tenant: 'default', service: 'checkout', host: 'web-1', severity_text: 'WARN', severity_number: 13, message: 'payment slow', timestamp: storedUs(baseUs + 123_456), source: 'syslog' }),
        expect.objectContaining({ service: 'checkout', host: 'web-1', severity_text: 'ERROR', severity_number: 17, message: 'payment failed', timestamp: storedUs(baseUs + 1_000_000) }),
      ])
      expect(checkout[0]!.attributes).toEqual({
        'syslog.facility': 'local3',
        'syslog.procid': '4242',
        'syslog.msgid': 'ORD',
        'order@32473.id': 'o-1',
        'order@32473.note': 'a "q" ] x',
        'meta.sequenceId': '1',
      })
      expect(checkout[1]!.attributes).toEqual({ 'syslog.facility': 'user', 'meta.sequenceId': '2' })
      // RFC 3164 over LF-framed TCP: the PID in the tag, no structured data, the time to the second
      // (syslog-ng adds the fraction; Sluice reads it).
      const [legacy] = await stored(q, 'legacy', 1, said)
      expect(legacy).toMatchObject({ host: 'web-2', severity_text: 'INFO', severity_number: 10, message: 'legacy notice', timestamp: storedUs(baseUs + 2_000_000) })
      expect(legacy!.attributes).toEqual({ 'syslog.facility': 'daemon', 'syslog.procid': '77' })
      const [radio] = await stored(q, 'radio', 1, said)
      expect(radio).toMatchObject({ host: 'web-3', severity_text: 'FATAL', severity_number: 21, message: 'link down', timestamp: storedUs(baseUs + 3_500_000) })
      expect(radio!.attributes).toEqual({ 'syslog.facility': 'local0', 'radio@32473.band': '5GHz', 'meta.sequenceId': '1' })
    },
  }
}
