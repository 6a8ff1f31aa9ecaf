// The syslog listeners without a broker: RFC 6587 framing fed byte streams cut at every place,
// messages mapped to records and validated as the accept path would, and the listeners on real
// sockets with a fake accept path that can hold a batch, refuse it for now or fail it — to see
// the order of acknowledgements, the pause while a batch is out, the retries and the drops.
import dgram from 'node:dgram'
import { once } from 'node:events'
import net from 'node:net'
import fc from 'fast-check'
import { pino } from 'pino'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createProcessSecurity, hashKey } from '@sluice/auth'
import { SluiceError, validateLogInput } from '@sluice/core'
import type { LogEvent } from '@sluice/core'
import type { Message, MessageProducer } from '@sluice/kafka'
import { createRegistry } from '@sluice/observability'
import { loadConfig } from './config.js'
import { Validated, createIngest } from './ingest.js'
import type { Ingest, IngestDefaults } from './ingest.js'
import { tenantRule } from './protocol.js'
import { MAX_QUEUED_BYTES, startSyslog } from './syslog.js'
import { SyslogFramer } from './syslog-framing.js'
import type { FrameRefusal } from './syslog-framing.js'
import { MAX_SD_PARAMS, frameText, syslogEvent, syslogRecord } from './syslog-record.js'
import { StreamReport } from './stream-report.js'
import { jsonCodec, kept } from './test-fakes.js'
import { SourceAllowList, sourceProblem } from './syslog-sources.js'

// ---------------------------------------------------------------------------------------------
// Framing

function framer(maxFrameBytes = 200) {
  const frames: string[] = []
  const refused: FrameRefusal[] = []
  const f = new SyslogFramer(maxFrameBytes, { frame: (b) => void frames.push(b.toString('latin1')), refused: (r) => void refused.push(r) })
  return { f, frames, refused }
}

/** `stream` fed in chunks cut at `cuts` (offsets), then ended. */
function feed(stream: Buffer | string, cuts: number[], maxFrameBytes?: number) {
  const buf = Buffer.isBuffer(stream) ? stream : Buffer.from(stream, 'latin1')
  const t = framer(maxFrameBytes)
  let from = 0
  for (const at of [...cuts, buf.length]) {
    t.f.push(buf.subarray(from, at))
    from = at
  }
  t.f.end()
  return t
}

/** `stream` fed every way it can be cut in two, and one byte at a time: each must read alike. */
function everyCut(stream: string, maxFrameBytes?: number) {
  const results = [feed(stream, Array.from({ length: stream.length }, (_, i) => i + 1), maxFrameBytes)]
  for (let i = 0; i <= stream.length; i++) results.push(feed(stream, [i], maxFrameBytes))
  return results
}

const counted = (m: string) => `${Buffer.byteLength(m, 'latin1')} ${m}`

