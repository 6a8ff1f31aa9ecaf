// Syslog listeners: the devices, daemons and relays (rsyslog, syslog-ng, logger, network gear)
// that speak only syslog send to the gateway as to a syslog server, over TCP (SYSLOG_TCP_PORT) and
// UDP (SYSLOG_UDP_PORT), both on HOST; 0 switches a listener off. Each message — a TCP frame
// (syslog-framing.ts) or a UDP datagram — becomes a record (syslog-record.ts) and takes the accept
// path every protocol takes (ingest.ts), with source "syslog" and the tenant SYSLOG_TENANT
// (default GATEWAY_DEFAULT_TENANT: syslog carries no tenant, and no credentials).
//
// Who may send: SYSLOG_ALLOWED_SOURCES (syslog-sources.ts), addresses and CIDR ranges; empty lets
// anyone, which with SLUICE_AUTH=true is warned about at start. A connection from elsewhere is
// closed unread, a datagram dropped; both are counted (reason source_not_allowed) and audited (the
// audit log keeps a flood of refusals to a count).
//
// TCP keeps a connection's records in order and pushes back instead of buffering without bound:
// one batch at a time goes to Kafka, the next is what arrived meanwhile, and the socket is paused
// once MAX_QUEUED_BYTES wait, so a sender faster than Kafka is slowed by TCP flow control. Kafka refusing for now
// (OVERLOADED, KAFKA_UNAVAILABLE) and the tenant's ingest limit (RATE_LIMITED) are retried with the
// socket still paused. UDP cannot push back: datagrams queue while a batch is out, up to
// GATEWAY_MAX_BODY_BYTES, and past that are dropped, as is a batch over the tenant's ingest limit.
// Memory per connection is bounded by one frame (GATEWAY_MAX_RECORD_BYTES; a larger one is
// skipped) and two batches of about MAX_QUEUED_BYTES, connections by MAX_CONNECTIONS.
//
// Nothing is answered on the wire, so every drop is logged with its reason (syslog-report.ts).
// On close the listeners stop reading, deliver what they had read, then close the connections.
import { once } from 'node:events'
import dgram from 'node:dgram'
import net from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import { nowNs, uuidv7 } from '@sluice/core'
import type { ProtocolContext } from './protocol.js'
import { SyslogFramer, isBlank } from './syslog-framing.js'
import { SourceAllowList } from './syslog-sources.js'
import type { EventDefaults } from './ingest.js'
import { deliverRetrying } from './stream-delivery.js'
import type { Delivery } from './stream-delivery.js'
import { SYSLOG_SERVICE, frameText, syslogEvent, syslogRecord } from './syslog-record.js'
import type { SyslogRecord } from './syslog-record.js'
import { SyslogReport } from './syslog-report.js'
import type { SyslogCounts, SyslogTransport } from './syslog-report.js'

export interface SyslogListeners {
  /** Where each listener listens (host:port), for logs and tests. */
  addresses: { tcp?: string; udp?: string }
  /** Frames and datagrams received, records accepted, drops by reason, since start. */
  counts(): SyslogCounts
  close(): Promise<void>
}

/**
 * Bytes of frames a TCP connection reads ahead while its previous batch waits for Kafka; past
 * this it is paused. Bounds a connection's memory at about twice this (the batch out and the
 * next one), whatever the sender does.
 */
export const MAX_QUEUED_BYTES = 128 * 1024
/** TCP connections at once; more are closed unread (and logged). */
const MAX_CONNECTIONS = 1024
/** How often repeated drops are summed up in the log, one line per reason. */
const REPORT_INTERVAL_MS = 10_000
/** Characters of a record id (a UUIDv7 in its canonical form). */
const UUID_CHARS = 36
/** Characters of an unparsed message quoted in the log. */
const QUOTE_CHARS = 120

/** The start of a message, for a log line. */
const quote = (line: string): string => JSON.stringify(line.slice(0, QUOTE_CHARS))
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