describe('syslog TCP framing (RFC 6587)', () => {
  it('reads octet-counted frames wherever the stream is cut', () => {
    const a = '<165>1 2003-10-11T22:14:15.003Z host app - ID47 - first'
    const b = '<13>1 - host app - - - second\nwith a newline inside'
    for (const r of everyCut(counted(a) + counted(b))) {
      expect(r.frames).toEqual([a, b])
      expect(r.refused).toEqual([])
    }
  })

  it('reads LF-, CRLF- and NUL-terminated frames and skips blank lines between them', () => {
    for (const r of everyCut('<13>one\n<13>two\r\n\n\r\n<13>three\0<13>four\n')) {
      expect(r.frames).toEqual(['<13>one', '<13>two', '<13>three', '<13>four'])
      expect(r.refused).toEqual([])
    }
  })

  it('tells the framing apart per frame on one connection (and the LF rsyslog counts in)', () => {
    const stream = counted('<13>1 - h a - - - counted\n') + '<13>Nov 30 19:27:12 h a: lf line\n' + counted('<14>1 - h a - - - again') + '\n<15>last line without trailer'
    for (const r of everyCut(stream)) {
      expect(r.frames).toEqual(['<13>1 - h a - - - counted\n', '<13>Nov 30 19:27:12 h a: lf line', '<14>1 - h a - - - again', '<15>last line without trailer'])
    }
  })

  it('reads a line that starts with digits as a line, not as an octet count', () => {
    for (const r of everyCut('200 OK served /index.html\n42\n<13>after\n')) expect(r.frames).toEqual(['200 OK served /index.html', '42', '<13>after'])
  })

  it('skips an oversized octet-counted frame by its count and reads on', () => {
    const big = `<13>1 - h a - - - ${'x'.repeat(500)}`
    const stream = counted('<13>before') + counted(big) + counted('<13>after') + '<13>line\n'
    for (const r of everyCut(stream, 100)) {
      expect(r.frames).toEqual(['<13>before', '<13>after', '<13>line'])
      expect(r.refused).toEqual(['oversized'])
    }
  })

  it('skips an oversized line up to its trailer without holding it, and reads on', () => {
    const stream = `<13>before\n<13>${'y'.repeat(500)}\n<13>after\n`
    for (const r of everyCut(stream, 100)) {
      expect(r.frames).toEqual(['<13>before', '<13>after'])
      expect(r.refused).toEqual(['oversized'])
    }
  })

  it('skips binary garbage between frames up to the next LF', () => {
    // A TLS ClientHello on the plain port, then frames again.
    const hello = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x0a])
    const stream = Buffer.concat([Buffer.from('<13>before\n'), hello, Buffer.from(`${counted('<13>counted')}<13>after\n`)])
    for (const cuts of [[], [11], [13], [11 + hello.length - 1], Array.from({ length: stream.length }, (_, i) => i + 1)]) {
      const r = feed(stream, cuts)
      expect(r.frames).toEqual(['<13>before', '<13>counted', '<13>after'])
      expect(r.refused).toEqual(['garbage'])
    }
  })

  it('keeps text between frames as a frame of its own (stored unparsed, not lost)', () => {
    expect(feed(`${counted('<13>a')}stray words\n${counted('<13>b')}`, []).frames).toEqual(['<13>a', 'stray words', '<13>b'])
  })

  it('reports an octet-counted frame the connection closed in the middle of', () => {
    const r = feed(`${counted('<13>whole')}${counted('<13>cut short').slice(0, 9)}`, [])
    expect(r.frames).toEqual(['<13>whole'])
    expect(r.refused).toEqual(['truncated'])
    expect(feed(`${counted(`<13>${'z'.repeat(300)}`).slice(0, 150)}`, [], 100).refused).toEqual(['oversized', 'truncated'])
  })

  it('passes the text on without the trailer a sender counted in, UTF-8 decoded', () => {
    expect(frameText(Buffer.from('<13>1 - - - - - - grüße\r\n\0'))).toBe('<13>1 - - - - - - grüße')
    expect(frameText(Buffer.from([0x3c, 0x31, 0x33, 0x3e, 0xff, 0x41]))).toBe('<13>\uFFFDA')
  })

  it('decodes a frame in place as TextDecoder decodes it alone, invalid UTF-8 and trailers included', () => {
    const decoder = new TextDecoder()
    // Bytes around the frame (a batch's other frames) must not leak into it; trailers only at its end.
    const alphabet = [0x00, 0x0a, 0x0d, 0x41, 0x7f, 0x80, 0xbf, 0xc2, 0xe2, 0xed, 0xf0, 0xf4, 0xff]
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constantFrom(...alphabet), fc.integer({ min: 0, max: 255 })), { maxLength: 64 }), fc.nat(), fc.nat(), (values, a, b) => {
        const bytes = Buffer.from(values)
        const start = bytes.length === 0 ? 0 : a % (bytes.length + 1)
        const end = start + (bytes.length === 0 ? 0 : b % (bytes.length - start + 1))
        let trimmed = end
        while (trimmed > start && [0x0a, 0x0d, 0x00].includes(bytes[trimmed - 1]!)) trimmed--
        expect(frameText(bytes, start, end)).toBe(decoder.decode(bytes.subarray(start, trimmed)))
      }),
      { seed: 34, numRuns: 5000 },
    )
  })
})

// ---------------------------------------------------------------------------------------------
// Messages → records

const REF = Date.UTC(2026, 10, 30, 12, 0, 0) // 2026-11-30T12:00:00Z
const OBSERVED = 1_700_000_000_000_000_000n

const DEFAULTS = { tenant: 't', source: 'syslog', observedNs: OBSERVED } as const
const ID = '0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1b'

/** The LogEvent the accept path makes of `line`'s record (it must be valid), by the validator and by syslogEvent alike. */
function event(line: string | Buffer, referenceMs = REF): LogEvent & { parsed: boolean } {
  const r = syslogRecord(typeof line === 'string' ? line : frameText(line), referenceMs)
  const v = validateLogInput({ ...r.record, id: ID }, 0, DEFAULTS)
  if (!v.ok) throw new Error(JSON.stringify(v.errors))
  const made = syslogEvent(r.record, ID, DEFAULTS)
  if (made) expect(made.event).toEqual(v.event)
  return { ...v.event, parsed: r.parsed }
}

describe('syslog messages as records', () => {
  it('maps RFC 5424: PRI, exact timestamp, host, app, procid, msgid, SD with escapes, BOM', () => {
    const line = Buffer.concat([
      Buffer.from('<156>1 2026-11-30T19:45:15.123456789+01:00 web-1 checkout 4242 ORD [timeQuality tzKnown="1" isSynced="0"][order@32473 id="o-1" note="a \\"q\\" \\] x" path="C:\\\\x" raw="\\n"] '),
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from('payment slow\n'),
    ])
    expect(event(line)).toMatchObject({
      parsed: true,
      service: 'checkout',
      host: 'web-1',
      severity_text: 'WARN',
      severity_number: 13,
      timestamp: BigInt(Date.UTC(2026, 10, 30, 18, 45, 15)) * 1_000_000n + 123_456_789n,
      observed_timestamp: OBSERVED,
      message: 'payment slow',
      source: 'syslog',
      attributes: {
        'syslog.facility': 'local3',
        'syslog.procid': '4242',
        'syslog.msgid': 'ORD',
        'timeQuality.tzKnown': '1',
        'timeQuality.isSynced': '0',
        'order@32473.id': 'o-1',
        'order@32473.note': 'a "q" ] x',
        'order@32473.path': 'C:\\x',
        // Only `"`, `\` and `]` are escapes; another backslash stays.
        'order@32473.raw': '\\n',
      },
    })
  })

  it('maps every syslog severity through severityFromSyslog', () => {
    const levels = [0, 1, 2, 3, 4, 5, 6, 7].map((sev) => event(`<${8 + sev}>1 - h app - - - x`)).map((e) => [e.severity_text, e.severity_number])
    expect(levels).toEqual([['FATAL', 23], ['FATAL', 22], ['FATAL', 21], ['ERROR', 17], ['WARN', 13], ['INFO', 10], ['INFO', 9], ['DEBUG', 5]])
  })

  it('takes the observed time, service "syslog" and no host for 5424 NILVALUEs', () => {
    expect(event('<13>1 - - - - - -')).toMatchObject({ parsed: true, service: 'syslog', host: null, timestamp: OBSERVED, message: '', attributes: { 'syslog.facility': 'user' } })
  })

  it('keeps an unreadable 5424 timestamp as an attribute and takes the observed time', () => {
    expect(event('<13>1 yesterday h app - - - x')).toMatchObject({ timestamp: OBSERVED, attributes: { 'syslog.timestamp': 'yesterday' } })
  })

  it('takes times up to 2096-01-01T00:00:00Z, the latest storage keeps, and treats later ones as unreadable', () => {
    const latest = 3_976_214_400_000_000_000n
    expect(event('<13>1 2096-01-01T00:00:00Z h app - - - x')).toMatchObject({ timestamp: latest, attributes: {} })
    expect(event('<13>1 2096-01-01T00:00:00Z h app - - - x').attributes['syslog.timestamp']).toBeUndefined()
    expect(event('<30>2096-01-01T00:00:00Z node-3 kubelet[901]: x')).toMatchObject({ timestamp: latest })
    for (const late of ['2096-01-01T00:00:00.000000001Z', '2200-01-01T00:00:00Z', '2262-04-11T23:47:16.854775807Z']) {
      expect(event(`<13>1 ${late} h app - - - x`), late).toMatchObject({ timestamp: OBSERVED, attributes: { 'syslog.timestamp': late } })
      expect(event(`<30>${late} node-3 kubelet[901]: x`), late).toMatchObject({ timestamp: OBSERVED, attributes: { 'syslog.timestamp': late } })
    }
  })

  it('maps RFC 3164: host, tag, pid, UTC time in the inferred year', () => {
    expect(event("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick")).toMatchObject({
      parsed: true,
      service: 'su',
      host: 'mymachine',
      severity_text: 'FATAL',
      severity_number: 21,
      timestamp: BigInt(Date.UTC(2026, 9, 11, 22, 14, 15)) * 1_000_000n,
      message: "'su root' failed for lonvick",
      attributes: { 'syslog.facility': 'auth' },
    })
    expect(event('<29>Nov 30 12:10:00.25 vm legacy[77]: ok')).toMatchObject({ service: 'legacy', host: 'vm', severity_number: 10, timestamp: BigInt(Date.UTC(2026, 10, 30, 12, 10, 0)) * 1_000_000n + 250_000_000n, attributes: { 'syslog.procid': '77', 'syslog.facility': 'daemon' } })
  })

  it('reads 3164 without a host, without PRI, with an ISO timestamp, and across the new year', () => {
    expect(event('<13>Nov  3 01:02:03 cron[77]: job done')).toMatchObject({ host: null, service: 'cron', message: 'job done', attributes: { 'syslog.procid': '77' } })
    // No PRI (a /var/log line): INFO, no facility.
    const plain = event('Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user', Date.UTC(2027, 0, 1, 0, 30))
    expect(plain).toMatchObject({ host: 'LabSZ', service: 'sshd', severity_text: 'INFO', severity_number: 9, timestamp: BigInt(Date.UTC(2026, 11, 10, 6, 55, 46)) * 1_000_000n })
    expect(plain.attributes['syslog.facility']).toBeUndefined()
    // Up to a day ahead of the gateway's clock is this year (a sender's clock running fast).
    expect(event('<13>Jan  1 00:45:00 h a: x', Date.UTC(2027, 0, 1, 0, 30)).timestamp).toBe(BigInt(Date.UTC(2027, 0, 1, 0, 45)) * 1_000_000n)
    expect(event('<30>2026-11-23T11:59:59.5Z node-3 kubelet[901]: Pod evicted')).toMatchObject({ host: 'node-3', service: 'kubelet', timestamp: BigInt(Date.UTC(2026, 10, 23, 11, 59, 59, 500)) * 1_000_000n })
  })

  it('stores what it cannot parse whole, with service "syslog" and the level of a valid PRI', () => {
    for (const line of ['hello world', '<999>Oct 11 22:14:15 host app: x', '<b>bold</b> text', '<1x>1 - h a - - - x']) {
      const e = event(line)
      expect(e).toMatchObject({ parsed: false, service: 'syslog', host: null, severity_text: 'INFO', message: line, timestamp: OBSERVED, attributes: { 'syslog.format': 'unparsed' } })
    }
    expect(event('<11>not a syslog header')).toMatchObject({ parsed: false, service: 'syslog', severity_text: 'ERROR', message: 'not a syslog header', attributes: { 'syslog.format': 'unparsed', 'syslog.facility': 'user' } })
  })

  it('makes the LogEvent the validator makes of a record, and leaves it the records it cannot vouch for', () => {
    const part = <T>(common: T[], odd: T[]) => fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...common) }, { weight: 1, arbitrary: fc.constantFrom(...odd) })
    const pri = part(['<13>', '<134>', '<165>', '<0>'], ['', '<999>', '<1a>'])
    const time = part(['2026-11-30T19:29:35.003Z', '2026-11-30T19:29:35.123456789+01:00', '-'], ['9999-12-31T23:59:59Z', '2096-01-01T00:00:00Z', '2096-01-01T00:00:00.000000001Z', '2200-01-01T00:00:00Z', '1969-12-31T23:59:59Z', 'yesterday'])
    const name = part(['web-1', 'app', '-'], [' ', 'x'.repeat(255), 'x'.repeat(300), '\u00e9t\u00e9'])
    const sd = part(['-', '[origin ip="10.0.0.1"]', '[meta seq="7" seq="8"][origin x=""]'], [`[${'s'.repeat(32)} ${'p'.repeat(32)}="v"]`, `[${'s'.repeat(200)} ${'p'.repeat(100)}="long name"]`, `[many ${Array.from({ length: 260 }, (_, i) => `p${i}="${i}"`).join(' ')}]`])
    const rfc5424 = fc.tuple(pri, time, name, name, sd, fc.string({ maxLength: 12 })).map(([p, t, h, a, d, m]) => `${p}1 ${t} ${h} ${a} 42 ID7 ${d} ${m}`)
    const rfc3164 = fc.tuple(pri, name, fc.string({ maxLength: 12 })).map(([p, a, m]) => `${p}Nov 30 19:27:12 vm ${a}[99]: ${m}`)
    const line = fc.oneof({ weight: 4, arbitrary: rfc5424 }, rfc3164, fc.string({ maxLength: 40 }))
    const seen = { made: 0, left: 0 }
    fc.assert(
      fc.property(line, (text) => {
        const r = syslogRecord(text, REF)
        const validated = validateLogInput({ ...r.record, id: ID }, 0, DEFAULTS)
        const made = syslogEvent(r.record, ID, DEFAULTS)
        if (made === undefined) {
          seen.left++
          return
        }
        seen.made++
        expect(validated).toEqual({ ok: true, event: made.event })
      }),
      { seed: 38, numRuns: 3000 },
    )
    // The parser bounds every part the validator does (SD names, times): it vouches for all.
    expect(seen).toEqual({ made: 3000, left: 0 })
    // A record past those bounds (not one the parser makes) is left to the validator, which says why.
    const record = (more: Record<string, unknown>) => ({ message: 'm', service: 'app', attributes: {}, ...more })
    for (const odd of [record({ timestamp: 10n ** 19n }), record({ timestamp: 3_976_214_400_000_000_001n }), record({ attributes: { ['k'.repeat(257)]: 'v' } }), record({ attributes: { '': 'v' } }), record({ service: '  ' })]) {
      expect(syslogEvent(odd, ID, DEFAULTS)).toBeUndefined()
      expect(validateLogInput({ ...odd, id: ID }, 0, DEFAULTS).ok).toBe(false)
    }
  })

  it('keeps a record valid when a sender overdoes structured data or names', () => {
    const sd = Array.from({ length: 300 }, (_, i) => `p${i}="${i}"`).join(' ')
    const e = event(`<13>1 - ${'h'.repeat(300)} app - - [many ${sd}] x`)
    expect(Object.keys(e.attributes).filter((k) => k.startsWith('many.'))).toHaveLength(MAX_SD_PARAMS)
    expect(e.attributes['syslog.sd_dropped']).toBe(String(300 - MAX_SD_PARAMS))
    expect(e.host).toHaveLength(256)
    // A parameter sent again (in the same element or a repeated SD-ID) keeps its last value and counts once.
    const again = Array.from({ length: MAX_SD_PARAMS - 1 }, (_, i) => `p${i}="${i}"`).join(' ')
    const twice = event(`<13>1 - h app - - [many ${again} p0="x"][many p1="y" last="z"] x`)
    expect(twice.attributes).toMatchObject({ 'many.p0': 'x', 'many.p1': 'y', 'many.last': 'z' })
    expect(twice.attributes['syslog.sd_dropped']).toBeUndefined()
    // The sender's names stay data: no prototype is set or polluted.
    const proto = event('<13>1 - h app - - [__proto__ polluted="yes" __proto__="x"] x')
    expect(proto.attributes).toMatchObject({ '__proto__.polluted': 'yes', '__proto__.__proto__': 'x' })
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })
})