function formatAddress(a: AddressInfo | string | null): string {
  if (a === null || typeof a === 'string') return String(a)
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`
}

export async function startSyslog(ctx: ProtocolContext): Promise<SyslogListeners> {
  const { config } = ctx
  const log = ctx.log.child({ component: 'syslog' })
  const report = new SyslogReport(log, REPORT_INTERVAL_MS, ctx.registry)
  const sources = new SourceAllowList(config.syslogAllowedSources)
  let closing = false

  /** Whether `address` may send; a refusal is counted, logged (summed up) and audited. */
  function allowed(transport: SyslogTransport, address: string | undefined, port: number | undefined): boolean {
    if (sources.allows(address)) return true
    report.received(transport)
    report.dropped('source_not_allowed', 1, `from ${transport} ${address}:${port}: not in SYSLOG_ALLOWED_SOURCES`)
    ctx.security?.audit.record({ action: 'syslog.refused', outcome: 'refused', tenant: config.syslogTenant, keyId: '', target: `syslog ${transport}`, reason: 'source not in SYSLOG_ALLOWED_SOURCES', remote: address ?? '' })
    return false
  }
  /** Batches on their way to Kafka (close waits for them). */
  const inFlight = new Set<Promise<void>>()

  const delivery: Delivery = {
    ingest: ctx.ingest,
    report,
    closing: () => closing,
    defaults: () => ({ tenant: config.syslogTenant, source: 'syslog', observedNs: nowNs() }),
  }
  /** Hands the records to Kafka (stream-delivery.ts); a UDP sender cannot be held back: what is over the limit is dropped. */
  const deliver = (count: number, build: (first: boolean, d: EventDefaults) => unknown[], from: string, transport: SyslogTransport): Promise<unknown> =>
    deliverRetrying(delivery, count, build, from, { holdOnLimit: transport === 'tcp' })

  /**
   * A frame or datagram as the record `id`, made into its LogEvent here where it can be
   * (syslogEvent); unparsed ones are noted on the `first` reading only. Frames wait for their batch
   * as bytes and become records only when the batch goes to Kafka: objects made earlier would live
   * through a Kafka round trip and cost the garbage collector far more than the bytes do.
   */
  function toRecord(line: string, from: string, nowMs: number, id: string, first: boolean, d: EventDefaults): unknown {
    let r: SyslogRecord
    try {
      r = syslogRecord(line, nowMs)
    } catch (err) {
      // A parser bug must not take the gateway down from inside a socket's data handler.
      if (first) log.error({ err, from }, `syslog: could not read ${quote(line)}; stored unparsed`)
      r = { record: { message: line, service: SYSLOG_SERVICE, attributes: { 'syslog.format': 'unparsed' } }, parsed: false }
    }
    if (!r.parsed && first) report.unparsed(`from ${from}: ${quote(line)}`)
    const event = syslogEvent(r.record, id, d)
    if (event) return event
    r.record.id = id
    return r.record
  }

  /**
   * Reads `messages` into records: new ids on the first reading, the same ones after. The ids wait
   * for a retry as one string (UUIDs are 36 characters), not as an object per record.
   */
  function reader<T>(messages: readonly T[], text: (m: T) => string, from: (m: T) => string): (first: boolean, d: EventDefaults) => unknown[] {
    const nowMs = Date.now()
    let ids = ''
    return (first, d) => {
      if (!first) return messages.map((m, i) => toRecord(text(m), from(m), nowMs, ids.slice(i * UUID_CHARS, (i + 1) * UUID_CHARS), false, d))
      const made = new Array<string>(messages.length)
      const records = messages.map((m, i) => toRecord(text(m), from(m), nowMs, (made[i] = uuidv7()), true, d))
      ids = made.join('')
      return records
    }
  }

  /**
   * A TCP batch's frames copied back to back into one buffer: it waits for Kafka (and a retry) as
   * two objects, not as a view per frame that the garbage collector would carry into its old space.
   */
  function packed(frames: readonly Uint8Array[]): { indexes: number[]; text: (i: number) => string } {
    let total = 0
    for (const f of frames) total += f.length
    const bytes = Buffer.allocUnsafeSlow(total)
    const ends = new Int32Array(frames.length)
    let pos = 0
    for (let i = 0; i < frames.length; i++) {
      bytes.set(frames[i]!, pos)
      ends[i] = pos += frames[i]!.length
    }
    return { indexes: Array.from(ends.keys()), text: (i) => frameText(bytes, i === 0 ? 0 : ends[i - 1], ends[i]) }
  }

  function track(p: Promise<void>): Promise<void> {
    inFlight.add(p)
    void p.finally(() => inFlight.delete(p))
    return p
  }

  // TCP ----------------------------------------------------------------------------------------
  const sockets = new Set<Socket>()

  function serve(socket: Socket): void {
    if (!allowed('tcp', socket.remoteAddress, socket.remotePort)) {
      socket.destroy()
      return
    }
    const from = `tcp ${socket.remoteAddress}:${socket.remotePort}`
    let queue: Uint8Array[] = []
    let queuedBytes = 0
    /** The chunk the last queued frame lies in: what a frame keeps alive is its whole chunk. */
    let lastChunk: ArrayBufferLike | undefined
    let draining = false
    let ended = false
    // Frames read from the chunk being framed: counted once per chunk (a labelled counter's
    // increment hashes its labels, which per frame cost ~0.2 µs a record).
    let framed = 0
    const counted = () => {
      if (framed > 0) report.received('tcp', framed)
      framed = 0
    }
    const framer = new SyslogFramer(config.maxRecordBytes, {
      frame: (bytes) => {
        framed++
        queue.push(bytes)
        if (bytes.buffer !== lastChunk) {
          lastChunk = bytes.buffer
          queuedBytes += bytes.buffer.byteLength
        }
      },
      refused: (reason, detail) => report.dropped(reason, 1, `from ${from}: ${detail}`),
    })
    // One batch at a time, in arrival order. The socket reads on while a batch is with Kafka, so
    // the next batch is what arrived meanwhile (as a producer's linger batches), and pauses once
    // MAX_QUEUED_BYTES wait behind it: a sender faster than Kafka is held by TCP flow control.
    const drain = async () => {
      await nextTurn()
      while (queue.length > 0) {
        // Copied out of the chunks they lie in, which are let go with the queue.
        const batch = packed(queue)
        queue = []
        queuedBytes = 0
        lastChunk = undefined
        if (socket.isPaused() && !ended && !closing) socket.resume()
        await deliver(batch.indexes.length, reader(batch.indexes, batch.text, () => from), from, 'tcp')
      }
      draining = false
    }
    const kick = () => {
      if (draining || queue.length === 0) return
      draining = true
      void track(drain())
    }
    sockets.add(socket)
    socket.on('data', (chunk: Buffer) => {
      framer.push(chunk)
      counted()
      if (queuedBytes >= MAX_QUEUED_BYTES) socket.pause()
      kick()
    })
    socket.on('end', () => {
      ended = true
      framer.end()
      counted()
      kick()
    })
    // A reset or timeout from the peer: what was read is still delivered.
    socket.on('error', (err) => log.debug({ err, from }, 'syslog connection error'))
    socket.on('close', () => sockets.delete(socket))
  }

  async function listenTcp(port: number): Promise<net.Server> {
    const server = net.createServer(serve)
    server.maxConnections = MAX_CONNECTIONS
    server.on('drop', (d) => report.dropped('too_many_connections', 1, `from tcp ${d?.remoteAddress}:${d?.remotePort}: ${MAX_CONNECTIONS} connections open`))
    server.listen(port, config.host)
    await once(server, 'listening')
    server.on('error', (err) => log.error({ err }, 'syslog TCP listener error'))
    return server
  }

  // UDP ----------------------------------------------------------------------------------------
  let udpQueue: Array<{ msg: Buffer; from: string }> = []
  let udpQueuedBytes = 0
  let udpDraining = false
  const drainUdp = async () => {
    await nextTurn()
    while (udpQueue.length > 0) {
      const datagrams = udpQueue
      udpQueue = []
      udpQueuedBytes = 0
      await deliver(datagrams.length, reader(datagrams, (d) => frameText(d.msg), (d) => d.from), 'udp', 'udp')
    }
    udpDraining = false
  }

  async function listenUdp(socket: dgram.Socket, port: number): Promise<void> {
    socket.on('message', (msg, rinfo) => {
      if (closing || !allowed('udp', rinfo.address, rinfo.port)) return
      // Empty or only NULs and white space (keep-alives, padding): no message, not a record, as
      // such bytes between TCP frames are skipped.
      if (isBlank(msg)) return
      const from = `udp ${rinfo.address}:${rinfo.port}`
      if (udpQueuedBytes + msg.length > config.maxBodyBytes) {
        report.received('udp')
        report.dropped('queue_full', 1, `from ${from}: ${udpQueuedBytes} bytes already waiting for Kafka`)
        return
      }
      report.received('udp')
      udpQueue.push({ msg, from })
      udpQueuedBytes += msg.length
      if (udpDraining) return
      udpDraining = true
      void track(drainUdp())
    })
    socket.bind(port, config.host)
    await once(socket, 'listening')
    socket.on('error', (err) => log.error({ err }, 'syslog UDP listener error'))
  }

  let tcp: net.Server | undefined
  let udp: dgram.Socket | undefined
  try {
    if (config.syslogTcpPort !== 0) tcp = await listenTcp(config.syslogTcpPort)
    if (config.syslogUdpPort !== 0) {
      udp = dgram.createSocket(net.isIPv6(config.host) ? 'udp6' : 'udp4')
      await listenUdp(udp, config.syslogUdpPort)
    }
  } catch (err) {
    // A port in use fails the gateway's start, with nothing left listening.
    tcp?.close()
    udp?.close()
    report.close()
    throw err
  }

  const addresses = {
    ...(tcp && { tcp: formatAddress(tcp.address()) }),
    ...(udp && { udp: formatAddress(udp.address()) }),
  }
  if (tcp || udp) log.info({ addresses, tenant: config.syslogTenant }, `syslog listening on ${[addresses.tcp && `tcp ${addresses.tcp}`, addresses.udp && `udp ${addresses.udp}`].filter(Boolean).join(', ')}`)
  if ((tcp || udp) && sources.any && ctx.security?.auth.enabled) {
    log.warn({ tenant: config.syslogTenant }, `SLUICE_AUTH=true but syslog takes messages from any source as tenant ${config.syslogTenant}: set SYSLOG_ALLOWED_SOURCES to the senders' addresses, or switch the listeners off (SYSLOG_TCP_PORT=0, SYSLOG_UDP_PORT=0)`)
  }

  async function close(): Promise<void> {
    closing = true
    const stopped = new Promise<void>((resolve) => (tcp ? tcp.close(() => resolve()) : resolve()))
    for (const s of sockets) s.pause()
    udp?.close()
    // What was read is delivered (retries give up now: a retryable failure is a 'shutdown' drop).
    while (inFlight.size > 0) await Promise.all(inFlight)
    for (const s of sockets) s.destroy()
    await stopped
    report.close()
  }
  let closed: Promise<void> | undefined
  return {
    addresses,
    counts: () => report.counts(),
    close: () => (closed ??= close()),
  }
}