// ---------------------------------------------------------------------------------------------
// The listeners

interface Batch {
  messages: string[]
  defaults: IngestDefaults
  ids: string[]
}

/** An accept path that records batches; `hold()` keeps the next ones waiting, `failNext` refuses them. */
function fakeIngest() {
  const batches: Batch[] = []
  const attempts: Batch[] = []
  const failNext: Error[] = []
  let gate: Promise<void> | undefined
  let open = () => {}
  let inFlight = 0
  let maxInFlight = 0
  const ingest: Ingest = {
    async records(records, defaults) {
      // Records the listener made into LogEvents itself (syslogEvent) come as Validated.
      const rs = records.map((r) => (r instanceof Validated ? r.event : (r as { message: string; id: string })))
      const batch = { messages: rs.map((r) => r.message), ids: rs.map((r) => r.id), defaults }
      attempts.push(batch)
      maxInFlight = Math.max(maxInFlight, ++inFlight)
      try {
        await gate
        const err = failNext.shift()
        if (err) throw err
        batches.push(batch)
        return { accepted: records.length, rejected: 0, errors: [], forbidden: 0 }
      } finally {
        inFlight--
      }
    },
  }
  return {
    ingest,
    batches,
    attempts,
    failNext,
    messages: () => batches.flatMap((b) => b.messages),
    maxInFlight: () => maxInFlight,
    hold() {
      gate = new Promise((resolve) => (open = resolve))
    },
    release() {
      gate = undefined
      open()
    },
  }
}

/** A port free for TCP and UDP alike on 127.0.0.1. */
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

/** Every log line the listeners write. */
function captureLog() {
  const lines: Array<Record<string, unknown>> = []
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) })
  return { log, lines }
}

async function listeners(ingest: Ingest, env: Record<string, string> = {}, opts: { auth?: boolean } = {}) {
  const port = await freePort()
  const config = loadConfig({ TOPIC_LOGS_RAW: 'raw', HOST: '127.0.0.1', SYSLOG_TCP_PORT: String(port), SYSLOG_UDP_PORT: String(port), ...env })
  const { log, lines } = captureLog()
  const registry = createRegistry({ defaultMetrics: false })
  const keys = { keys: [{ id: 'k', sha256: hashKey('k'), tenants: ['ops'], scopes: ['ingest' as const] }] }
  const security = createProcessSecurity({ authEnabled: opts.auth ?? false, keys, keysFile: undefined, keysReloadMs: 5000, tenants: undefined }, { log, retentionDays: 30 }).forService('gateway')
  const l = await startSyslog({ config, ingest, log, registry, security, tenantOf: tenantRule(config) })
  onTestFinished(() => l.close())
  return { l, port, lines, registry }
}

async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1')
  await once(socket, 'connect')
  onTestFinished(() => void socket.destroy())
  return socket
}

async function until(what: string, ok: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const frame = (i: number, pad = 0) => counted(`<13>1 - h app - - - m${i}${' '.repeat(pad)}`)

describe('frameText', () => {
  it('never makes a lone surrogate: the bytes of one (CESU-8, ed a0 80) are invalid UTF-8 and read as U+FFFD', () => {
    const text = frameText(Buffer.from([0x3c, 0x31, 0x33, 0x3e, 0xed, 0xa0, 0x80, 0x20, 0xf0, 0x9f, 0x98, 0x80]))
    expect(text.isWellFormed()).toBe(true)
    expect(text).toBe('<13>\ufffd\ufffd\ufffd 😀')
  })
})

describe('syslog listeners', () => {
  it('acknowledges a connection’s records in order, one batch at a time, as source syslog of the default tenant', async () => {
    const fake = fakeIngest()
    const { l, port } = await listeners(fake.ingest, { GATEWAY_DEFAULT_TENANT: 'ops' })
    expect(l.addresses).toEqual({ tcp: `127.0.0.1:${port}`, udp: `127.0.0.1:${port}` })
    const socket = await connect(port)
    fake.hold()
    socket.write(frame(0))
    await until('the first batch', () => fake.attempts.length === 1)
    for (let i = 1; i < 50; i++) socket.write(frame(i))
    await sleep(50)
    fake.release()
    await until('50 records', () => fake.messages().length === 50)
    expect(fake.messages()).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`))
    expect(fake.batches.length).toBeGreaterThan(1)
    expect(fake.maxInFlight()).toBe(1)
    expect(fake.batches[0]!.defaults).toMatchObject({ tenant: 'ops', source: 'syslog' })
    expect(l.counts()).toMatchObject({ received: { tcp: 50, udp: 0 }, accepted: 50 })
  })

  it('stops reading a connection once a bounded amount waits behind its batch with Kafka, so the sender is slowed by TCP', async () => {
    const fake = fakeIngest()
    const { l, port } = await listeners(fake.ingest)
    const socket = await connect(port)
    fake.hold()
    socket.write(frame(0))
    await until('the first batch', () => fake.attempts.length === 1)
    // Write until the kernel's buffers are full and the socket stops draining (or 64 MB went).
    let sent = 1
    let stalled = false
    while (!stalled && sent < 64_000) {
      if (socket.write(frame(sent++, 1000))) continue
      stalled = !(await Promise.race([once(socket, 'drain').then(() => true), sleep(300).then(() => false)]))
    }
    expect(stalled).toBe(true)
    // Read ahead: about MAX_QUEUED_BYTES of ~1 kB frames, plus the last chunk read (≤ 64 kB).
    const readAhead = l.counts().received.tcp - 1
    expect(readAhead).toBeGreaterThan(MAX_QUEUED_BYTES / 1100)
    expect(readAhead).toBeLessThan((MAX_QUEUED_BYTES + 65_536) / 1000 + 1)
    expect(fake.attempts).toHaveLength(1)
    fake.release()
    socket.end()
    await until(`${sent} records`, () => fake.messages().length === sent, 20_000)
    expect(fake.messages().map((m) => m.trimEnd())).toEqual(Array.from({ length: sent }, (_, i) => `m${i}`))
    expect(fake.maxInFlight()).toBe(1)
  })

  it('retries a batch Kafka refuses for now, with the same ids, and delivers it once', async () => {
    const fake = fakeIngest()
    const { l, port, lines } = await listeners(fake.ingest)
    fake.failNext.push(new SluiceError('OVERLOADED', 'in-flight budget full', { canRetry: true }), new SluiceError('KAFKA_UNAVAILABLE', 'no ack', { canRetry: true }))
    const socket = await connect(port)
    socket.write(frame(1) + frame(2) + frame(3))
    await until('the batch', () => fake.batches.length === 1)
    expect(fake.messages()).toEqual(['m1', 'm2', 'm3'])
    expect(fake.attempts).toHaveLength(3)
    expect(new Set(fake.attempts.map((a) => a.ids.join()))).toHaveProperty('size', 1)
    expect(new Set(fake.attempts.map((a) => a.defaults.observedNs))).toHaveProperty('size', 1)
    expect(l.counts().dropped).toMatchObject({ kafka_failed: 0, shutdown: 0 })
    // Logged once at once; the second refusal only counted until the summary.
    expect(lines.filter((x) => x.reason === 'retrying')).toHaveLength(1)
  })

  it('drops a batch that failed for good, says why, and reads on', async () => {
    const fake = fakeIngest()
    const { l, port, lines } = await listeners(fake.ingest)
    fake.failNext.push(new Error('encoder bug'))
    const socket = await connect(port)
    socket.write(frame(1))
    await until('the failed batch', () => fake.attempts.length === 1)
    await sleep(20)
    socket.write(frame(2))
    await until('the next batch', () => fake.batches.length === 1)
    expect(fake.messages()).toEqual(['m2'])
    expect(l.counts().dropped.kafka_failed).toBe(1)
    expect(lines.find((x) => x.reason === 'kafka_failed')).toMatchObject({ level: 40, count: 1, detail: expect.stringContaining('encoder bug') })
  })

  it('skips garbage and oversized frames on a connection, logs why, and stores the rest', async () => {
    const fake = fakeIngest()
    const { l, port, lines, registry } = await listeners(fake.ingest, { GATEWAY_MAX_RECORD_BYTES: '1000' })
    const socket = await connect(port)
    socket.write(frame(1))
    socket.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x00, 0x0a]))
    socket.write(counted(`<13>1 - h app - - - ${'x'.repeat(5000)}`))
    socket.write(`<13>1 - h app - - - ${'y'.repeat(5000)}\n`)
    socket.write('no syslog here\n')
    socket.write(frame(2))
    socket.end()
    await until('3 records', () => fake.messages().length === 3)
    expect(fake.messages()).toEqual(['m1', 'no syslog here', 'm2'])
    expect(l.counts()).toMatchObject({ received: { tcp: 3 }, unparsed: 1, dropped: { garbage: 1, oversized: 2 } })
    expect(lines.filter((x) => x.reason === 'oversized')).toEqual([expect.objectContaining({ count: 1, detail: expect.stringMatching(/octet-counted frame of 5020 bytes; the limit is 1000/) })])
    expect(lines.filter((x) => x.reason === 'garbage')).toEqual([expect.objectContaining({ detail: expect.stringContaining('0x16') })])
    expect(lines.filter((x) => x.reason === 'unparsed')).toEqual([expect.objectContaining({ detail: expect.stringContaining('"no syslog here"') })])
    const metrics = await registry.metrics()
    expect(metrics).toContain('sluice_gateway_syslog_messages_received_total{transport="tcp"} 3')
    expect(metrics).toContain('sluice_gateway_syslog_messages_unparsed_total 1')
    expect(metrics).toContain('sluice_gateway_syslog_messages_dropped_total{reason="oversized"} 2')
    expect(metrics).toContain('sluice_gateway_syslog_messages_dropped_total{reason="garbage"} 1')
  })

  it('reads each UDP datagram as one message', async () => {
    const fake = fakeIngest()
    const { l, port } = await listeners(fake.ingest)
    const client = dgram.createSocket('udp4')
    onTestFinished(() => void client.close())
    for (const m of ['<13>1 - h app - - - one', '<13>Nov 30 12:00:00 h app: two\nlines\n', 'three']) {
      await new Promise<void>((resolve, reject) => client.send(m, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())))
    }
    await until('3 records', () => fake.messages().length === 3)
    expect(fake.messages()).toEqual(['one', 'two\nlines', 'three'])
    expect(fake.batches[0]!.defaults.source).toBe('syslog')
    expect(l.counts()).toMatchObject({ received: { udp: 3, tcp: 0 }, unparsed: 1 })
  })

  it('skips an empty UDP datagram, or one of NULs and white space only, as TCP skips such bytes between frames', async () => {
    const fake = fakeIngest()
    const { l, port } = await listeners(fake.ingest)
    const client = dgram.createSocket('udp4')
    onTestFinished(() => void client.close())
    for (const m of [Buffer.alloc(0), Buffer.alloc(64), Buffer.from(' \r\n\t\0'), Buffer.from('<13>1 - h app - - - after')]) {
      await new Promise<void>((resolve, reject) => client.send(m, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())))
    }
    await until('the record', () => fake.messages().length === 1)
    await sleep(50)
    expect(fake.messages()).toEqual(['after'])
    expect(l.counts()).toMatchObject({ received: { udp: 1 }, unparsed: 0 })
  })

  it('on close delivers what it had read, then closes the connections', async () => {
    const fake = fakeIngest()
    const { l, port } = await listeners(fake.ingest)
    const socket = await connect(port)
    fake.hold()
    socket.write(frame(1))
    await until('the batch', () => fake.attempts.length === 1)
    const closed = l.close()
    await sleep(20)
    expect(fake.batches).toHaveLength(0)
    fake.release()
    await closed
    expect(fake.messages()).toEqual(['m1'])
    if (!socket.closed) await once(socket, 'close')
  })

  it('goes through the real accept path: records valid, keyed default-tenant/app', async () => {
    const sent: Message[] = []
    const producer: MessageProducer = { send: async (_topic, messages) => void sent.push(...kept(messages)) }
    // JSON instead of Avro (test-fakes): the test only needs the event back.
    const config = loadConfig({ TOPIC_LOGS_RAW: 'raw' })
    const { l, port } = await listeners(createIngest(config, { producer, codec: jsonCodec, registry: createRegistry({ defaultMetrics: false }) }), { GATEWAY_DEFAULT_TENANT: 'ops' })
    const socket = await connect(port)
    socket.end('<131>1 2026-11-30T19:45:15.5Z web-1 checkout - - [order id="o-1"] declined\n')
    await until('one record', () => sent.length === 1)
    expect(sent[0]!.key).toBe('ops/checkout')
    expect(JSON.parse(String(sent[0]!.value))).toMatchObject({ tenant: 'ops', service: 'checkout', host: 'web-1', severity_text: 'ERROR', message: 'declined', source: 'syslog', timestamp: String(BigInt(Date.UTC(2026, 10, 30, 19, 45, 15, 500)) * 1_000_000n), attributes: { 'syslog.facility': 'local0', 'order.id': 'o-1' } })
    expect(l.counts().accepted).toBe(1)
  })

  it('fails to start when its UDP port is taken, leaving the TCP port free again', async () => {
    const port = await freePort()
    const taken = dgram.createSocket('udp4')
    taken.bind(port, '127.0.0.1')
    await once(taken, 'listening')
    onTestFinished(() => void taken.close())
    const config = loadConfig({ TOPIC_LOGS_RAW: 'raw', HOST: '127.0.0.1', SYSLOG_TCP_PORT: String(port), SYSLOG_UDP_PORT: String(port) })
    await expect(startSyslog({ config, ingest: fakeIngest().ingest, log: captureLog().log, registry: createRegistry({ defaultMetrics: false }), tenantOf: tenantRule(config) })).rejects.toThrow(/EADDRINUSE/)
    const tcp = net.createServer().listen(port, '127.0.0.1')
    await once(tcp, 'listening')
    tcp.close()
  })

  it('listens on nothing when both ports are 0', async () => {
    const config = loadConfig({ TOPIC_LOGS_RAW: 'raw', SYSLOG_TCP_PORT: '0', SYSLOG_UDP_PORT: '0' })
    const l = await startSyslog({ config, ingest: fakeIngest().ingest, log: captureLog().log, registry: createRegistry({ defaultMetrics: false }), tenantOf: tenantRule(config) })
    expect(l.addresses).toEqual({})
    await l.close()
  })
})

const sendUdp = (client: dgram.Socket, m: string, port: number) => new Promise<void>((resolve, reject) => client.send(m, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())))

describe('syslog listeners: tenant, allowed sources, limits', () => {
  it('stores every record under SYSLOG_TENANT, whatever GATEWAY_DEFAULT_TENANT is', async () => {
    const fake = fakeIngest()
    const { port } = await listeners(fake.ingest, { GATEWAY_DEFAULT_TENANT: 'default', SYSLOG_TENANT: 'network' })
    const socket = await connect(port)
    socket.end(frame(1))
    await until('the record', () => fake.batches.length === 1)
    expect(fake.batches[0]!.defaults).toMatchObject({ tenant: 'network', source: 'syslog' })
  })

  it('closes a TCP connection and drops UDP datagrams from sources not in SYSLOG_ALLOWED_SOURCES, counted and audited', async () => {
    const fake = fakeIngest()
    const { l, port, lines, registry } = await listeners(fake.ingest, { SYSLOG_ALLOWED_SOURCES: '10.0.0.0/8, 192.168.1.7', SYSLOG_TENANT: 'network' })
    const socket = net.connect(port, '127.0.0.1')
    onTestFinished(() => void socket.destroy())
    socket.on('error', () => {})
    socket.write(frame(1))
    await once(socket, 'close')
    const client = dgram.createSocket('udp4')
    onTestFinished(() => void client.close())
    await sendUdp(client, '<13>1 - h app - - - udp', port)
    await until('two refusals', () => l.counts().dropped.source_not_allowed === 2)
    expect(fake.attempts).toEqual([])
    expect(l.counts().received).toEqual({ tcp: 1, udp: 1 })
    expect(await registry.metrics()).toContain('sluice_gateway_syslog_messages_dropped_total{reason="source_not_allowed"} 2')
    const audits = lines.filter((x) => x.msg === 'audit').map((x) => x.audit)
    expect(audits).toEqual([
      expect.objectContaining({ action: 'syslog.refused', outcome: 'refused', tenant: 'network', target: 'syslog tcp', remote: '127.0.0.1', reason: expect.stringContaining('SYSLOG_ALLOWED_SOURCES') }),
      expect.objectContaining({ action: 'syslog.refused', target: 'syslog udp', remote: '127.0.0.1' }),
    ])
  })

  it('takes messages from an allowed source', async () => {
    const fake = fakeIngest()
    const { l, port } = await listeners(fake.ingest, { SYSLOG_ALLOWED_SOURCES: '10.0.0.0/8,127.0.0.0/8' })
    const socket = await connect(port)
    socket.end(frame(1))
    const client = dgram.createSocket('udp4')
    onTestFinished(() => void client.close())
    await sendUdp(client, '<13>1 - h app - - - udp', port)
    await until('2 records', () => fake.messages().length === 2)
    expect(fake.messages().sort()).toEqual(['m1', 'udp'])
    expect(l.counts().dropped.source_not_allowed).toBe(0)
  })

  it('warns at start when SLUICE_AUTH=true and any source may send', async () => {
    const { lines } = await listeners(fakeIngest().ingest, {}, { auth: true })
    expect(lines.find((x) => x.level === 40 && String(x.msg).includes('SYSLOG_ALLOWED_SOURCES'))).toBeDefined()
    const allowed = await listeners(fakeIngest().ingest, { SYSLOG_ALLOWED_SOURCES: '127.0.0.1' }, { auth: true })
    expect(allowed.lines.find((x) => String(x.msg).includes('SYSLOG_ALLOWED_SOURCES'))).toBeUndefined()
  })

  it('holds a TCP batch over the tenant’s ingest limit and delivers it once the limit allows, nothing dropped', async () => {
    const fake = fakeIngest()
    const { l, port } = await listeners(fake.ingest)
    fake.failNext.push(new SluiceError('RATE_LIMITED', 'tenant default is over its ingest limit', { canRetry: true, retryAfterSeconds: 1 }))
    const socket = await connect(port)
    socket.write(frame(1) + frame(2))
    await until('the batch', () => fake.batches.length === 1)
    expect(fake.attempts).toHaveLength(2)
    expect(fake.messages()).toEqual(['m1', 'm2'])
    expect(l.counts().dropped).toMatchObject({ rate_limited: 0, kafka_failed: 0 })
  })

  it('drops and counts a UDP batch over the tenant’s ingest limit: a datagram sender cannot be held back', async () => {
    const fake = fakeIngest()
    const { l, port, registry } = await listeners(fake.ingest)
    fake.failNext.push(new SluiceError('RATE_LIMITED', 'tenant default is over its ingest limit', { canRetry: true, retryAfterSeconds: 1 }))
    const client = dgram.createSocket('udp4')
    onTestFinished(() => void client.close())
    await sendUdp(client, '<13>1 - h app - - - first', port)
    await until('the refused batch', () => l.counts().dropped.rate_limited === 1)
    await sendUdp(client, '<13>1 - h app - - - second', port)
    await until('the next batch', () => fake.batches.length === 1)
    expect(fake.messages()).toEqual(['second'])
    expect(fake.attempts).toHaveLength(2)
    expect(await registry.metrics()).toContain('sluice_gateway_syslog_messages_dropped_total{reason="rate_limited"} 1')
  })
})

describe('SYSLOG_ALLOWED_SOURCES', () => {
  it('matches addresses and CIDR ranges of both families, IPv4 ranges also as IPv4-mapped IPv6', () => {
    const list = new SourceAllowList(['10.0.0.0/8', '192.168.1.7', 'fd00::/8'])
    expect(['10.1.2.3', '::ffff:10.9.9.9', '192.168.1.7', 'fd12::1'].map((a) => list.allows(a))).toEqual([true, true, true, true])
    expect(['11.0.0.1', '192.168.1.8', 'fe80::1', '', undefined].map((a) => list.allows(a))).toEqual([false, false, false, false, false])
    expect(new SourceAllowList([]).allows('8.8.8.8')).toBe(true)
  })

  it('refuses at start what is not an address or range, naming it', () => {
    expect(sourceProblem('10.0.0.0/8')).toBeUndefined()
    expect(sourceProblem('10.0.0/8')).toMatch(/"10.0.0\/8" is not an IP address or CIDR range/)
    expect(sourceProblem('10.0.0.0/33')).toMatch(/prefix length must be 0-32/)
    expect(sourceProblem('::1/129')).toMatch(/0-128/)
    expect(() => loadConfig({ SYSLOG_ALLOWED_SOURCES: '10.0.0.0/8,example.com' })).toThrow(/SYSLOG_ALLOWED_SOURCES.*"example.com" is not an IP address/s)
    expect(() => loadConfig({ SYSLOG_TENANT: 'no spaces!' })).toThrow(/SYSLOG_TENANT/)
    expect(loadConfig({ GATEWAY_DEFAULT_TENANT: 'd' })).toMatchObject({ syslogTenant: 'd', syslogAllowedSources: [] })
  })
})

describe('syslog drop report', () => {
  it('logs the first drop of a reason at once and the rest as one line per reason', () => {
    const { log, lines } = captureLog()
    const report = new StreamReport(log, 60_000, createRegistry({ defaultMetrics: false }), { protocol: 'syslog', title: 'Syslog', unparsed: 'stored unparsed' })
    onTestFinished(() => report.close())
    for (let i = 0; i < 1000; i++) report.dropped('garbage', 1, `frame ${i}`)
    report.dropped('oversized', 3, 'big')
    expect(lines.map((x) => [x.reason, x.count])).toEqual([['garbage', 1], ['oversized', 3]])
    report.flush()
    expect(lines.slice(2)).toEqual([expect.objectContaining({ reason: 'garbage', count: 999, detail: 'frame 999' })])
    report.flush()
    expect(lines).toHaveLength(3)
    expect(report.counts().dropped).toMatchObject({ garbage: 1000, oversized: 3 })
  })
})
